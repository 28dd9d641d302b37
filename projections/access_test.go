package projections

import (
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

	"ledger/domain"
	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// The helpers below, down to audDecided, serve audit_test.go too.

// audT0 is the instant the test logs start at.
var audT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// audDB returns a pool on a fresh database with the Partners and Audit
// read models set up.
func audDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.NewDatabase(t, 8)
	if err := Setup(t.Context(), pool, []Projection{Partners{}, Audit{}}); err != nil {
		t.Fatal(err)
	}
	return pool
}

// audApply applies batch to Partners and Audit, each with its checkpoint.
func audApply(t *testing.T, pool *pgxpool.Pool, batch []eventstore.Event) {
	t.Helper()
	for _, p := range []Projection{Partners{}, Audit{}} {
		if err := applyBatch(t.Context(), pool, LiveSchema, p, batch); err != nil {
			t.Fatalf("apply %s: %v", p.Name(), err)
		}
	}
}

// audWho is who acts, and for which tenant (uuid.Nil: none).
type audWho struct {
	tenant uuid.UUID
	actor  domain.Actor
}

// audSubject is the account and subscription an audit row must name.
type audSubject struct{ account, subscription uuid.UUID }

// audLog builds a log of domain events as the store records them, with
// increasing (gapped) positions, stream versions and full metadata.
type audLog struct {
	t        *testing.T
	clock    time.Time
	pos      eventstore.Position
	versions map[string]uint64
	events   []eventstore.Event
	subjects map[eventstore.Position]audSubject
}

func audNewLog(t *testing.T) *audLog {
	t.Helper()
	return &audLog{t: t, clock: audT0, versions: map[string]uint64{}, subjects: map[eventstore.Position]audSubject{}}
}

// now is the instant the next decision is taken at.
func (l *audLog) now() time.Time { return l.clock }

// add records evs on stream as decided by who, naming subj, and returns
// them as recorded; the clock then moves on a minute.
func (l *audLog) add(stream string, who audWho, subj audSubject, evs ...domain.Event) []eventstore.Event {
	l.t.Helper()
	var out []eventstore.Event
	for _, ev := range evs {
		typ, version, data, err := domain.MarshalEvent(ev)
		if err != nil {
			l.t.Fatal(err)
		}
		l.pos += 1 + eventstore.Position(len(l.events)%2) // gaps, as the store may leave
		l.versions[stream]++
		n := len(l.events)
		meta := eventstore.Metadata{
			Actor: eventstore.Actor{Type: string(who.actor.Type), ID: audString(who.actor.ID),
				PartnerID: audString(who.actor.PartnerID)},
			CorrelationID: fmt.Sprintf("corr-%d", n/3), RequestID: fmt.Sprintf("req-%d", n),
			OccurredAt: l.clock,
		}
		meta.TenantID = audString(who.tenant)
		if n%2 == 0 {
			meta.CausationID, meta.IdempotencyKey = fmt.Sprintf("cause-%d", n), fmt.Sprintf("key-%d", n)
		}
		e := eventstore.Event{ID: uuid.Must(uuid.NewV7()), Stream: stream, Version: l.versions[stream],
			Position: l.pos, Type: typ, SchemaVersion: version, Data: data, Metadata: meta,
			RecordedAt: l.clock.Add(time.Millisecond)}
		l.events = append(l.events, e)
		l.subjects[e.Position] = subj
		out = append(out, e)
	}
	l.clock = l.clock.Add(time.Minute)
	return out
}

func audString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// audDecided fails the test on err, else applies evs to the aggregate
// that decided them and returns them.
func audDecided(t *testing.T, agg interface{ Apply(domain.Event) }, evs []domain.Event, err error) []domain.Event {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		agg.Apply(e)
	}
	return evs
}

// audViewOf is what AccessView must show of the grant g at now: the
// domain's own state, replayed from the same events.
func audViewOf(g *domain.PartnerAccess, now time.Time) AccessView {
	ids := g.AccountIDs
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return AccessView{TenantID: g.TenantID, PartnerID: g.PartnerID, Role: g.Role, AllAccounts: g.AllAccounts,
		AccountIDs: ids, Actions: actionsOf(g.Actions), Status: g.StatusAt(now), ExpiresAt: g.ExpiresAt, GrantedBy: viewActor(g.GrantedBy),
		Version: g.Version}
}

