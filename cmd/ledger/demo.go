package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
)

// demoPortalPath is where "ledger serve" serves the partner portal (issue
// 15); the demo prints its URL beside the keys. Empty prints none.
const demoPortalPath = "/portal/"

// demoLockID is the advisory lock a running "ledger demo" holds, so that
// two demos started at once on one database cannot both find it empty.
const demoLockID int64 = 0x6c65646765726d6f // "ledgermo"

// demoOutput is what "ledger demo" prints: the world it made, and for
// each role a key and a first request to try.
type demoOutput struct {
	Tenant    demoRef    `json:"tenant"`
	Partner   demoRef    `json:"partner"`
	BaseURL   string     `json:"base_url"`
	PortalURL string     `json:"portal_url,omitempty"`
	World     demoCounts `json:"world"`
	Billing   string     `json:"billing"`
	Roles     []demoRole `json:"roles"`
}

// demoRef names a tenant or a partner.
type demoRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// demoRole is one role's user, its key and the first request to try.
type demoRole struct {
	Role   string `json:"role"`
	User   string `json:"user"`
	Key    string `json:"key"`
	Why    string `json:"why"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Curl   string `json:"curl"`
}

// newDemoCmd returns "ledger demo": a small, believable world on an empty
// database, and a key per role to explore it with.
func newDemoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "demo [--json]",
		Short: "Create a small demo world on an empty database and print a key per role",
		Long: `Creates, on an empty database and through the command layer (every event
validated and authorized as a request would be), the tenant "` + demoTenantName + `"
with a catalog, thirty accounts in EUR and USD and about forty
subscriptions; three partners with different grants and scopes; a month
of amendments and usage, a cancellation, a narrowed grant, a revoked
partner and a bill run for the first of this month. It prints, for each
role, a user's API key (shown this once) and a first request to try
against "ledger serve" at --http-addr.

It runs once per database: on a database that holds any event (such as
its own world) it refuses, changes nothing and exits 1. To start over,
point it at a fresh, empty database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.LookupEnv)
			if err != nil {
				return err
			}
			base := demoBaseURL(cfg.HTTPAddr)
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, store *postgres.Store) error {
				out, err := runDemo(ctx, cmd.ErrOrStderr(), db, store, base)
				if err != nil {
					return err
				}
				return writeDemo(cmd.OutOrStdout(), out, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the world, the keys and the requests as one JSON object")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel, config.HTTPAddr)
	return cmd
}

// demoBaseURL is the URL a browser or curl on this machine reaches a
// server listening on addr at.
func demoBaseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// runDemo builds the world once the database is found empty, holding the
// demo's lock throughout, and bills it.
func runDemo(ctx context.Context, progress io.Writer, db *pgresolve.DB, store *postgres.Store, base string) (demoOutput, error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return demoOutput{}, fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	if err := demoClaim(ctx, conn); err != nil {
		return demoOutput{}, err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", demoLockID) }()
	now := time.Now().UTC()
	w := &demoWorld{svc: commands.New(store), op: operatorRequest(), now: now, today: domain.DateOf(now),
		log: func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }}
	if err := w.build(ctx); err != nil {
		return demoOutput{}, fmt.Errorf("demo: %w (the database now holds part of a demo world: start over on a fresh database)", err)
	}
	billing, err := w.bill(ctx, db, store)
	if err != nil {
		return demoOutput{}, fmt.Errorf("demo: bill run: %w", err)
	}
	return w.output(base, billing), nil
}

// demoClaim takes the demo's lock on conn and checks that the event log is
// empty; else it refuses, naming the demo tenant when there is one.
func demoClaim(ctx context.Context, conn *pgxpool.Conn) error {
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", demoLockID).Scan(&locked); err != nil {
		return fmt.Errorf("take the demo's lock: %w", err)
	}
	if !locked {
		return errors.New("another ledger demo is writing its world to this database: it runs once per database")
	}
	var tenantID string
	err := conn.QueryRow(ctx, `SELECT data->>'tenant_id' FROM events WHERE type = 'TenantCreated' AND data->>'name' = $1
		ORDER BY position LIMIT 1`, demoTenantName).Scan(&tenantID)
	switch {
	case err == nil:
		_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", demoLockID)
		return fmt.Errorf("the demo world exists already: tenant %q (%s); ledger demo never creates it twice, and its keys were shown once. To start over, run it against a fresh, empty database (--database-url or LEDGER_DATABASE_URL)", demoTenantName, tenantID)
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look for the demo tenant: %w", err)
	}
	var nonEmpty bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events)").Scan(&nonEmpty); err != nil {
		return fmt.Errorf("read the event log: %w", err)
	}
	if nonEmpty {
		_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", demoLockID)
		return errors.New("the database holds events already: ledger demo builds its world on an empty database only; point it at a fresh one (--database-url or LEDGER_DATABASE_URL)")
	}
	return nil
}

