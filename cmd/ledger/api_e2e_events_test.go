package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
)

// appendSubscriptionData appends, straight to the log, a SubscriptionCreated
// of shop s (one seat at 10.00) whose JSON data edit rewrites, recorded at
// schema version. It returns the subscription's id and the event's
// position.
func appendSubscriptionData(t *testing.T, dbURL string, s shop, version int, edit func(string) string) (string, uint64) {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := postgres.New(pool)
	defer store.Close()
	tenant, id := uuid.MustParse(s.tenant), uuid.New()
	ev := &domain.SubscriptionCreated{SubscriptionID: id, TenantID: tenant, AccountID: uuid.MustParse(s.account), Currency: "USD",
		StartDate: domain.DateOf(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), Term: domain.Term{Type: domain.TermEvergreen},
		Items: []domain.ItemSpec{{ID: uuid.New(), ProductID: uuid.MustParse(s.product), ChargeID: uuid.MustParse(s.charge), Name: "Seat",
			Type: domain.ChargeRecurring, Quantity: 1, UnitPrice: decimal.RequireFromString("10.00"), BillingPeriod: domain.PeriodMonth}},
		CreatedBy: domain.Actor{Type: domain.ActorOperator}, CreatedAt: time.Now().UTC()}
	name, _, data, err := domain.MarshalEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Append(ctx, eventstore.To(commands.SubscriptionStream(tenant, id), eventstore.Any(),
		eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: name, SchemaVersion: version, Data: []byte(edit(string(data))),
			Metadata: eventstore.Metadata{TenantID: s.tenant, Actor: eventstore.Actor{Type: "operator"}, OccurredAt: time.Now()}}))
	if err != nil {
		t.Fatal(err)
	}
	return id.String(), uint64(res.Position)
}

// TestUnreadableEventsAreRefusedNotZero writes, straight into the log of a
// running server, SubscriptionCreated events that strict decoding refuses:
// one whose item says "price" for "unit_price" (lenient decoding read it
// as a price of 0, and the subscription as an MRR of 0.00), one at schema
// version 2, newer than this build's. The subscriptions projection parks
// each, with an error naming its position, type, version and fault; no
// read answers a 200 with a zero (the tenant's list is 503
// read_model_stale), while a well-formed subscription of the same tenant
// stays readable.
func TestUnreadableEventsAreRefusedNotZero(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	s := newShop(t, newAPIClient(srv.base), env, "Tenant E")
	cases := []struct {
		name    string
		version int
		edit    func(string) string
		want    string
	}{
		{"misspelled field", 1, func(d string) string { return strings.Replace(d, `"unit_price":`, `"price":`, 1) },
			`SubscriptionCreated v1: items[0]: unknown field "price"`},
		{"newer version", 2, func(d string) string { return d },
			`SubscriptionCreated v2: schema version 2 is newer than this build's 1`},
	}
	ids := map[uint64]string{}
	for _, c := range cases {
		id, pos := appendSubscriptionData(t, dbURL, s, c.version, c.edit)
		ids[pos] = id
		want := fmt.Sprintf("decode event at position %d: unreadable event: %s", pos, c.want)
		parked := waitParked(t, env, pos)
		if !strings.Contains(parked, want) {
			t.Errorf("%s: parked with error %q, want it to say %q", c.name, parked, want)
		}
	}
	for _, id := range ids {
		s.read(t, "/subscriptions/"+id).problem(t, 503, "read_model_stale")
	}
	s.read(t, "/subscriptions").problem(t, 503, "read_model_stale")
	s.read(t, "/subscriptions/"+s.subscription).want(t, 200)
}

// waitParked waits, at most 10 s, for `ledger projections parked` to list
// the event at position, and returns the error it was parked with.
func waitParked(t *testing.T, env []string, position uint64) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd, stdout, stderr := ledgerCmd(t, env, "projections", "parked", "--json")
		if err := cmd.Run(); err != nil {
			t.Fatalf("projections parked: %v\n%s", err, stderr)
		}
		var listed []struct {
			Position   uint64 `json:"position"`
			Projection string `json:"projection"`
			Error      string `json:"error"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &listed); err != nil {
			t.Fatalf("projections parked --json: %v\n%s", err, stdout)
		}
		for _, p := range listed {
			if p.Position == position && p.Projection == "subscriptions" {
				return p.Error
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event at %d is not parked after 10 s: %s", position, stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
