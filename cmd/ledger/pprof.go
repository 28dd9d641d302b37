//go:build pprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the profiling handlers, in builds tagged pprof only
	"os"
)

// A build tagged pprof serves net/http/pprof's handlers on
// LEDGER_PPROF_ADDR (e.g. 127.0.0.1:6060), for profiling the server under
// load: go build -tags pprof ./cmd/ledger.
func init() {
	addr := os.Getenv("LEDGER_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof listener stopped", "addr", addr, "error", err)
		}
	}()
}
