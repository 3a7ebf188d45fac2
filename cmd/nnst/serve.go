package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"nnst/core/site"
)

var sv struct{ addr, dir string }

func serveFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&sv.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	fs.StringVar(&sv.dir, "dir", "dist", "folder to serve: a bundle from nnst dist, or any site folder")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst serve [--addr 127.0.0.1:8080] [--dir dist]\n\nServes the web app with the headers of the hosted site: MIME types,\nprecompressed copies by Accept-Encoding, ETags, ranges, caching and security\nheaders. Ctrl-C stops it.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runServe(args []string) error {
	fs := serveFlags()
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if _, port, err := net.SplitHostPort(sv.addr); err != nil {
		return usageError{"--addr: " + err.Error()}
	} else if p, err := strconv.Atoi(port); err == nil && (p < 0 || p > 65535) {
		return usageError{fmt.Sprintf("--addr: the port must be between 0 and 65535, got %d", p)}
	}
	root, err := os.OpenRoot(sv.dir)
	if err != nil {
		return fmt.Errorf("%w (run `make dist` first, or pass --dir)", err)
	}
	defer root.Close()
	h, err := site.New(root.FS())
	if err != nil {
		return err
	}
	if !h.Has("index.html") {
		return fmt.Errorf("%s has no index.html", sv.dir)
	}
	ln, err := net.Listen("tcp", sv.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: h,
		// The handler answers 431 past site.MaxHeaderBytes, with the same
		// headers as every answer; this is the hard cap of the server.
		MaxHeaderBytes:    4 * site.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("serving %s at %s\n", sv.dir, listenURL(ln.Addr()))
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	fmt.Println("stopped")
	return err
}

func listenURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
