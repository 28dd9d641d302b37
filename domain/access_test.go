package domain

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

var iamAdmin = Actor{Type: ActorTenantUser, ID: iamID(1)}

func iamTime(d time.Duration) *time.Time {
	t := iamNow.Add(d)
	return &t
}

func iamTerms(role Role, all bool, ids ...uuid.UUID) GrantTerms {
	return GrantTerms{TenantID: iamTenant, PartnerID: iamPartner, Role: role, AllAccounts: all, AccountIDs: ids}
}

// iamGrant returns the state after events decided in turn by steps.
func iamGrant(t *testing.T, steps ...func(g *PartnerAccess) ([]Event, error)) *PartnerAccess {
	t.Helper()
	var g PartnerAccess
	for _, step := range steps {
		for _, e := range iamMust(t)(step(&g)) {
			g.Apply(e)
		}
	}
	return &g
}

func iamPut(terms GrantTerms, now time.Time) func(g *PartnerAccess) ([]Event, error) {
	return func(g *PartnerAccess) ([]Event, error) { return g.Put(terms, iamAdmin, now) }
}

func iamRevoke(now time.Time) func(g *PartnerAccess) ([]Event, error) {
	return func(g *PartnerAccess) ([]Event, error) { return g.Revoke("ended", iamAdmin, now) }
}