// audSameView fails the test unless got and want represent alike.
func audSameView(t *testing.T, got, want AccessView) {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("view\n got %s\nwant %s", g, w)
	}
}

// audGrantStream is the stream of tenant's grant to partner.
func audGrantStream(tenant, partner uuid.UUID) string {
	return "access-" + tenant.String() + "-" + partner.String()
}

func TestPartnerAccessLifecycle(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	l := audNewLog(t)
	tenant, partner := uuid.New(), uuid.New()
	admin := domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	other := domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	exp := audT0.Add(2 * time.Hour)
	later := audT0.Add(3 * time.Hour)
	terms := func(role domain.Role, all bool, ids []uuid.UUID, actions []domain.Permission, exp *time.Time) domain.GrantTerms {
		return domain.GrantTerms{TenantID: tenant, PartnerID: partner, Role: role, AllAccounts: all, AccountIDs: ids, Actions: actions, ExpiresAt: exp}
	}
	var g domain.PartnerAccess
	steps := []struct {
		name   string
		decide func(now time.Time) ([]domain.Event, error)
		status domain.AccessStatus
	}{
		{"grant", func(now time.Time) ([]domain.Event, error) {
			return g.Grant(terms(domain.RolePartnerOperator, false, []uuid.UUID{b, a},
				[]domain.Permission{domain.PermUsageRecord, domain.PermSubscriptionsCreate}, nil), admin, now)
		}, domain.AccessActive},
		{"assign", func(now time.Time) ([]domain.Event, error) { return g.AssignAccount(c, admin, now) }, domain.AccessActive},
		{"assign again changes nothing", func(now time.Time) ([]domain.Event, error) { return g.AssignAccount(a, admin, now) }, domain.AccessActive},
		{"unassign", func(now time.Time) ([]domain.Event, error) { return g.UnassignAccount(b, admin, now) }, domain.AccessActive},
		{"change", func(now time.Time) ([]domain.Event, error) {
			return g.Change(terms(domain.RolePartnerViewer, true, nil, nil, &exp), other, now)
		}, domain.AccessActive},
		{"revoke", func(now time.Time) ([]domain.Event, error) { return g.Revoke("contract ended", admin, now) }, domain.AccessRevoked},
		{"re-grant", func(now time.Time) ([]domain.Event, error) {
			return g.Change(terms(domain.RolePartnerAdmin, false, []uuid.UUID{c}, nil, &later), other, now)
		}, domain.AccessActive},
	}
	for _, step := range steps {
		now := l.now()
		evs, err := step.decide(now)
		evs = audDecided(t, &g, evs, err)
		audApply(t, pool, l.add(audGrantStream(tenant, partner), audWho{tenant, admin}, audSubject{}, evs...))
		got, err := GetPartnerAccess(t.Context(), pool, tenant, partner, now)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got.Status != step.status {
			t.Fatalf("%s: status %s, want %s", step.name, got.Status, step.status)
		}
		audSameView(t, got, audViewOf(&g, now))
	}
	if !slices.Equal(g.AccountIDs, []uuid.UUID{c}) || g.Version != 6 {
		t.Fatalf("the steps did not run as meant: accounts %v, version %d", g.AccountIDs, g.Version)
	}
}

