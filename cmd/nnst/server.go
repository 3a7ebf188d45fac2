package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"nnst/core/site"
)

// Limits of nnst serve.
const (
	// stallTimeout bounds each write of up to writeChunk bytes (like nginx's
	// send_timeout): a client that stops reading is cut off, one that reads
	// at 1 KB/s or more gets the whole model.
	stallTimeout = 30 * time.Second
	writeChunk   = 32 << 10
	// bodyTimeout bounds reading a request body that nobody wants (net/http
	// reads up to 256 KB of it after the answer, to reuse the connection).
	bodyTimeout = 10 * time.Second
	// shutdownWait is how long a stop waits for answers in progress.
	shutdownWait = 5 * time.Second
)

// server is nnst serve's http.Server. Its connections (see conn) bound
// every write and add the security headers to the answers net/http writes
// without the handler.
type server struct {
	http.Server
	log               *log.Logger
	stall, body, wait time.Duration // the limits above; tests shorten them
	busy              atomic.Int64  // answers in progress
}

type connKey struct{}

func newServer(h http.Handler, lg *log.Logger) *server {
	s := &server{log: lg, stall: stallTimeout, body: bodyTimeout, wait: shutdownWait}
	s.Server = http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, ok := r.Context().Value(connKey{}).(*conn); ok && !c.handled.Swap(true) {
				s.busy.Add(1)
			}
			if r.ContentLength != 0 {
				http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.body))
			}
			h.ServeHTTP(w, r)
		}),
		// The handler answers 431 past site.MaxHeaderBytes, with the same
		// headers as every answer; this is the hard cap of the server.
		MaxHeaderBytes:    4 * site.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          lg,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		// A request is answered once its bytes are flushed: then the
		// connection goes idle or closes.
		ConnState: func(nc net.Conn, st http.ConnState) {
			if c, ok := nc.(*conn); ok && (st == http.StateIdle || st == http.StateClosed) && c.handled.Swap(false) {
				s.busy.Add(-1)
			}
		},
	}
	return s
}

// serve runs the server on ln until a signal comes, then stops: it waits up
// to shutdownWait for the answers in progress and cuts off the rest. A
// second signal stops at once.
func (s *server) serve(ln net.Listener, sig <-chan os.Signal, out io.Writer) error {
	done := make(chan error, 1)
	go func() { done <- s.Serve(listener{ln, s}) }()
	select {
	case err := <-done:
		return err
	case <-sig:
	}
	if n := s.busy.Load(); n > 0 {
		fmt.Fprintf(out, "stopping: waiting up to %s for %s in progress (Ctrl-C again to stop now)\n", s.wait, plural(n, "answer"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.wait)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.Shutdown(ctx); err != nil {
		n := s.busy.Load()
		s.Close()
		fmt.Fprintf(out, "stopped, cutting off %s still in progress\n", plural(n, "answer"))
		return nil
	}
	fmt.Fprintln(out, "stopped")
	return nil
}

type listener struct {
	net.Listener
	s *server
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, s: l.s}, nil
}

// conn is an accepted connection. Each write of writeChunk bytes must be
// done within stallTimeout. Bytes written while no handler is answering are
// net/http's own answers to requests it refuses (400, 431, 501, 505, 417:
// one status line and fixed headers); they get the security headers and
// Cache-Control the handler puts on its own errors.
type conn struct {
	net.Conn
	s       *server
	handled atomic.Bool // the handler has answered the current request
}

func (c *conn) Write(p []byte) (int, error) {
	if !c.handled.Load() && bytes.HasPrefix(p, []byte("HTTP/1.")) {
		if i := bytes.Index(p, []byte("\r\n")); i > 0 {
			q := append(p[:i+2:i+2], ownHeaders...)
			if _, err := c.write(append(q, p[i+2:]...)); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.write(p)
}

func (c *conn) write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c.Conn.SetWriteDeadline(time.Now().Add(c.s.stall))
		m, err := c.Conn.Write(p[n:min(len(p), n+writeChunk)])
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.s.log.Printf("%s stopped reading: closing the connection after %s without progress", c.RemoteAddr(), c.s.stall)
			}
			return n, err
		}
	}
	return n, nil
}

// CloseWrite lets net/http half-close after a 431, as on a bare TCP conn.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func plural(n int64, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// ownHeaders are the header lines added to net/http's own answers.
var ownHeaders = func() []byte {
	var b bytes.Buffer
	for _, kv := range site.SecurityHeaders {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "Cache-Control: %s\r\n", site.CacheNoCache)
	return b.Bytes()
}()
