package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDemo runs "ledger demo --json" through the binary on a fresh
// database beside a running server: every printed key answers its first
// request with 200 and holds the role it claims; a second run refuses,
// exits non-zero and writes nothing.
func TestDemo(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServerLogging(t, dbURL, "info")
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_HTTP_ADDR=" + strings.TrimPrefix(srv.base, "http://"), "LEDGER_LOG_LEVEL=info"}

	out := runDemoJSON(t, env)
	if out.BaseURL != srv.base {
		t.Errorf("base_url %q, want the --http-addr given: %q", out.BaseURL, srv.base)
	}
	if w := out.World; w.Accounts < 24 || w.Subscriptions < 24 || w.Partners != 3 || w.Amendments == 0 || w.UsageRecords == 0 || w.Cancellations != 1 || w.Invoices == 0 {
		t.Errorf("world %+v: want a few dozen accounts and subscriptions, three partners, amendments, usage, a cancellation and invoices", w)
	}
	api := newAPIClient(srv.base)
	api.seen = demoLogHead(t, dbURL) // every read waits for the read models to hold the world
	callers := demoCallers(t, api, out)
	for _, r := range out.Roles {
		callers[r.Role].get(t, r.Path).want(t, http.StatusOK)
		if !strings.Contains(r.Curl, "Bearer "+r.Key) || !strings.Contains(r.Curl, srv.base+r.Path) {
			t.Errorf("%s: curl %q does not send its key to %s", r.Role, r.Curl, srv.base+r.Path)
		}
	}
	checkDemoRoles(t, callers, out)

	before := demoEventCounts(t, dbURL)
	cmd, stdout, stderr := ledgerCmd(t, env, "demo", "--json")
	if err := cmd.Run(); err == nil {
		t.Errorf("a second ledger demo succeeded, want a refusal; stdout:\n%s", stdout)
	}
	if msg := stderr.String(); !strings.Contains(msg, `"`+demoTenantName+`"`) || !strings.Contains(msg, out.Tenant.ID) || !strings.Contains(msg, "fresh") {
		t.Errorf("second run's message %q: want the demo tenant's name and id, and how to start over", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("second run printed %q, want nothing on stdout", stdout)
	}
	if after := demoEventCounts(t, dbURL); !maps.Equal(before, after) || after["TenantCreated"] != 1 {
		t.Errorf("events by type before the second run %v, after %v: want the same, one tenant", before, after)
	}
}

// runDemoJSON runs "ledger demo --json" and returns what it printed,
// checking that stdout is one JSON object and stderr shows no key.
func runDemoJSON(t *testing.T, env []string) demoOutput {
	t.Helper()
	cmd, stdout, stderr := ledgerCmd(t, env, "demo", "--json")
	if err := cmd.Run(); err != nil {
		t.Fatalf("ledger demo: %v; stderr:\n%s", err, stderr)
	}
	var out demoOutput
	dec := json.NewDecoder(stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || dec.More() {
		t.Fatalf("ledger demo --json printed %q, want one JSON object: %v", stdout, err)
	}
	for _, r := range out.Roles {
		if !strings.HasPrefix(r.Key, "lk_") || strings.Contains(stderr.String(), r.Key) {
			t.Errorf("%s: key %.8q…: want an lk_ key that the progress and logs never show", r.Role, r.Key)
		}
	}
	return out
}

// demoCallers returns a caller per role, checking that every role is
// printed once, in the documented order.
func demoCallers(t *testing.T, api *apiClient, out demoOutput) map[string]*caller {
	t.Helper()
	want := []string{"tenant_admin", "finance", "auditor", "partner_admin", "partner_operator", "partner_viewer"}
	var got []string
	callers := map[string]*caller{}
	for _, r := range out.Roles {
		got = append(got, r.Role)
		callers[r.Role] = &caller{api: api, name: r.Role, key: r.Key}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	return callers
}

// checkDemoRoles checks that each key holds the role it claims: the
// writes a role lacks are refused with 403, and the partner sees its
// scope only.
func checkDemoRoles(t *testing.T, callers map[string]*caller, out demoOutput) {
	t.Helper()
	tenant := "/v1/tenants/" + out.Tenant.ID
	account := map[string]any{"name": "Trial Customer Ltd", "currency": "EUR", "billing": map[string]any{"contact_name": "Ops", "email": "ops@trial.example"}}
	product := map[string]any{"name": "Extra", "sku": "X-1", "charges": []map[string]any{{"name": "Extra", "type": "one_time", "price": "1.00", "currency": "EUR"}}}
	for _, c := range []struct {
		role, path string
		body       any
	}{
		{"partner_viewer", tenant + "/accounts", account},
		{"partner_operator", tenant + "/accounts", account},
		{"auditor", tenant + "/accounts", account},
		{"finance", tenant + "/products", product},
	} {
		callers[c.role].post(t, c.path, c.body).problem(t, http.StatusForbidden, "")
	}
	var all, scoped struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(callers["tenant_admin"].get(t, tenant+"/accounts").want(t, http.StatusOK).Body, &all); err != nil {
		t.Fatalf("tenant admin's accounts: %v", err)
	}
	if err := json.Unmarshal(callers["partner_viewer"].get(t, tenant+"/accounts").want(t, http.StatusOK).Body, &scoped); err != nil {
		t.Fatalf("partner viewer's accounts: %v", err)
	}
	if len(all.Items) != out.World.Accounts || len(scoped.Items) == 0 || len(scoped.Items) >= len(all.Items) {
		t.Errorf("the tenant admin sees %d accounts, the partner viewer %d: want all %d, and the partner's scope only",
			len(all.Items), len(scoped.Items), out.World.Accounts)
	}
}

// demoLogHead is the position of the last event in the log at dbURL.
func demoLogHead(t *testing.T, dbURL string) uint64 {
	t.Helper()
	var head uint64
	demoWithConn(t, dbURL, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM events").Scan(&head)
	})
	return head
}

// demoEventCounts counts the events of the log at dbURL by type, but the
// refusals a server records.
func demoEventCounts(t *testing.T, dbURL string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	demoWithConn(t, dbURL, func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, "SELECT type, count(*) FROM events WHERE type <> 'AccessDenied' GROUP BY type")
		if err != nil {
			return err
		}
		var typ string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&typ, &n}, func() error { counts[typ] = n; return nil })
		return err
	})
	return counts
}

func demoWithConn(t *testing.T, dbURL string, f func(context.Context, *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if err := f(ctx, conn); err != nil {
		t.Fatalf("query the log: %v", err)
	}
}

// TestDemoBaseURL checks the URL the demo's requests go to, for each form
// of --http-addr.
func TestDemoBaseURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ addr, want string }{
		{":8080", "http://localhost:8080"},
		{"0.0.0.0:9000", "http://localhost:9000"},
		{"[::]:9000", "http://localhost:9000"},
		{"127.0.0.1:18080", "http://127.0.0.1:18080"},
		{"ledger.internal:80", "http://ledger.internal:80"},
		{"[::1]:8080", "http://[::1]:8080"},
	} {
		if got := demoBaseURL(c.addr); got != c.want {
			t.Errorf("demoBaseURL(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}