func TestPartnerAccessStatusAtNow(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	l := audNewLog(t)
	tenant := uuid.New()
	admin := domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	exp := audT0.Add(time.Hour)
	expiring, revoked, forever := uuid.New(), uuid.New(), uuid.New()
	for _, p := range []uuid.UUID{expiring, revoked, forever} {
		var g domain.PartnerAccess
		terms := domain.GrantTerms{TenantID: tenant, PartnerID: p, Role: domain.RolePartnerViewer, AllAccounts: true}
		if p != forever {
			terms.ExpiresAt = &exp
		}
		evs, err := g.Grant(terms, admin, l.now())
		evs = audDecided(t, &g, evs, err)
		if p == revoked {
			more, err := g.Revoke("", admin, l.now())
			evs = append(evs, audDecided(t, &g, more, err)...)
		}
		audApply(t, pool, l.add(audGrantStream(tenant, p), audWho{tenant, admin}, audSubject{}, evs...))
	}
	cases := []struct {
		name string
		now  time.Time
		want map[uuid.UUID]domain.AccessStatus
	}{
		{"before expiry", exp.Add(-time.Microsecond), map[uuid.UUID]domain.AccessStatus{
			expiring: domain.AccessActive, revoked: domain.AccessRevoked, forever: domain.AccessActive}},
		{"at expiry", exp, map[uuid.UUID]domain.AccessStatus{
			expiring: domain.AccessExpired, revoked: domain.AccessRevoked, forever: domain.AccessActive}},
		{"long after", exp.AddDate(1, 0, 0), map[uuid.UUID]domain.AccessStatus{
			expiring: domain.AccessExpired, revoked: domain.AccessRevoked, forever: domain.AccessActive}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			list, err := ListPartnerAccess(t.Context(), pool, tenant, Page{}, c.now)
			if err != nil {
				t.Fatal(err)
			}
			got := map[uuid.UUID]domain.AccessStatus{}
			for _, v := range list.Items {
				got[v.PartnerID] = v.Status
				one, err := GetPartnerAccess(t.Context(), pool, tenant, v.PartnerID, c.now)
				if err != nil || one.Status != v.Status {
					t.Fatalf("get %s: %v, %v; the list says %s", v.PartnerID, one.Status, err, v.Status)
				}
			}
			if !maps.Equal(got, c.want) {
				t.Fatalf("statuses %v, want %v", got, c.want)
			}
		})
	}
}

// audGrantAll grants partner access to each partner from each tenant,
// recording the grants in l.
func audGrantAll(t *testing.T, pool *pgxpool.Pool, l *audLog, tenants, partners []uuid.UUID) {
	t.Helper()
	admin := domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	var batch []eventstore.Event
	for _, tenant := range tenants {
		for _, p := range partners {
			var g domain.PartnerAccess
			evs, err := g.Grant(domain.GrantTerms{TenantID: tenant, PartnerID: p, Role: domain.RolePartnerViewer, AllAccounts: true}, admin, l.now())
			batch = append(batch, l.add(audGrantStream(tenant, p), audWho{tenant, admin}, audSubject{}, audDecided(t, &g, evs, err)...)...)
		}
	}
	audApply(t, pool, batch)
}

// audPages reads every page of list at limit and returns the items, and
// checks that no page is over the limit or ends early.
func audPages[T any](t *testing.T, limit int, list func(Page) (List[T], error)) []T {
	t.Helper()
	var all []T
	page := Page{Limit: limit}
	for range 1000 {
		got, err := list(page)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Items) > limit || (got.NextCursor != nil && len(got.Items) != limit) {
			t.Fatalf("page of %d items at limit %d, next cursor %v", len(got.Items), limit, got.NextCursor)
		}
		all = append(all, got.Items...)
		if got.NextCursor == nil {
			return all
		}
		page.Cursor = *got.NextCursor
	}
	t.Fatal("pages never end")
	return nil
}

