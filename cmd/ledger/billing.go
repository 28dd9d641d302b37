package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
	"ledger/projections"
)

func newBillingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "billing", Short: "Bill a tenant's accounts"}
	cmd.AddCommand(newBillingRunCmd())
	return cmd
}

// newBillingRunCmd returns "ledger billing run": a bill run as the
// platform operator, for cron.
func newBillingRunCmd() *cobra.Command {
	var tenant, target string
	var accounts []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run --tenant ID --target-date YYYY-MM-DD [--account ID ...] [--json]",
		Short: "Invoice a tenant's accounts for everything due up to and including a date",
		Long: `Runs a bill run as the platform operator: every account of the tenant (or
those named) gets one invoice with every line due up to and including the
target date that no earlier invoice holds. Running it again for the same
date bills nothing new. Progress goes to stderr; the run, as the API's
POST /v1/tenants/{t}/bill-runs answers it, to stdout.

The read models find the accounts and their subscriptions: this command
keeps them up to date itself while it runs, alongside any ledger serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, run, err := billingRunArgs(tenant, target, accounts)
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, store *postgres.Store) error {
				out, err := billingRun(ctx, db, store, req, run)
				if err != nil {
					return fmt.Errorf("bill run: %w", err)
				}
				return writeBillRun(cmd.OutOrStdout(), out, asJSON)
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant's id (required)")
	cmd.Flags().StringVar(&target, "target-date", "", "bill everything due up to and including this date, YYYY-MM-DD (required)")
	cmd.Flags().StringSliceVar(&accounts, "account", nil, "bill only this account (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the bill run as JSON")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

func billingRunArgs(tenant, target string, accounts []string) (commands.Request, commands.RunBill, error) {
	req := operatorRequest()
	var run commands.RunBill
	var err error
	if req.TenantID, err = uuid.Parse(tenant); err != nil {
		return req, run, errors.New("--tenant is required: the tenant's id")
	}
	if target == "" {
		return req, run, errors.New("--target-date is required: YYYY-MM-DD")
	}
	if run.TargetDate, err = domain.ParseDate("--target-date", target); err != nil {
		return req, run, err
	}
	for _, a := range accounts {
		id, err := uuid.Parse(a)
		if err != nil {
			return req, run, fmt.Errorf("--account %q is not an id", a)
		}
		run.AccountIDs = append(run.AccountIDs, id)
	}
	return req, run, nil
}

// billingRun runs a bill run with the read models kept up to date in this
// process for as long as it takes.
func billingRun(ctx context.Context, db *pgresolve.DB, store *postgres.Store, req commands.Request, run commands.RunBill) (*domain.BillRun, error) {
	if err := projections.Setup(ctx, db.Pool, projections.All()); err != nil {
		return nil, fmt.Errorf("set up the read models: %w", err)
	}
	logger := slog.New(slog.DiscardHandler)
	stop := startBackground(ctx, logger, map[string]func(context.Context) error{
		"projections": projections.NewRunner(db.Pool, store, logger, projections.All()...).Run,
	})
	defer func() { _ = stop() }()
	index := projections.BillingIndex{Pool: db.Pool, Waiter: projections.NewWaiter(db.Pool, store.Head), SyncTimeout: 10 * time.Minute}
	cmds := commands.New(store, commands.WithBillingIndex(index), commands.WithSnapshotStore(store.Snapshots()))
	defer cmds.FlushRefusals()
	bar := newProgressBar(os.Stderr, "bill run", "accounts")
	defer bar.finish()
	out, err := cmds.RunBill(ctx, req, run, func(done, total int) { bar.update(int64(done), int64(total)) })
	if err != nil {
		return nil, err
	}
	// The read models show the run's invoices before this returns.
	if err := index.Sync(ctx); err != nil {
		return nil, err
	}
	return out.State, nil
}

// writeBillRun prints r: as JSON, or a line per invoice and one per
// currency's total.
func writeBillRun(w io.Writer, r *domain.BillRun, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(projections.BillRunViewOf(r, r.Version))
	}
	fmt.Fprintf(w, "bill run %s for %s: %d invoices\n", r.ID, r.TargetDate, len(r.Invoices))
	for _, inv := range r.Invoices {
		fmt.Fprintf(w, "  %s  account %s  %s %s\n", inv.Number, inv.AccountID, inv.Currency.Present(inv.Total), inv.Currency)
	}
	for _, t := range r.Totals {
		fmt.Fprintf(w, "total %s %s\n", t.Currency.Present(t.Total), t.Currency)
	}
	return nil
}
