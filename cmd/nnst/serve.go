package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"nnst/core/site"
)

var sv struct{ addr, dir string }

func serveFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&sv.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	fs.StringVar(&sv.dir, "dir", "dist", "folder to serve: a bundle from nnst dist, or any site folder")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst serve [--addr 127.0.0.1:8080] [--dir dist]\n\nServes the web app with the headers of the hosted site: MIME types,\nprecompressed copies by Accept-Encoding, ETags, ranges, caching and security\nheaders. A bundle's files must match its file list. Ctrl-C stops it, waiting\na few seconds for downloads in progress.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runServe(args []string) error {
	if err := parseArgs(serveFlags(), args); err != nil {
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
	fsys := root.FS()
	m, err := site.LoadManifest(fsys)
	if err != nil {
		return err
	}
	if _, err := fs.Stat(fsys, site.ManifestName); err == nil {
		// A bundle: its files must still be those nnst dist wrote.
		if err := site.Verify(fsys, m); err != nil {
			return fmt.Errorf("%s: %w", sv.dir, err)
		}
	}
	lg := log.New(os.Stderr, "nnst serve: ", log.LstdFlags)
	h := site.NewWithManifest(site.SizeChecked(fsys, m), m)
	h.ErrorLog = lg
	if !h.Has("index.html") {
		return fmt.Errorf("%s has no index.html", sv.dir)
	}
	ln, err := net.Listen("tcp", sv.addr)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	fmt.Printf("serving %s at %s\n", sv.dir, listenURL(ln.Addr()))
	return newServer(h, lg).serve(ln, sig, os.Stdout)
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
