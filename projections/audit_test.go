package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// audScenario is a log of two tenants whose events share actors, accounts
// and subscriptions ids, so that a leak between tenants would show.
type audScenario struct {
	log                      *audLog
	t1, t2, p1, p2           uuid.UUID
	admin, pu1, pu2, sys, op domain.Actor
	accounts, subscriptions  [2]uuid.UUID
}

func audNewScenario(t *testing.T) *audScenario {
	t.Helper()
	s := &audScenario{log: audNewLog(t), t1: uuid.New(), t2: uuid.New(), p1: uuid.New(), p2: uuid.New(),
		accounts: [2]uuid.UUID{uuid.New(), uuid.New()}, subscriptions: [2]uuid.UUID{uuid.New(), uuid.New()}}
	s.admin = domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	s.pu1 = domain.Actor{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: s.p1}
	s.pu2 = domain.Actor{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: s.p2}
	s.sys = domain.Actor{Type: domain.ActorSystem}
	s.op = domain.Actor{Type: domain.ActorOperator, ID: uuid.New()}
	l := s.log
	for _, tenant := range []uuid.UUID{s.t1, s.t2} {
		var tn domain.Tenant
		evs, err := tn.Create(domain.CreateTenant{TenantID: tenant, Name: "Tenant " + tenant.String()[:4],
			Admin: domain.NewUser{ID: s.admin.ID, Name: "Ada", Role: domain.RoleTenantAdmin, KeyHash: "h" + tenant.String()}}, s.op, l.now())
		l.add("tenant-"+tenant.String(), audWho{tenant, s.op}, audSubject{}, audDecided(t, &tn, evs, err)...)
	}
	var pt domain.Partner
	evs, err := pt.Create(domain.CreatePartner{PartnerID: s.p1, Name: "Reseller",
		Admin: domain.NewUser{ID: s.pu1.ID, Name: "Pat", Role: domain.RolePartnerAdmin, KeyHash: "hp"}}, s.op, l.now())
	l.add("partner-"+s.p1.String(), audWho{uuid.Nil, s.op}, audSubject{}, audDecided(t, &pt, evs, err)...)
	for _, tenant := range []uuid.UUID{s.t1, s.t2} {
		s.addTenantEvents(t, tenant)
	}
	return s
}

// addTenantEvents adds grants, accounts and a mix of every kind of event
// by every kind of actor to tenant's part of the log.
func (s *audScenario) addTenantEvents(t *testing.T, tenant uuid.UUID) {
	t.Helper()
	l := s.log
	for _, p := range []uuid.UUID{s.p1, s.p2} {
		var g domain.PartnerAccess
		evs, err := g.Grant(domain.GrantTerms{TenantID: tenant, PartnerID: p, Role: domain.RolePartnerAdmin, AllAccounts: true}, s.admin, l.now())
		l.add("access-"+tenant.String()+"-"+p.String(), audWho{tenant, s.admin}, audSubject{}, audDecided(t, &g, evs, err)...)
	}
	accounts := [2]*domain.Account{{}, {}}
	for i, a := range accounts {
		by := []domain.Actor{s.pu1, s.pu2}[i]
		evs, err := a.Create(domain.CreateAccount{AccountID: s.accounts[i], TenantID: tenant, Name: "Acme", Currency: "EUR",
			Billing: domain.BillingInput{ContactName: "Bo", Email: "bo@example.com"}}, by, l.now())
		l.add(audStream("account", tenant, s.accounts[i]), audWho{tenant, by}, audSubject{account: s.accounts[i]}, audDecided(t, a, evs, err)...)
	}
	actors := []domain.Actor{s.admin, s.pu1, s.pu2, s.sys}
	for i := range 24 {
		by, k := actors[i%len(actors)], i%2
		who, acc, sub := audWho{tenant, by}, s.accounts[k], s.subscriptions[k]
		switch (i / 2) % 4 {
		case 0:
			evs, err := accounts[k].UpdateBilling(domain.BillingInput{ContactName: "Bo", Email: fmt.Sprintf("bo%d@example.com", i)}, by, l.now())
			l.add(audStream("account", tenant, acc), who, audSubject{account: acc}, audDecided(t, accounts[k], evs, err)...)
		case 1:
			l.add(audStream("subscription", tenant, sub), who, audSubject{acc, sub}, &domain.SubscriptionAmended{
				SubscriptionID: sub, AccountID: acc, EffectiveDate: domain.DateOf(l.now()), AmendedBy: by, AmendedAt: l.now()})
		case 2:
			l.add(audStream("usage", tenant, sub), who, audSubject{acc, sub}, &domain.UsageRecorded{RecordID: uuid.New(),
				SubscriptionID: sub, AccountID: acc, ItemID: uuid.New(), Quantity: decimal.NewFromInt(int64(i)), RecordedBy: by, RecordedAt: l.now()})
		case 3:
			denied := &domain.AccessDenied{Permission: "subscriptions.cancel", Resource: "subscription", Reason: "forbidden", Actor: by}
			subj := audSubject{}
			if k == 0 {
				denied.AccountID, denied.SubscriptionID, subj = acc, sub, audSubject{acc, sub}
			}
			l.add("audit-"+tenant.String(), who, subj, denied)
		}
	}
}

