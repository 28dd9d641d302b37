package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"ledger/commands"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
	"ledger/internal/seed"
	"ledger/projections"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Tools for benchmarks: seed a realistic event log, measure ceilings, load the HTTP API",
	}
	cmd.AddCommand(newSeedCmd(), newCeilingCmd(), newBenchHTTPCmd())
	return cmd
}

func newCeilingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ceiling",
		Short: "Measure the set-based SQL ceiling of the audit rebuild: one INSERT … SELECT of the same rows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, _ *postgres.Store) error {
				rows, took, err := projections.AuditCeiling(ctx, db.Pool)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "audit: INSERT … SELECT of %d rows in %s (%.0f rows/s)\n",
					rows, took.Round(time.Millisecond), float64(rows)/max(took.Seconds(), 1e-9))
				return nil
			})
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

func newSeedCmd() *cobra.Command {
	var events int
	shape := seed.DefaultShape
	cmd := &cobra.Command{
		Use:   "seed --events N",
		Short: "Write a realistic event log of about N events through the command layer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events < 1 {
				return fmt.Errorf("invalid --events %d: must be at least 1", events)
			}
			if shape.Tenants < 1 || shape.AccountsPerTenant < 1 || shape.SubscriptionsPerAcct < 1 || shape.PartnersPerTenant < 0 {
				return errors.New("--tenants, --accounts and --subscriptions must be at least 1, --partners at least 0")
			}
			return withStore(cmd, func(ctx context.Context, _ *pgresolve.DB, store *postgres.Store) error {
				bar := newProgressBar(os.Stderr, "seed", "events")
				start := time.Now()
				res, err := seed.Run(ctx, commands.New(store), events, shape, bar.update)
				bar.finish()
				if err != nil {
					return err
				}
				elapsed := time.Since(start)
				fmt.Fprintf(cmd.OutOrStdout(), "seeded %d events in %s (%.0f events/s)\n",
					res.Events, elapsed.Round(time.Millisecond), float64(res.Events)/max(elapsed.Seconds(), 1e-9))
				for _, t := range res.Tenants {
					fmt.Fprintf(cmd.OutOrStdout(), "tenant %s\n", t)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&events, "events", 10_000, "how many events to write, about")
	cmd.Flags().IntVar(&shape.Tenants, "tenants", shape.Tenants, "how many tenants")
	cmd.Flags().IntVar(&shape.AccountsPerTenant, "accounts", shape.AccountsPerTenant, "accounts per tenant")
	cmd.Flags().IntVar(&shape.SubscriptionsPerAcct, "subscriptions", shape.SubscriptionsPerAcct, "subscriptions per account to begin with")
	cmd.Flags().IntVar(&shape.PartnersPerTenant, "partners", shape.PartnersPerTenant, "partners per tenant")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}
