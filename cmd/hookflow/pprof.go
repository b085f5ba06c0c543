package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofAddrEnv names the variable that turns on the profiling listener.
const pprofAddrEnv = "HOOKFLOW_PPROF_ADDR"

// startPprof serves net/http/pprof on addr, in any hookflow process, so that
// `go tool pprof http://<addr>/debug/pprof/profile` can explain where the CPU
// goes under load (the benchmark's --profile uses it). Empty addr: off. Only
// loopback addresses are accepted: profiles expose memory contents and
// command lines, and a profile request costs CPU, so this is never for a
// network. It returns a function that stops the listener.
func startPprof(addr string, stderr io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", pprofAddrEnv, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s=%q: the profiling listener is loopback only (127.0.0.1 or ::1)", pprofAddrEnv, addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofAddrEnv, err)
	}
	// An own mux: the package's handlers on http.DefaultServeMux are never
	// served.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "hookflow: pprof listener: %v\n", err)
		}
	}()
	fmt.Fprintf(stderr, "hookflow: pprof on http://%s/debug/pprof/\n", l.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
