package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

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
	cmd.AddCommand(newSeedCmd(), newCeilingCmd(), newBenchHTTPCmd(), newBenchReadsCmd())
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
	var keys string
	shape := seed.DefaultShape
	cmd := &cobra.Command{
		Use:   "seed --events N [--tenants T --accounts A --partners P --keys FILE]",
		Short: "Write a realistic event log of about N events: many tenants of skewed sizes over years of history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events < 1 {
				return fmt.Errorf("invalid --events %d: must be at least 1", events)
			}
			scaleShape(cmd, &shape, events)
			if err := shape.Validate(); err != nil {
				return fmt.Errorf("invalid shape: %w", err)
			}
			return withStore(cmd, func(ctx context.Context, _ *pgresolve.DB, store *postgres.Store) error {
				bar := newProgressBar(os.Stderr, "seed", "events")
				start := time.Now()
				res, err := seed.Run(ctx, store, events, shape, bar.update)
				bar.finish()
				if keys != "" && len(res.Keys.TenantAdmins) > 0 {
					err = errors.Join(err, seed.WriteKeys(keys, res.Keys))
				}
				if err != nil {
					return err
				}
				printSeeded(cmd.OutOrStdout(), res, time.Since(start), keys)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&events, "events", 10_000, "how many events to write, about")
	cmd.Flags().IntVar(&shape.Tenants, "tenants", shape.Tenants, "how many tenants (default: 1 per 100 accounts, at most 1000)")
	cmd.Flags().IntVar(&shape.Accounts, "accounts", shape.Accounts, "accounts over all tenants, Zipf-distributed (default: 1 per 100 events, at most 100000)")
	cmd.Flags().IntVar(&shape.SubscriptionsPerAcct, "subscriptions", shape.SubscriptionsPerAcct, "subscriptions an account opens with")
	cmd.Flags().IntVar(&shape.Partners, "partners", shape.Partners, "partners, each granted on 1 to 10 tenants (default: 3 per 10 tenants)")
	cmd.Flags().IntVar(&shape.Years, "years", shape.Years, "years of simulated history, ending now")
	cmd.Flags().IntVar(&shape.Workers, "workers", shape.Workers, "tenants written at once")
	cmd.Flags().StringVar(&keys, "keys", "", "write a JSON file (mode 0600) with an API key of every tenant admin and partner user")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

// scaleShape sizes what the flags left unset to the events asked: one
// account per 100 events (at most the default 100,000), one tenant per 100
// accounts (at most 1,000), three partners per ten tenants (at least one).
func scaleShape(cmd *cobra.Command, shape *seed.Shape, events int) {
	set := cmd.Flags().Changed
	if !set("accounts") {
		shape.Accounts = min(seed.DefaultShape.Accounts, max(events/100, 1, shape.Tenants))
	}
	if !set("tenants") {
		shape.Tenants = min(seed.DefaultShape.Tenants, max(shape.Accounts/100, 1))
	}
	if !set("partners") {
		shape.Partners = max(shape.Tenants*3/10, 1)
	}
}

// printSeeded prints what the seed wrote, and up to ten of the largest
// tenants, one a line ("tenant ID"), the largest first.
func printSeeded(w io.Writer, res seed.Result, took time.Duration, keys string) {
	fmt.Fprintf(w, "seeded %d events in %s (%.0f events/s), %d of them set-based\n",
		res.Events, took.Round(time.Millisecond), float64(res.Events)/max(took.Seconds(), 1e-9), res.Bypassed)
	largest := seed.TenantSummary{}
	if len(res.Tenants) > 0 {
		largest = res.Tenants[0]
	}
	fmt.Fprintf(w, "shape: %d tenants, %d accounts, %d partners, %d subscriptions; largest tenant %d events (%d accounts); occurred_at %s..%s\n",
		len(res.Tenants), res.Accounts, res.Partners, res.Subscriptions, largest.Events, largest.Accounts,
		res.From.Format(time.DateOnly), res.To.Format(time.DateOnly))
	if keys != "" {
		fmt.Fprintf(w, "keys: %d tenant admins, %d partner users in %s\n", len(res.Keys.TenantAdmins), len(res.Keys.PartnerUsers), keys)
	}
	for _, t := range res.Tenants[:min(len(res.Tenants), 10)] {
		fmt.Fprintf(w, "tenant %s\n", t.ID)
	}
}