func TestPartnerAccessPagination(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	t1, t2, t3 := uuid.New(), uuid.New(), uuid.New()
	partners := make([]uuid.UUID, 7)
	for i := range partners {
		partners[i] = uuid.New()
	}
	l := audNewLog(t)
	audGrantAll(t, pool, l, []uuid.UUID{t1}, partners)
	audGrantAll(t, pool, l, []uuid.UUID{t2, t3}, partners[2:4])
	sorted := func(ids ...uuid.UUID) []uuid.UUID { return slices.SortedFunc(slices.Values(ids), audCompareUUID) }
	now := audT0
	cases := []struct {
		name string
		list func(Page) (List[AccessView], error)
		key  func(AccessView) uuid.UUID
		want []uuid.UUID
	}{
		{"tenant's grants", func(p Page) (List[AccessView], error) { return ListPartnerAccess(t.Context(), pool, t1, p, now) },
			func(v AccessView) uuid.UUID { return v.PartnerID }, sorted(partners...)},
		{"other tenant's grants", func(p Page) (List[AccessView], error) { return ListPartnerAccess(t.Context(), pool, t2, p, now) },
			func(v AccessView) uuid.UUID { return v.PartnerID }, sorted(partners[2:4]...)},
		{"no grants", func(p Page) (List[AccessView], error) {
			return ListPartnerAccess(t.Context(), pool, uuid.New(), p, now)
		},
			func(v AccessView) uuid.UUID { return v.PartnerID }, nil},
		{"partner's tenants", func(p Page) (List[AccessView], error) {
			return ListPartnerTenants(t.Context(), pool, partners[3], p, now)
		},
			func(v AccessView) uuid.UUID { return v.TenantID }, sorted(t1, t2, t3)},
		{"partner of one tenant", func(p Page) (List[AccessView], error) {
			return ListPartnerTenants(t.Context(), pool, partners[0], p, now)
		},
			func(v AccessView) uuid.UUID { return v.TenantID }, []uuid.UUID{t1}},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 2, 3, 7, DefaultLimit} {
			t.Run(fmt.Sprintf("%s limit %d", c.name, limit), func(t *testing.T) {
				t.Parallel()
				var got []uuid.UUID
				for _, v := range audPages(t, limit, c.list) {
					got = append(got, c.key(v))
				}
				if !slices.Equal(got, c.want) {
					t.Fatalf("limit %d: %v, want %v", limit, got, c.want)
				}
			})
		}
	}
}

func audCompareUUID(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }

func TestPartnerAccessAbsentOrRefused(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	t1, t2, p1, p2 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	l := audNewLog(t)
	audGrantAll(t, pool, l, []uuid.UUID{t1}, []uuid.UUID{p1, p2})
	audGrantAll(t, pool, l, []uuid.UUID{t2}, []uuid.UUID{p1})
	cases := []struct {
		name string
		call func() error
		kind error
	}{
		{"grant of another tenant", func() error { _, err := GetPartnerAccess(t.Context(), pool, t2, p2, audT0); return err }, domain.ErrNotFound},
		{"unknown partner", func() error { _, err := GetPartnerAccess(t.Context(), pool, t1, uuid.New(), audT0); return err }, domain.ErrNotFound},
		{"bad cursor", func() error {
			_, err := ListPartnerAccess(t.Context(), pool, t1, Page{Cursor: "!!"}, audT0)
			return err
		}, domain.ErrInvalid},
		{"limit too high", func() error {
			_, err := ListPartnerTenants(t.Context(), pool, p1, Page{Limit: MaxLimit + 1}, audT0)
			return err
		}, domain.ErrInvalid},
		{"negative limit", func() error { _, err := ListPartnerAccess(t.Context(), pool, t1, Page{Limit: -1}, audT0); return err }, domain.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := c.call(); !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
		})
	}
	empty, err := ListPartnerAccess(t.Context(), pool, uuid.New(), Page{}, audT0)
	if err != nil || empty.Items == nil || len(empty.Items) != 0 || empty.NextCursor != nil {
		t.Fatalf("empty list = %+v, %v; want [] and no cursor", empty, err)
	}
}

func TestAccessViewRepresentation(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	tenant, partner := uuid.New(), uuid.New()
	audGrantAll(t, pool, audNewLog(t), []uuid.UUID{tenant}, []uuid.UUID{partner})
	v, err := GetPartnerAccess(t.Context(), pool, tenant, partner, audT0)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	want := []string{"account_ids", "actions", "all_accounts", "expires_at", "granted_by", "partner_id", "role", "status",
		"tenant_id", "version"}
	if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	for k, w := range map[string]string{"account_ids": "[]", "actions": "null", "expires_at": "null", "status": `"active"`} {
		if string(keys[k]) != w {
			t.Errorf("%s = %s, want %s", k, keys[k], w)
		}
	}
}

