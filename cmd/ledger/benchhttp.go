package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/loadgen"
	"ledger/internal/pgresolve"
)

func newBenchHTTPCmd() *cobra.Command {
	cfg := loadgen.Config{}
	var mix string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "http",
		Short: "Load a running server over HTTP with concurrent clients and report throughput, latency and projection lag",
		Long: `Load a running server over HTTP: each client creates subscriptions, amends
its own subscriptions (amend) or one subscription every client amends (hot),
records usage and reads its own writes, in the proportions of --mix. Setup
(a product, accounts, each client's subscriptions, the hot one) is not
measured, nor is the warmup. Progress goes to stderr;
the summary to stdout, as JSON with --json.

Without --key, a tenant is created through the command layer in the database
of --database-url / LEDGER_DATABASE_URL, which must be the server's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prepareBenchHTTP(cmd, &cfg, mix); err != nil {
				return err
			}
			summary, err := loadgen.Run(cmd.Context(), cfg)
			if summary != nil {
				if werr := writeSummary(cmd, summary, asJSON); werr != nil {
					return errors.Join(err, werr)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URL, "url", loadgen.DefaultURL, "base URL of the running server")
	f.IntVar(&cfg.Clients, "clients", loadgen.DefaultClients, "concurrent clients, one request in flight each")
	f.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "how long the measured run lasts")
	f.Int64Var(&cfg.Requests, "requests", 0, "make this many measured requests instead of running for --duration")
	f.StringVar(&mix, "mix", loadgen.DefaultMix.String(), "weights of the operations create, amend, hot, usage and read")
	f.IntVar(&cfg.Accounts, "accounts", loadgen.DefaultAccounts, "customer accounts created at setup")
	f.IntVar(&cfg.Pool, "subscriptions", loadgen.DefaultPool, "subscriptions created at setup for each client to amend")
	f.DurationVar(&cfg.Warmup, "warmup", loadgen.DefaultWarmup, "unmeasured load before the measured run")
	f.DurationVar(&cfg.Timeout, "timeout", loadgen.DefaultTimeout, "time limit of each request")
	f.StringVar(&cfg.Key, "key", "", "a tenant admin's API key (default: create a tenant through the database)")
	f.StringVar(&cfg.TenantID, "tenant", "", "the tenant id of --key")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	config.AddFlags(f, config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

// prepareBenchHTTP checks the flags, completes cfg, and creates a tenant
// when no key was given.
func prepareBenchHTTP(cmd *cobra.Command, cfg *loadgen.Config, mix string) error {
	m, err := loadgen.ParseMix(mix)
	if err != nil {
		return err
	}
	cfg.Mix = m
	f := cmd.Flags()
	if f.Changed("duration") && f.Changed("requests") {
		return errors.New("give --duration or --requests, not both")
	}
	if (cfg.Key == "") != (cfg.TenantID == "") {
		return errors.New("give --key and --tenant together, or neither to create a tenant")
	}
	cfg.Progress, cfg.Terminal = os.Stderr, isTerminal(os.Stderr)
	if cfg.Key != "" {
		return nil
	}
	return withStore(cmd, func(ctx context.Context, _ *pgresolve.DB, store *postgres.Store) error {
		b, err := commands.New(store).CreateTenant(ctx, commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}},
			commands.CreateTenant{Name: "Bench " + time.Now().UTC().Format(time.DateTime)})
		if err != nil {
			return fmt.Errorf("create bench tenant: %w", err)
		}
		cfg.Key, cfg.TenantID = b.AdminKey, b.ID.String()
		fmt.Fprintf(os.Stderr, "created tenant %s for the load\n", b.ID)
		return nil
	})
}

func writeSummary(cmd *cobra.Command, s *loadgen.Summary, asJSON bool) error {
	if asJSON {
		return s.WriteJSON(cmd.OutOrStdout())
	}
	return s.WriteText(cmd.OutOrStdout())
}

// isTerminal reports whether f is a terminal, where progress can rewrite
// its line.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