func audStream(category string, tenant, id uuid.UUID) string {
	return category + "-" + tenant.String() + "-" + id.String()
}

// audWant is the positions AuditEvents must return, worked out from the
// log in Go.
func audWant(s *audScenario, tenant uuid.UUID, v AuditViewer, f AuditFilter) []eventstore.Position {
	eq := func(want *uuid.UUID, got uuid.UUID) bool { return want == nil || *want == got }
	var out []eventstore.Position
	for _, e := range s.log.events {
		m, subj := e.Metadata, s.log.subjects[e.Position]
		actor, _ := uuid.Parse(m.Actor.ID)
		partner, _ := uuid.Parse(m.Actor.PartnerID)
		switch {
		case m.TenantID != tenant.String(), v.OwnPartnerOnly && partner != v.PartnerID,
			!eq(f.PartnerID, partner), !eq(f.ActorID, actor), !eq(f.AccountID, subj.account),
			!eq(f.SubscriptionID, subj.subscription), f.Type != "" && f.Type != e.Type,
			f.From != nil && m.OccurredAt.Before(*f.From), f.To != nil && !m.OccurredAt.Before(*f.To):
			continue
		}
		out = append(out, e.Position)
	}
	return out
}

// audAllPages reads every page of the audit log at limit, checking each
// page's size and cursor, and returns the items in order.
func audAllPages(t *testing.T, pool *pgxpool.Pool, tenant uuid.UUID, v AuditViewer, f AuditFilter, limit int) []AuditItem {
	t.Helper()
	return audPages(t, limit, func(page Page) (List[AuditItem], error) {
		return AuditEvents(t.Context(), pool, tenant, v, f, page)
	})
}