func TestPartnersAndTenantsTables(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	l := audNewLog(t)
	op := domain.Actor{Type: domain.ActorOperator, ID: uuid.New()}
	tenant, partner := uuid.New(), uuid.New()
	var tn domain.Tenant
	evs, err := tn.Create(domain.CreateTenant{TenantID: tenant, Name: "Acme",
		Admin: domain.NewUser{ID: uuid.New(), Name: "Ada", Role: domain.RoleTenantAdmin, KeyHash: "t"}}, op, l.now())
	batch := l.add("tenant-"+tenant.String(), audWho{tenant, op}, audSubject{}, audDecided(t, &tn, evs, err)...)
	var p domain.Partner
	evs, err = p.Create(domain.CreatePartner{PartnerID: partner, Name: "Resell Co",
		Admin: domain.NewUser{ID: uuid.New(), Name: "Pat", Role: domain.RolePartnerAdmin, KeyHash: "p"}}, op, l.now())
	batch = append(batch, l.add("partner-"+partner.String(), audWho{uuid.Nil, op}, audSubject{}, audDecided(t, &p, evs, err)...)...)
	evs, err = p.AddUser(domain.NewUser{ID: uuid.New(), Name: "Sam", Role: domain.RolePartnerViewer, KeyHash: "s"}, op, l.now())
	batch = append(batch, l.add("partner-"+partner.String(), audWho{uuid.Nil, op}, audSubject{}, audDecided(t, &p, evs, err)...)...)
	audApply(t, pool, batch)
	var tName, pName string
	var tCreated, pCreated time.Time
	var version int64
	err = pool.QueryRow(t.Context(), `SELECT t.name, t.created_at, p.name, p.created_at, p.version
FROM `+table(LiveSchema, "tenants")+` t, `+table(LiveSchema, "partners")+` p WHERE t.tenant_id = $1 AND p.partner_id = $2`,
		tenant, partner).Scan(&tName, &tCreated, &pName, &pCreated, &version)
	if err != nil {
		t.Fatal(err)
	}
	if tName != tn.Name || !tCreated.Equal(tn.CreatedAt) || pName != p.Name || !pCreated.Equal(p.CreatedAt) || uint64(version) != p.Version {
		t.Fatalf("tenant %q %v, partner %q %v version %d; want %q %v, %q %v version %d",
			tName, tCreated, pName, pCreated, version, tn.Name, tn.CreatedAt, p.Name, p.CreatedAt, p.Version)
	}
}

func TestPartnersReapplyIsIdempotent(t *testing.T) {
	t.Parallel()
	pool := audDB(t)
	l := audNewLog(t)
	tenant, partner := uuid.New(), uuid.New()
	admin := domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	a, b := uuid.New(), uuid.New()
	var g domain.PartnerAccess
	var batch []eventstore.Event
	decide := func(evs []domain.Event, err error) {
		batch = append(batch, l.add(audGrantStream(tenant, partner), audWho{tenant, admin}, audSubject{}, audDecided(t, &g, evs, err)...)...)
	}
	decide(g.Grant(domain.GrantTerms{TenantID: tenant, PartnerID: partner, Role: domain.RolePartnerAdmin, AccountIDs: []uuid.UUID{a}}, admin, l.now()))
	decide(g.AssignAccount(b, admin, l.now()))
	decide(g.UnassignAccount(a, admin, l.now()))
	decide(g.Revoke("", admin, l.now()))
	decide(g.Change(domain.GrantTerms{TenantID: tenant, PartnerID: partner, Role: domain.RolePartnerViewer, AccountIDs: []uuid.UUID{a}}, admin, l.now()))
	audApply(t, pool, batch[:2])
	audApply(t, pool, batch)     // the first two skipped by the checkpoint
	audApply(t, pool, batch[1:]) // all skipped
	// Past the checkpoint, the rows' guards hold: replaying all but the
	// last event (the re-grant) must not revoke the grant again.
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		return Partners{}.Apply(t.Context(), tx, LiveSchema, batch[:len(batch)-1])
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := GetPartnerAccess(t.Context(), pool, tenant, partner, l.now())
	if err != nil {
		t.Fatal(err)
	}
	audSameView(t, got, audViewOf(&g, l.now()))
}
