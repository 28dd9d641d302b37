package main

import (
	"context"
	"log/slog"
	"time"

	"ledger/commands"
	"ledger/domain"
)

// termScheduler returns the job of `ledger serve` that records, as the
// system, the renewals and ends of terms that have come due: at start,
// which catches up after downtime, and then every interval. Every replica
// runs it; each term end is recorded once, since each is decided on the
// subscription's stream and appended only if the stream did not move.
func termScheduler(cmds *commands.Service, interval time.Duration, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			n, err := cmds.RecordDueTermEnds(ctx, domain.DateOf(time.Now()))
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				logger.Warn("record term ends", "error", err)
			case n > 0:
				logger.Info("recorded term ends", "events", n)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}