func audPositions(items []AuditItem) []eventstore.Position {
	out := make([]eventstore.Position, len(items))
	for i, it := range items {
		out[i] = it.Position
	}
	return out
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	pool := audDB(t)
	audApply(t, pool, s.log.events)
	from, to := audT0.Add(20*time.Minute), audT0.Add(45*time.Minute)
	all, own1, own2 := AuditViewer{}, AuditViewer{OwnPartnerOnly: true, PartnerID: s.p1}, AuditViewer{OwnPartnerOnly: true, PartnerID: s.p2}
	cases := []struct {
		name   string
		tenant uuid.UUID
		viewer AuditViewer
		filter AuditFilter
	}{
		{"everything", s.t1, all, AuditFilter{}},
		{"other tenant", s.t2, all, AuditFilter{}},
		{"unknown tenant", uuid.New(), all, AuditFilter{}},
		{"partner", s.t1, all, AuditFilter{PartnerID: &s.p1}},
		{"actor tenant user", s.t1, all, AuditFilter{ActorID: &s.admin.ID}},
		{"actor partner user", s.t1, all, AuditFilter{ActorID: &s.pu2.ID}},
		{"account", s.t1, all, AuditFilter{AccountID: &s.accounts[0]}},
		{"subscription", s.t1, all, AuditFilter{SubscriptionID: &s.subscriptions[1]}},
		{"type", s.t1, all, AuditFilter{Type: "AccessDenied"}},
		{"type of no rows", s.t1, all, AuditFilter{Type: "ProductCreated"}},
		{"from", s.t1, all, AuditFilter{From: &from}},
		{"to", s.t1, all, AuditFilter{To: &to}},
		{"from to", s.t1, all, AuditFilter{From: &from, To: &to}},
		{"empty range", s.t1, all, AuditFilter{From: &from, To: &from}},
		{"partner account type", s.t1, all, AuditFilter{PartnerID: &s.p1, AccountID: &s.accounts[1], Type: "AccountBillingUpdated"}},
		{"actor subscription range", s.t2, all, AuditFilter{ActorID: &s.pu2.ID, SubscriptionID: &s.subscriptions[1], From: &from, To: &to}},
		{"unknown account", s.t1, all, AuditFilter{AccountID: new(uuid.New())}},
		{"own partner", s.t1, own1, AuditFilter{}},
		{"own partner of other tenant", s.t2, own2, AuditFilter{}},
		{"own partner, other partner asked", s.t1, own1, AuditFilter{PartnerID: &s.p2}},
		{"own partner, own asked, typed", s.t1, own2, AuditFilter{PartnerID: &s.p2, Type: "UsageRecorded"}},
		{"own partner, tenant user's actions", s.t1, own1, AuditFilter{ActorID: &s.admin.ID}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := audWant(s, c.tenant, c.viewer, c.filter)
			for _, limit := range []int{1, 4, 500} {
				got := audPositions(audAllPages(t, pool, c.tenant, c.viewer, c.filter, limit))
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d: positions %v, want %v", limit, got, want)
				}
			}
		})
	}
}

// TestAuditFiltersNarrow guards the table above against vacuous cases: the
// scenario must give the filters something to tell apart.
func TestAuditFiltersNarrow(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	every := len(audWant(s, s.t1, AuditViewer{}, AuditFilter{}))
	for name, f := range map[string]AuditFilter{
		"partner": {PartnerID: &s.p1}, "account": {AccountID: &s.accounts[0]},
		"subscription": {SubscriptionID: &s.subscriptions[1]}, "type": {Type: "AccessDenied"},
	} {
		if n := len(audWant(s, s.t1, AuditViewer{}, f)); n == 0 || n == every {
			t.Errorf("%s: %d of %d rows; the scenario does not exercise it", name, n, every)
		}
	}
}

