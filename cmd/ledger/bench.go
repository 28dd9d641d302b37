package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"ledger/commands"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
	"ledger/internal/seed"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Tools for benchmarks: seed a realistic event log",
	}
	cmd.AddCommand(newSeedCmd())
	return cmd
}

func newSeedCmd() *cobra.Command {
	var events int
	cmd := &cobra.Command{
		Use:   "seed --events N",
		Short: "Write a realistic event log of about N events through the command layer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events < 1 {
				return fmt.Errorf("invalid --events %d: must be at least 1", events)
			}
			return withStore(cmd, func(ctx context.Context, _ *pgresolve.DB, store *postgres.Store) error {
				bar := newProgressBar(os.Stderr, "seed")
				start := time.Now()
				n, err := seed.Run(ctx, commands.New(store), events, seed.DefaultShape, bar.update)
				bar.finish()
				if err != nil {
					return err
				}
				elapsed := time.Since(start)
				fmt.Fprintf(cmd.OutOrStdout(), "seeded %d events in %s (%.0f events/s)\n",
					n, elapsed.Round(time.Millisecond), float64(n)/max(elapsed.Seconds(), 1e-9))
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&events, "events", 10_000, "how many events to write, about")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}
