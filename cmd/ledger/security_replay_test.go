package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/commands"
)

// replayShop is a tenant's shop with a partner granted partner_admin on
// its account, the partner's admin and an operator of the partner.
type replayShop struct {
	shop
	partner          string
	other            string // another account of the tenant
	padmin, operator *caller
	operatorID       string
	srv              *server
	dbURL            string
}

func newReplayShop(t *testing.T) *replayShop {
	t.Helper()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	api := newAPIClient(srv.base)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	s := &replayShop{shop: newShop(t, api, env, "Acme Replay"), srv: srv, dbURL: dbURL}
	var account struct {
		ID string `json:"id"`
	}
	s.decode(t, s.admin.post(t, s.path("/accounts"), map[string]any{"name": "Other customer", "currency": "USD",
		"billing": map[string]any{"contact_name": "Bo", "email": "bo@example.com", "invoice_delivery": "email"}}), 201, &account)
	s.other = account.ID
	b := runBootstrap(t, env, "partner", "Northwind Replays")
	s.partner = b.ID.String()
	s.padmin = &caller{api: api, name: "partner admin", key: b.AdminKey}
	s.grant(t, 201, map[string]any{"role": "partner_admin", "all_accounts": false, "account_ids": []string{s.account}})
	var user struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	s.decode(t, s.padmin.post(t, "/v1/partners/"+s.partner+"/users", map[string]any{"name": "Olga", "role": "partner_operator"}), 201, &user)
	s.operator, s.operatorID = &caller{api: api, name: "partner operator", key: user.Key}, user.ID
	return s
}

// grant puts the partner's access as body, answered with status.
func (s *replayShop) grant(t *testing.T, status int, body map[string]any) {
	t.Helper()
	s.admin.put(t, s.path("/partners/"+s.partner+"/access"), body).want(t, status)
}

// amend sends by's keyed amendment of the shop's subscription to qty.
func (s *replayShop) amend(t *testing.T, by *caller, key string, qty int) *reply {
	t.Helper()
	return by.post(t, s.path("/subscriptions/"+s.subscription+"/amendments"), map[string]any{"effective_date": "2025-02-01",
		"changes": []map[string]any{{"type": "change_quantity", "item_id": s.item, "quantity": qty}}}, "Idempotency-Key", key)
}

// TestKeyedReplayReauthorized replays partner users' keyed amendments
// through the real binary as what they may do changes: out of scope
// (404), expired (403 partner_access_expired), removed (401) and revoked
// (403 partner_access_revoked) replays are refused as the new request
// would be, and a replay allowed again answers the first answer.
func TestKeyedReplayReauthorized(t *testing.T) {
	t.Parallel()
	s := newReplayShop(t)
	scoped := map[string]any{"role": "partner_admin", "all_accounts": false, "account_ids": []string{s.account}}
	byOperator, byAdmin := "op-"+uuid.NewString(), "pa-"+uuid.NewString()

	first := s.amend(t, s.operator, byOperator, 2).want(t, 200)
	wantSameAnswer(t, first, s.amend(t, s.operator, byOperator, 2).want(t, 200))

	s.grant(t, 200, map[string]any{"role": "partner_admin", "all_accounts": false, "account_ids": []string{s.other}})
	s.amend(t, s.operator, byOperator, 2).problem(t, 404, "not_found")
	s.grant(t, 200, scoped)
	wantSameAnswer(t, first, s.amend(t, s.operator, byOperator, 2).want(t, 200))

	adminFirst := s.amend(t, s.padmin, byAdmin, 3).want(t, 200)
	s.padmin.delete(t, "/v1/partners/"+s.partner+"/users/"+s.operatorID).want(t, 204)
	s.amend(t, s.operator, byOperator, 2).problem(t, 401, "unauthenticated")

	expires := time.Now().Add(2 * time.Second).UTC()
	s.grant(t, 200, map[string]any{"role": "partner_admin", "all_accounts": false, "account_ids": []string{s.account},
		"expires_at": expires.Format(time.RFC3339Nano)})
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	s.amend(t, s.padmin, byAdmin, 3).problem(t, 403, "partner_access_expired")
	s.grant(t, 200, scoped)
	wantSameAnswer(t, adminFirst, s.amend(t, s.padmin, byAdmin, 3).want(t, 200))

	s.admin.delete(t, s.path("/partners/"+s.partner+"/access")).want(t, 200)
	s.amend(t, s.padmin, byAdmin, 3).problem(t, 403, "partner_access_revoked")

	s.admin.get(t, s.path("/audit/events?limit=1")).want(t, 200) // the read models have caught up
	keys := []string{s.admin.key, s.padmin.key, s.operator.key}
	wantHashesOnlyInLog(t, s.dbURL, keys)
	logs := s.srv.stop(t)
	for _, key := range keys {
		if strings.Contains(logs, commands.HashAPIKey(key)) {
			t.Errorf("the server's logs show the hash of a key (%s…)", key[:8])
		}
	}
}

// wantHashesOnlyInLog checks that the hashes of keys are in the event log
// and in no other table of the database: no read model holds one.
func wantHashesOnlyInLog(t *testing.T, dbURL string, keys []string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		hash := commands.HashAPIKey(key)
		var holders []string
		for _, table := range tables {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table+` t WHERE strpos(t::text, $1) > 0`, hash).Scan(&n); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			if n > 0 {
				holders = append(holders, table)
			}
		}
		if !slices.Equal(holders, []string{"public.events"}) {
			t.Errorf("the hash of a key (%s…) is held by %v, want the event log (public.events) alone", key[:8], holders)
		}
	}
}