func TestAuditItemRepresentation(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	pool := audDB(t)
	audApply(t, pool, s.log.events)
	items := audAllPages(t, pool, s.t1, AuditViewer{}, AuditFilter{Type: "AccessDenied"}, 500)
	if len(items) < 2 {
		t.Fatalf("%d AccessDenied items", len(items))
	}
	for _, it := range items {
		e := s.log.events[slices.IndexFunc(s.log.events, func(e eventstore.Event) bool { return e.Position == it.Position })]
		audCheckItem(t, it, e)
	}
	added := audAllPages(t, pool, s.t1, AuditViewer{}, AuditFilter{Type: "TenantUserAdded"}, 500)
	if len(added) == 0 {
		t.Fatal("no TenantUserAdded in the audit log")
	}
	for _, it := range added {
		var data map[string]any
		if err := json.Unmarshal(it.Data, &data); err != nil || data["user_id"] == nil || data["key_hash"] != nil {
			t.Fatalf("TenantUserAdded data %s (%v): want the user without its key hash", it.Data, err)
		}
	}
	raw, err := json.Marshal(items[0])
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	want := []string{"actor", "causation_id", "correlation_id", "data", "event_id", "idempotency_key", "occurred_at",
		"position", "recorded_at", "request_id", "stream", "type", "version"}
	if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

// audCheckItem compares an audit item with the event it shows.
func audCheckItem(t *testing.T, it AuditItem, e eventstore.Event) {
	t.Helper()
	m := e.Metadata
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	id := func(p *uuid.UUID) string {
		if p == nil {
			return ""
		}
		return p.String()
	}
	got := fmt.Sprint(it.EventID, it.Stream, it.Version, it.Type, it.OccurredAt, it.RecordedAt, it.Actor.Type,
		id(it.Actor.ID), id(it.Actor.PartnerID), str(it.CorrelationID), str(it.CausationID), str(it.RequestID), str(it.IdempotencyKey))
	want := fmt.Sprint(e.ID, e.Stream, e.Version, e.Type, m.OccurredAt, e.RecordedAt, m.Actor.Type,
		m.Actor.ID, m.Actor.PartnerID, m.CorrelationID, m.CausationID, m.RequestID, m.IdempotencyKey)
	if got != want {
		t.Errorf("item at %d:\n got %s\nwant %s", it.Position, got, want)
	}
	var gotData, wantData any
	if err := errors.Join(json.Unmarshal(it.Data, &gotData), json.Unmarshal(e.Data, &wantData)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotData) != fmt.Sprint(wantData) {
		t.Errorf("item at %d: data %s, want %s", it.Position, it.Data, e.Data)
	}
}

func TestAuditRefusesBadQueries(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	early, late := audT0, audT0.Add(time.Hour)
	cases := []struct {
		name   string
		viewer AuditViewer
		filter AuditFilter
		page   Page
		kind   error
	}{
		{"unknown type", AuditViewer{}, AuditFilter{Type: "NoSuchEvent"}, Page{}, domain.ErrInvalid},
		{"to before from", AuditViewer{}, AuditFilter{From: &late, To: &early}, Page{}, domain.ErrInvalid},
		{"bad cursor", AuditViewer{}, AuditFilter{}, Page{Cursor: "not a cursor"}, domain.ErrInvalid},
		{"limit too high", AuditViewer{}, AuditFilter{}, Page{Limit: MaxLimit + 1}, domain.ErrInvalid},
		{"own partner without partner", AuditViewer{OwnPartnerOnly: true}, AuditFilter{}, Page{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := AuditEvents(t.Context(), pool, uuid.New(), c.viewer, c.filter, c.page)
			if err == nil || (c.kind != nil && !errors.Is(err, c.kind)) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
		})
	}
}

func TestAuditReapplyIsIdempotent(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	pool := audDB(t)
	half := len(s.log.events) / 2
	audApply(t, pool, s.log.events[:half])
	audApply(t, pool, s.log.events[:half])                          // all at or before the checkpoint: skipped
	audApply(t, pool, s.log.events[half/2:])                        // overlapping: the old half skipped, the rest applied
	audApply(t, pool, s.log.events)                                 // everything again
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error { // past the checkpoint's guard
		return Audit{}.Apply(t.Context(), tx, LiveSchema, s.log.events)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := audWant(s, s.t1, AuditViewer{}, AuditFilter{})
	if got := audPositions(audAllPages(t, pool, s.t1, AuditViewer{}, AuditFilter{}, 500)); !slices.Equal(got, want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	var rows, cp int64
	err = pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM `+table(LiveSchema, "audit_log")+`),
    (SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = 'audit')`).Scan(&rows, &cp)
	if err != nil {
		t.Fatal(err)
	}
	tenantEvents := len(want) + len(audWant(s, s.t2, AuditViewer{}, AuditFilter{}))
	if rows != int64(tenantEvents) || eventstore.Position(cp) != s.log.pos {
		t.Fatalf("%d rows at checkpoint %d, want %d at %d", rows, cp, tenantEvents, s.log.pos)
	}
}

func TestAuditLargeBatchInChunks(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	l := audNewLog(t)
	tenant := uuid.New()
	who := audWho{tenant, domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}}
	n := 2*auditChunk + 17
	for range n {
		l.add("audit-"+tenant.String(), who, audSubject{}, &domain.AccessDenied{Permission: "audit.read", Resource: "audit", Reason: "forbidden", Actor: who.actor})
	}
	audApply(t, pool, l.events)
	got := audAllPages(t, pool, tenant, AuditViewer{}, AuditFilter{}, MaxLimit)
	if len(got) != n || got[n-1].Position != l.pos {
		t.Fatalf("%d items, want %d", len(got), n)
	}
}

func TestAuditSubjects(t *testing.T) {
	t.Parallel()
	tenant, acc, sub := uuid.New(), uuid.New(), uuid.New()
	other := uuid.New()
	cases := []struct {
		name, stream, data string
		account, sub       uuid.UUID
	}{
		{"data names both", "audit-" + tenant.String(), fmt.Sprintf(`{"account_id":%q,"subscription_id":%q}`, acc, sub), acc, sub},
		{"data beats stream", audStream("subscription", tenant, other), fmt.Sprintf(`{"account_id":%q,"subscription_id":%q}`, acc, sub), acc, sub},
		{"account stream", audStream("account", tenant, acc), `{"name":"x"}`, acc, uuid.Nil},
		{"subscription stream", audStream("subscription", tenant, sub), fmt.Sprintf(`{"account_id":%q}`, acc), acc, sub},
		{"usage stream", audStream("usage", tenant, sub), `{}`, uuid.Nil, sub},
		{"product stream names neither", audStream("product", tenant, other), `{}`, uuid.Nil, uuid.Nil},
		{"nil and malformed ids", "audit-" + tenant.String(), `{"account_id":"00000000-0000-0000-0000-000000000000","subscription_id":7}`, uuid.Nil, uuid.Nil},
		{"nested ids ignored", "audit-" + tenant.String(), fmt.Sprintf(`{"x":{"account_id":%q}}`, acc), uuid.Nil, uuid.Nil},
		{"short stream", "account-" + acc.String(), `{}`, uuid.Nil, uuid.Nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, s := auditSubjects(eventstore.Event{Stream: c.stream, Data: json.RawMessage(c.data)})
			if uuid.UUID(a.Bytes) != c.account || a.Valid != (c.account != uuid.Nil) ||
				uuid.UUID(s.Bytes) != c.sub || s.Valid != (c.sub != uuid.Nil) {
				t.Fatalf("account %v, subscription %v; want %v, %v", a, s, c.account, c.sub)
			}
		})
	}
}

func TestAuditRefusesMalformedMetadata(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	l := audNewLog(t)
	e := l.add("audit-x", audWho{uuid.New(), domain.Actor{Type: domain.ActorSystem}}, audSubject{}, &domain.AccessDenied{})[0]
	e.Metadata.TenantID = "not-a-uuid"
	err := applyUnguarded(t.Context(), pool, LiveSchema, Audit{}, []eventstore.Event{e}, Audit{}.Apply)
	if err == nil {
		t.Fatal("an event of a malformed tenant id was applied")
	}
}

// BenchmarkAuditApply measures the audit projection's write rate in
// batches of auditChunk events.
func BenchmarkAuditApply(b *testing.B) {
	pool := pgtest.NewDatabase(b, 4)
	ctx := context.Background()
	if err := Setup(ctx, pool, []Projection{Audit{}}); err != nil {
		b.Fatal(err)
	}
	tenant, sub, acc := uuid.New(), uuid.New(), uuid.New()
	actor := domain.Actor{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: uuid.New()}
	batch := make([]eventstore.Event, auditChunk)
	var pos eventstore.Position
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range batch {
			pos++
			_, version, data, _ := domain.MarshalEvent(&domain.UsageRecorded{RecordID: uuid.New(), SubscriptionID: sub, AccountID: acc,
				ItemID: uuid.New(), Quantity: decimal.NewFromInt(3), RecordedBy: actor, RecordedAt: audT0})
			batch[i] = eventstore.Event{ID: uuid.New(), Stream: audStream("usage", tenant, sub), Version: uint64(pos), Position: pos,
				Type: "UsageRecorded", SchemaVersion: version, Data: data, RecordedAt: audT0, Metadata: eventstore.Metadata{TenantID: tenant.String(),
					Actor:     eventstore.Actor{Type: string(actor.Type), ID: actor.ID.String(), PartnerID: actor.PartnerID.String()},
					RequestID: "req", CorrelationID: "corr", OccurredAt: audT0}}
		}
		b.StartTimer()
		if err := applyBatch(ctx, pool, LiveSchema, Audit{}, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*auditChunk)/b.Elapsed().Seconds(), "events/s")
}
