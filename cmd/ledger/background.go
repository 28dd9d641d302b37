package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// startBackground runs each job until ctx ends or the returned stop is
// called; stop cancels them, waits, and returns their errors. A job that
// fails on its own is logged; the server goes on serving.
func startBackground(ctx context.Context, logger *slog.Logger, jobs map[string]func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, 0, len(jobs))
	var mu sync.Mutex
	for name, run := range jobs {
		wg.Go(func() {
			err := run(ctx)
			if err == nil || errors.Is(err, context.Canceled) {
				return
			}
			if ctx.Err() == nil {
				logger.Error("background job failed", "job", name, "error", err)
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			mu.Unlock()
		})
	}
	return func() error {
		cancel()
		wg.Wait()
		return errors.Join(errs...)
	}
}