// bill runs, as finance, the bill run for the first of this month, with
// the read models kept up to date in this process.
func (w *demoWorld) bill(ctx context.Context, db *pgresolve.DB, store *postgres.Store) (string, error) {
	target := domain.NewDate(w.today.Year(), w.today.Month(), 1)
	w.log("demo: bill run for %s", target)
	run, err := billingRun(ctx, db, store, w.finance.req, commands.RunBill{TargetDate: target})
	if err != nil {
		return "", err
	}
	w.counts.Invoices = len(run.Invoices)
	return fmt.Sprintf("bill run %s for %s: %d invoices", run.ID, target, len(run.Invoices)), nil
}

// output is the world's summary with a key and a first request per role.
func (w *demoWorld) output(base, billing string) demoOutput {
	t, bright := w.tenantID.String(), w.partners[0]
	roles := []struct {
		role string
		user demoUser
		why  string
		path string
	}{
		{"tenant_admin", w.admin, "every active subscription of the tenant", "/v1/tenants/" + t + "/subscriptions?status=active"},
		{"finance", w.finance, "the MRR report by partner, per currency", "/v1/tenants/" + t + "/reports/mrr?group_by=partner"},
		{"auditor", w.auditor, "the audit trail of " + bright.name, "/v1/tenants/" + t + "/audit/events?partner_id=" + bright.id.String()},
		{"partner_admin", bright.admin, "the grants of " + bright.name, "/v1/partners/" + bright.id.String() + "/tenants"},
		{"partner_operator", bright.operator, "the subscriptions in the scope of " + bright.name, "/v1/tenants/" + t + "/subscriptions"},
		{"partner_viewer", bright.viewer, "the accounts in the scope of " + bright.name, "/v1/tenants/" + t + "/accounts"},
	}
	out := demoOutput{Tenant: demoRef{t, demoTenantName}, Partner: demoRef{bright.id.String(), bright.name},
		BaseURL: base, World: w.counts, Billing: billing}
	if demoPortalPath != "" {
		out.PortalURL = base + demoPortalPath
	}
	for _, r := range roles {
		out.Roles = append(out.Roles, demoRole{Role: r.role, User: r.user.name, Key: r.user.key, Why: r.why, Method: "GET", Path: r.path,
			Curl: fmt.Sprintf("curl -s -H 'Authorization: Bearer %s' '%s%s'", r.user.key, base, r.path)})
	}
	return out
}

// writeDemo prints out as one JSON object, or for a person.
func writeDemo(w io.Writer, out demoOutput, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(out)
	}
	c := out.World
	fmt.Fprintf(w, "Demo world: tenant %q (%s)\n", out.Tenant.Name, out.Tenant.ID)
	fmt.Fprintf(w, "  %d accounts (EUR and USD), %d products, %d partners, %d subscriptions,\n", c.Accounts, c.Products, c.Partners, c.Subscriptions)
	fmt.Fprintf(w, "  %d amendments, %d usage records, %d cancellation; %s\n", c.Amendments, c.UsageRecords, c.Cancellations, out.Billing)
	fmt.Fprintf(w, "  partner for the partner roles: %s (%s)\n", out.Partner.Name, out.Partner.ID)
	fmt.Fprintf(w, "\nStart the server (make run), then try, as each role:\n")
	for _, r := range out.Roles {
		fmt.Fprintf(w, "\n%s: %s\n  key: %s\n  %s:\n  %s\n", r.Role, r.User, r.Key, r.Why, r.Curl)
	}
	if out.PortalURL != "" {
		fmt.Fprintf(w, "\nThe partner portal: %s\n", out.PortalURL)
	}
	_, err := fmt.Fprintf(w, "\nStore the keys now: they are shown this once (only their hashes are kept).\n")
	return err
}