func TestPartnerAccessGrantValidation(t *testing.T) {
	t.Parallel()
	a, b := iamID(10), iamID(11)
	tests := []struct {
		name   string
		terms  GrantTerms
		fields []string
	}{
		{"tenant role", iamTerms(RoleTenantAdmin, true), []string{"role"}},
		{"no role", iamTerms("", true), []string{"role"}},
		{"all with ids", iamTerms(RolePartnerViewer, true, a), []string{"account_ids"}},
		{"duplicate id", iamTerms(RolePartnerViewer, false, a, b, a), []string{"account_ids[2]"}},
		{"nil id", iamTerms(RolePartnerViewer, false, a, uuid.Nil), []string{"account_ids[1]"}},
		{"read action", func() GrantTerms {
			g := iamTerms(RolePartnerAdmin, true)
			g.Actions = []Permission{PermAccountsRead}
			return g
		}(), []string{"actions[0]"}},
		{"unknown and duplicate actions", func() GrantTerms {
			g := iamTerms(RolePartnerAdmin, true)
			g.Actions = []Permission{PermUsageRecord, "usage.delete", PermUsageRecord}
			return g
		}(), []string{"actions[1]", "actions[2]"}},
		{"expires now", func() GrantTerms {
			g := iamTerms(RolePartnerAdmin, true)
			g.ExpiresAt = iamTime(0)
			return g
		}(), []string{"expires_at"}},
		{"expired", func() GrantTerms {
			g := iamTerms(RolePartnerAdmin, true)
			g.ExpiresAt = iamTime(-time.Hour)
			return g
		}(), []string{"expires_at"}},
		{"no ids at all", GrantTerms{Role: RolePartnerAdmin, AllAccounts: true}, []string{"tenant_id", "partner_id"}},
		{"everything wrong", GrantTerms{TenantID: iamTenant, PartnerID: iamPartner, Role: "boss",
			AllAccounts: true, AccountIDs: []uuid.UUID{a}, Actions: []Permission{PermAuditRead},
			ExpiresAt: iamTime(-time.Second)}, []string{"role", "account_ids", "actions[0]", "expires_at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var g PartnerAccess
			_, err := g.Grant(tt.terms, iamAdmin, iamNow)
			iamWantErr(t, err, ErrInvalid, "validation_failed", tt.fields[0])
			var de *Error
			errors.As(err, &de)
			var got []string
			for _, f := range de.Fields {
				got = append(got, f.Field)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestPartnerAccessGrant(t *testing.T) {
	t.Parallel()
	a, b := iamID(10), iamID(11)
	terms := iamTerms(RolePartnerOperator, false, b, a)
	terms.Actions = []Permission{PermUsageRecord, PermSubscriptionsAmend}
	terms.ExpiresAt = iamTime(24 * time.Hour)
	var g PartnerAccess
	events := iamMust(t)(g.Grant(terms, iamAdmin, iamNow))
	ids := []uuid.UUID{a, b}
	if compareUUID(a, b) > 0 {
		ids = []uuid.UUID{b, a}
	}
	want := &PartnerAccessGranted{TenantID: iamTenant, PartnerID: iamPartner, Role: RolePartnerOperator,
		AccountIDs: ids, Actions: []Permission{PermSubscriptionsAmend, PermUsageRecord},
		ExpiresAt: iamTime(24 * time.Hour), GrantedBy: iamAdmin, GrantedAt: iamNow}
	if len(events) != 1 || !reflect.DeepEqual(events[0], want) {
		t.Fatalf("events %#v, want %#v", events, want)
	}
	g.Apply(events[0])
	if g.StatusAt(iamNow) != AccessActive || g.Version != 1 {
		t.Fatalf("state %+v", g)
	}
	_, err := g.Grant(terms, iamAdmin, iamNow)
	iamWantErr(t, err, ErrConflict, "conflict", "")
}

func TestPartnerAccessLifecycle(t *testing.T) {
	t.Parallel()
	a := iamID(10)
	g := iamGrant(t, iamPut(iamTerms(RolePartnerViewer, true), iamNow))

	same := iamMust(t)(g.Put(iamTerms(RolePartnerViewer, true), iamAdmin, iamNow.Add(time.Minute)))
	if len(same) != 0 {
		t.Fatalf("PUT of the same terms decided %v", same)
	}
	changed := iamMust(t)(g.Put(iamTerms(RolePartnerAdmin, false, a), iamAdmin, iamNow.Add(time.Minute)))
	if _, ok := changed[0].(*PartnerAccessChanged); !ok || len(changed) != 1 {
		t.Fatalf("PUT on a grant decided %#v", changed)
	}
	g.Apply(changed[0])
	if g.Role != RolePartnerAdmin || g.AllAccounts || !reflect.DeepEqual(g.AccountIDs, []uuid.UUID{a}) {
		t.Fatalf("changed state %+v", g)
	}

	revoked := iamMust(t)(g.Revoke(" contract over ", iamAdmin, iamNow.Add(2*time.Minute)))
	g.Apply(revoked[0])
	if g.StatusAt(iamNow.Add(2*time.Minute)) != AccessRevoked || g.RevokeReason != "contract over" {
		t.Fatalf("revoked state %+v", g)
	}
	if again := iamMust(t)(g.Revoke("", iamAdmin, iamNow.Add(3*time.Minute))); len(again) != 0 {
		t.Fatalf("second revoke decided %v", again)
	}

	regrant := iamMust(t)(g.Put(iamTerms(RolePartnerAdmin, false, a), iamAdmin, iamNow.Add(4*time.Minute)))
	if len(regrant) != 1 {
		t.Fatalf("re-grant with the same terms decided %v", regrant)
	}
	g.Apply(regrant[0])
	if g.StatusAt(iamNow.Add(4*time.Minute)) != AccessActive || g.Revoked || g.Version != 4 ||
		g.GrantedAt != iamNow.Add(4*time.Minute) {
		t.Fatalf("re-granted state %+v", g)
	}
}

func TestPartnerAccessRefusals(t *testing.T) {
	t.Parallel()
	other := iamTerms(RolePartnerViewer, true)
	other.PartnerID = iamID(99)
	tests := []struct {
		name   string
		steps  []func(g *PartnerAccess) ([]Event, error)
		decide func(g *PartnerAccess) ([]Event, error)
		kind   error
		code   string
	}{
		{"change without grant", nil, func(g *PartnerAccess) ([]Event, error) {
			return g.Change(iamTerms(RolePartnerViewer, true), iamAdmin, iamNow)
		}, ErrNotFound, "not_found"},
		{"revoke without grant", nil, iamRevoke(iamNow), ErrNotFound, "not_found"},
		{"assign without grant", nil, func(g *PartnerAccess) ([]Event, error) {
			return g.AssignAccount(iamID(10), iamAdmin, iamNow)
		}, ErrNotFound, "not_found"},
		{"change of another partner", []func(g *PartnerAccess) ([]Event, error){iamPut(iamTerms(RolePartnerViewer, true), iamNow)},
			func(g *PartnerAccess) ([]Event, error) { return g.Change(other, iamAdmin, iamNow) }, ErrInvalid, "validation_failed"},
		{"long reason", []func(g *PartnerAccess) ([]Event, error){iamPut(iamTerms(RolePartnerViewer, true), iamNow)},
			func(g *PartnerAccess) ([]Event, error) { return g.Revoke(strings.Repeat("r", 501), iamAdmin, iamNow) },
			ErrRule, CodeValueTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := iamGrant(t, tt.steps...)
			_, err := tt.decide(g)
			iamWantErr(t, err, tt.kind, tt.code, "")
		})
	}
}

func TestPartnerAccessAssign(t *testing.T) {
	t.Parallel()
	a, b := iamID(10), iamID(11)
	listed := iamPut(iamTerms(RolePartnerOperator, false, a), iamNow)
	assign := func(id uuid.UUID) func(g *PartnerAccess) ([]Event, error) {
		return func(g *PartnerAccess) ([]Event, error) { return g.AssignAccount(id, iamAdmin, iamNow) }
	}
	unassign := func(id uuid.UUID) func(g *PartnerAccess) ([]Event, error) {
		return func(g *PartnerAccess) ([]Event, error) { return g.UnassignAccount(id, iamAdmin, iamNow) }
	}
	tests := []struct {
		name   string
		setup  []func(g *PartnerAccess) ([]Event, error)
		decide func(g *PartnerAccess) ([]Event, error)
		events int
		code   string
		ids    []uuid.UUID
	}{
		{"assign new", nil, assign(b), 1, "", nil},
		{"assign listed", nil, assign(a), 0, "", []uuid.UUID{a}},
		{"assign nil", nil, assign(uuid.Nil), 0, "validation_failed", nil},
		{"assign on all", []func(g *PartnerAccess) ([]Event, error){iamPut(iamTerms(RolePartnerOperator, true), iamNow)},
			assign(b), 0, "", []uuid.UUID{}},
		{"assign on revoked", []func(g *PartnerAccess) ([]Event, error){iamRevoke(iamNow)}, assign(b), 0,
			"partner_access_revoked", nil},
		{"unassign listed", nil, unassign(a), 1, "", []uuid.UUID{}},
		{"unassign unlisted", nil, unassign(b), 0, "", []uuid.UUID{a}},
		{"unassign on all", []func(g *PartnerAccess) ([]Event, error){iamPut(iamTerms(RolePartnerOperator, true), iamNow)},
			unassign(a), 0, "all_accounts_grant", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := iamGrant(t, append([]func(g *PartnerAccess) ([]Event, error){listed}, tt.setup...)...)
			before := *g
			events, err := tt.decide(g)
			if !reflect.DeepEqual(*g, before) {
				t.Fatal("a decide method mutated the state")
			}
			if tt.code != "" {
				var de *Error
				if !errors.As(err, &de) || de.Code != tt.code {
					t.Fatalf("error %v, want code %q", err, tt.code)
				}
				return
			}
			if iamMust(t)(events, err); len(events) != tt.events {
				t.Fatalf("events %v, want %d", events, tt.events)
			}
			for _, e := range events {
				g.Apply(e)
			}
			if tt.ids != nil && !reflect.DeepEqual(g.AccountIDs, tt.ids) {
				t.Fatalf("account ids %v, want %v", g.AccountIDs, tt.ids)
			}
			if tt.ids == nil && !slices.Contains(g.AccountIDs, b) {
				t.Fatalf("account ids %v, want %v in them", g.AccountIDs, b)
			}
		})
	}
}

func TestPartnerAccessStatusAt(t *testing.T) {
	t.Parallel()
	expiring := iamTerms(RolePartnerViewer, true)
	expiring.ExpiresAt = iamTime(time.Hour)
	tests := []struct {
		name  string
		steps []func(g *PartnerAccess) ([]Event, error)
		at    time.Time
		want  AccessStatus
	}{
		{"none", nil, iamNow, ""},
		{"no expiry", []func(g *PartnerAccess) ([]Event, error){iamPut(iamTerms(RolePartnerViewer, true), iamNow)},
			iamNow.Add(100 * 365 * 24 * time.Hour), AccessActive},
		{"before expiry", []func(g *PartnerAccess) ([]Event, error){iamPut(expiring, iamNow)},
			iamNow.Add(time.Hour - time.Nanosecond), AccessActive},
		{"at expiry", []func(g *PartnerAccess) ([]Event, error){iamPut(expiring, iamNow)},
			iamNow.Add(time.Hour), AccessExpired},
		{"after expiry", []func(g *PartnerAccess) ([]Event, error){iamPut(expiring, iamNow)},
			iamNow.Add(2 * time.Hour), AccessExpired},
		{"revoked before expiry", []func(g *PartnerAccess) ([]Event, error){iamPut(expiring, iamNow), iamRevoke(iamNow)},
			iamNow, AccessRevoked},
		{"revoked and expired", []func(g *PartnerAccess) ([]Event, error){iamPut(expiring, iamNow), iamRevoke(iamNow)},
			iamNow.Add(2 * time.Hour), AccessRevoked},
		{"expired then extended", []func(g *PartnerAccess) ([]Event, error){iamPut(expiring, iamNow),
			iamPut(iamTerms(RolePartnerViewer, true), iamNow.Add(2*time.Hour))}, iamNow.Add(3 * time.Hour), AccessActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := iamGrant(t, tt.steps...).StatusAt(tt.at); got != tt.want {
				t.Fatalf("StatusAt = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPartnerAccessScope(t *testing.T) {
	t.Parallel()
	a, b, c := iamID(10), iamID(11), iamID(12)
	listed := iamGrant(t, iamPut(iamTerms(RolePartnerViewer, false, a), iamNow))
	all := iamGrant(t, iamPut(iamTerms(RolePartnerViewer, true), iamNow))
	tests := []struct {
		name      string
		grant     *PartnerAccess
		account   uuid.UUID
		createdBy uuid.UUID
		want      bool
	}{
		{"listed", listed, a, uuid.Nil, true},
		{"unlisted", listed, b, uuid.Nil, false},
		{"created by the partner", listed, c, iamPartner, true},
		{"created by another partner", listed, c, iamID(98), false},
		{"all accounts", all, b, uuid.Nil, true},
		{"no account", all, uuid.Nil, uuid.Nil, false},
		{"no grant", nil, a, iamPartner, false},
		{"empty grant", &PartnerAccess{}, a, uuid.Nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Scope(tt.grant).Includes(tt.account, tt.createdBy); got != tt.want {
				t.Fatalf("Includes = %v, want %v", got, tt.want)
			}
		})
	}
	if s := Scope(listed); s.All || len(s.AccountIDs) != 1 || s.PartnerID != iamPartner {
		t.Fatalf("Scope(listed) = %+v", s)
	}
}

func TestPartnerAccessEventNames(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]Event{
		"PartnerAccessGranted": &PartnerAccessGranted{}, "PartnerAccessChanged": &PartnerAccessChanged{},
		"PartnerAccessAccountAssigned":   &PartnerAccessAccountAssigned{},
		"PartnerAccessAccountUnassigned": &PartnerAccessAccountUnassigned{},
		"PartnerAccessRevoked":           &PartnerAccessRevoked{},
	} {
		if e.EventType() != name {
			t.Errorf("%T.EventType() = %q, want %q", e, e.EventType(), name)
		}
		if _, version, data, err := MarshalEvent(e); err != nil {
			t.Errorf("%s is not registered: %v", name, err)
		} else if _, err := UnmarshalEvent(name, version, data); err != nil {
			t.Errorf("%s does not decode: %v", name, err)
		}
	}
}

// iamDrawTerms draws grant terms, valid or not, around instant now.
func iamDrawTerms(rt *rapid.T, now time.Time) GrantTerms {
	terms := GrantTerms{TenantID: iamTenant, PartnerID: iamPartner,
		Role:        rapid.SampledFrom([]Role{RolePartnerAdmin, RolePartnerOperator, RolePartnerViewer, RoleFinance}).Draw(rt, "role"),
		AllAccounts: rapid.Bool().Draw(rt, "all")}
	for range rapid.IntRange(0, 3).Draw(rt, "n_ids") {
		terms.AccountIDs = append(terms.AccountIDs, iamID(10+rapid.IntRange(0, 4).Draw(rt, "id")))
	}
	for range rapid.IntRange(0, 2).Draw(rt, "n_actions") {
		terms.Actions = append(terms.Actions, rapid.SampledFrom(AllPermissions()).Draw(rt, "action"))
	}
	if rapid.Bool().Draw(rt, "expires") {
		terms.ExpiresAt = new(now.Add(time.Duration(rapid.IntRange(-3600, 4*86400).Draw(rt, "exp")) * time.Second))
	}
	return terms
}

func TestPartnerAccessProperty(t *testing.T) {
	t.Parallel()
	user := Principal{Type: ActorPartnerUser, ID: iamID(50), PartnerID: iamPartner, Role: RolePartnerViewer}
	rapid.Check(t, func(rt *rapid.T) {
		var g PartnerAccess
		var log []Event
		now, revoked := iamNow, false
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 86400).Draw(rt, "secs")) * time.Second)
			account := iamID(10 + rapid.IntRange(0, 4).Draw(rt, "account"))
			var events []Event
			var err error
			switch rapid.SampledFrom([]string{"put", "assign", "unassign", "revoke"}).Draw(rt, "op") {
			case "put":
				events, err = g.Put(iamDrawTerms(rt, now), iamAdmin, now)
			case "assign":
				events, err = g.AssignAccount(account, iamAdmin, now)
			case "unassign":
				events, err = g.UnassignAccount(account, iamAdmin, now)
			case "revoke":
				events, err = g.Revoke("", iamAdmin, now)
			}
			if err != nil {
				var de *Error
				if !errors.As(err, &de) {
					rt.Fatalf("untyped refusal %v", err)
				}
				continue
			}
			for _, e := range events {
				switch e.(type) {
				case *PartnerAccessRevoked:
					revoked = true
				case *PartnerAccessGranted, *PartnerAccessChanged:
					revoked = false
				}
				g.Apply(e)
				log = append(log, e)
			}
			iamCheckGrantAt(rt, &g, user, now, revoked)
		}
		if got := iamReplay[PartnerAccess](log); !reflect.DeepEqual(got, &g) {
			rt.Fatalf("replay:\n got %+v\nwant %+v", got, &g)
		}
		if got := iamReplay[PartnerAccess](iamRoundTrip(rt, log)); !reflect.DeepEqual(got, &g) {
			rt.Fatalf("replay through JSON:\n got %+v\nwant %+v", got, &g)
		}
	})
}

// iamCheckGrantAt checks, at instants around now, that a revoked grant
// is revoked (and refuses p) and that StatusAt is monotonic in time.
func iamCheckGrantAt(rt *rapid.T, g *PartnerAccess, p Principal, now time.Time, revoked bool) {
	rt.Helper()
	t1 := now.Add(time.Duration(rapid.IntRange(-86400, 5*86400).Draw(rt, "t1")) * time.Second)
	t2 := t1.Add(time.Duration(rapid.IntRange(0, 5*86400).Draw(rt, "dt")) * time.Second)
	s1, s2 := g.StatusAt(t1), g.StatusAt(t2)
	if revoked {
		if s1 != AccessRevoked || s2 != AccessRevoked {
			rt.Fatalf("revoked grant has status %q at %v and %q at %v", s1, t1, s2, t2)
		}
		err := Authorize(p, iamTenant, g, PermAccountsRead, Target{}, t2)
		iamWantErr(rt, err, ErrForbidden, "partner_access_revoked", "")
		return
	}
	if s1 == AccessRevoked || s2 == AccessRevoked {
		rt.Fatalf("grant not revoked has status %q, %q", s1, s2)
	}
	if s1 == AccessExpired && s2 != AccessExpired {
		rt.Fatalf("status %q at %v but %q later at %v", s1, t1, s2, t2)
	}
}
