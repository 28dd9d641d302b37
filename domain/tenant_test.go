package domain

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

// Helpers shared by tenant_test.go, partner_test.go, access_test.go and
// permissions_test.go carry the prefix iam, so as not to collide with the
// other tests of the package.

var (
	iamNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	iamOp     = Actor{Type: ActorOperator}
	iamTenant = uuid.MustParse("11111111-1111-4111-8111-111111111111")
)

// iamID returns a stable id for n, so that tests and rapid draws are
// deterministic.
func iamID(n int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("iam-"+strconv.Itoa(n)))
}

// iamTB is what the helpers need of *testing.T and *rapid.T.
type iamTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// iamReplay evolves a fresh state of type S by events.
func iamReplay[S any, P interface {
	*S
	Apply(Event)
}](events []Event) P {
	p := P(new(S))
	for _, e := range events {
		p.Apply(e)
	}
	return p
}

// iamRoundTrip passes events through MarshalEvent and UnmarshalEvent.
func iamRoundTrip(t iamTB, events []Event) []Event {
	t.Helper()
	out := make([]Event, 0, len(events))
	for _, e := range events {
		name, version, data, err := MarshalEvent(e)
		if err != nil {
			t.Fatalf("marshal %T: %v", e, err)
		}
		back, err := UnmarshalEvent(name, version, data)
		if err != nil {
			t.Fatalf("unmarshal %s: %v", name, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("%s round trip:\n got %#v\nwant %#v", name, back, e)
		}
		out = append(out, back)
	}
	return out
}

// iamWantErr checks that err is a domain *Error of kind and code, naming
// field first when field is not empty.
func iamWantErr(t iamTB, err error, kind error, code, field string) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want a *Error of kind %v", err, err, kind)
	}
	if !errors.Is(err, kind) || de.Code != code {
		t.Fatalf("error %v: kind %v code %q, want kind %v code %q", err, de.Kind, de.Code, kind, code)
	}
	if field != "" && (len(de.Fields) == 0 || de.Fields[0].Field != field) {
		t.Fatalf("error %v: fields %+v, want first %q", err, de.Fields, field)
	}
}

// iamMust returns a function that fails t on a refusal and otherwise
// returns the events: iamMust(t)(agg.Decide(...)).
func iamMust(t iamTB) func([]Event, error) []Event {
	return func(events []Event, err error) []Event {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected refusal: %v", err)
		}
		return events
	}
}

func iamNewTenant(t *testing.T) (*Tenant, []Event) {
	t.Helper()
	var ten Tenant
	events := iamMust(t)(ten.Create(CreateTenant{TenantID: iamTenant, Name: " Acme ",
		Admin: NewUser{ID: iamID(1), Name: "Ada", Role: RoleTenantAdmin, KeyHash: "h1"}}, iamOp, iamNow))
	for _, e := range events {
		ten.Apply(e)
	}
	return &ten, events
}

func TestTenantCreate(t *testing.T) {
	t.Parallel()
	ten, events := iamNewTenant(t)
	want := []Event{
		&TenantCreated{TenantID: iamTenant, Name: "Acme", CreatedBy: iamOp, CreatedAt: iamNow},
		&TenantUserAdded{TenantID: iamTenant, UserID: iamID(1), Name: "Ada", Role: RoleTenantAdmin,
			KeyHash: "h1", AddedBy: iamOp, AddedAt: iamNow},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events %#v, want %#v", events, want)
	}
	if ten.Version != 2 || !ten.Exists() || ten.Users[iamID(1)].Status != UserActive {
		t.Fatalf("state %+v", ten)
	}
	_, err := ten.Create(CreateTenant{TenantID: iamTenant, Name: "Again",
		Admin: NewUser{ID: iamID(2), Name: "B", Role: RoleTenantAdmin, KeyHash: "h2"}}, iamOp, iamNow)
	iamWantErr(t, err, ErrConflict, "conflict", "")
}

func TestTenantCreateInvalid(t *testing.T) {
	t.Parallel()
	admin := NewUser{ID: iamID(1), Name: "Ada", Role: RoleTenantAdmin, KeyHash: "h1"}
	tests := []struct {
		name  string
		cmd   CreateTenant
		field string
	}{
		{"empty name", CreateTenant{TenantID: iamTenant, Name: "  ", Admin: admin}, "name"},
		{"no id", CreateTenant{Name: "Acme", Admin: admin}, "tenant_id"},
		{"admin not tenant_admin", CreateTenant{TenantID: iamTenant, Name: "Acme",
			Admin: NewUser{ID: iamID(1), Name: "Ada", Role: RoleFinance, KeyHash: "h1"}}, "admin.role"},
		{"admin without name", CreateTenant{TenantID: iamTenant, Name: "Acme",
			Admin: NewUser{ID: iamID(1), Role: RoleTenantAdmin, KeyHash: "h1"}}, "admin.name"},
		{"admin without key", CreateTenant{TenantID: iamTenant, Name: "Acme",
			Admin: NewUser{ID: iamID(1), Name: "Ada", Role: RoleTenantAdmin}}, "admin.key_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ten Tenant
			_, err := ten.Create(tt.cmd, iamOp, iamNow)
			iamWantErr(t, err, ErrInvalid, "validation_failed", tt.field)
		})
	}
	var ten Tenant
	iamMust(t)(ten.Create(CreateTenant{TenantID: iamTenant, Name: strings.Repeat("é", 200), Admin: admin}, iamOp, iamNow))
}

func TestTenantAddUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		user  NewUser
		kind  error
		code  string
		field string
	}{
		{"tenant_admin", NewUser{ID: iamID(2), Name: "B", Role: RoleTenantAdmin, KeyHash: "h2"}, nil, "", ""},
		{"finance", NewUser{ID: iamID(2), Name: "B", Role: RoleFinance, KeyHash: "h2"}, nil, "", ""},
		{"auditor", NewUser{ID: iamID(2), Name: "B", Role: RoleAuditor, KeyHash: "h2"}, nil, "", ""},
		{"partner role", NewUser{ID: iamID(2), Name: "B", Role: RolePartnerAdmin, KeyHash: "h2"}, ErrInvalid, "validation_failed", "role"},
		{"no role", NewUser{ID: iamID(2), Name: "B", KeyHash: "h2"}, ErrInvalid, "validation_failed", "role"},
		{"empty name", NewUser{ID: iamID(2), Name: "", Role: RoleAuditor, KeyHash: "h2"}, ErrInvalid, "validation_failed", "name"},
		{"long name", NewUser{ID: iamID(2), Name: strings.Repeat("x", 201), Role: RoleAuditor, KeyHash: "h2"}, ErrRule, "value_too_long", "name"},
		{"no key", NewUser{ID: iamID(2), Name: "B", Role: RoleAuditor}, ErrInvalid, "validation_failed", "key_hash"},
		{"no id", NewUser{Name: "B", Role: RoleAuditor, KeyHash: "h2"}, ErrInvalid, "validation_failed", "id"},
		{"same id", NewUser{ID: iamID(1), Name: "B", Role: RoleAuditor, KeyHash: "h2"}, ErrConflict, "conflict", ""},
		{"same key", NewUser{ID: iamID(2), Name: "B", Role: RoleAuditor, KeyHash: "h1"}, ErrConflict, "conflict", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ten, _ := iamNewTenant(t)
			events, err := ten.AddUser(tt.user, iamOp, iamNow)
			if tt.kind != nil {
				iamWantErr(t, err, tt.kind, tt.code, tt.field)
				return
			}
			iamMust(t)(events, err)
			ten.Apply(events[0])
			if u, ok := ten.UserByKeyHash("h2"); !ok || u.Role != tt.user.Role || u.ID != iamID(2) {
				t.Fatalf("UserByKeyHash(h2) = %+v, %v", u, ok)
			}
		})
	}
	var none Tenant
	_, err := none.AddUser(NewUser{ID: iamID(2), Name: "B", Role: RoleAuditor, KeyHash: "h2"}, iamOp, iamNow)
	iamWantErr(t, err, ErrNotFound, "not_found", "")
}

func TestTenantRemoveUser(t *testing.T) {
	t.Parallel()
	ten, _ := iamNewTenant(t)
	for _, u := range []NewUser{
		{ID: iamID(2), Name: "Fin", Role: RoleFinance, KeyHash: "h2"},
		{ID: iamID(3), Name: "Admin two", Role: RoleTenantAdmin, KeyHash: "h3"},
	} {
		for _, e := range iamMust(t)(ten.AddUser(u, iamOp, iamNow)) {
			ten.Apply(e)
		}
	}
	steps := []struct {
		name string
		user uuid.UUID
		kind error
		code string
	}{
		{"finance", iamID(2), nil, ""},
		{"finance again", iamID(2), ErrNotFound, "not_found"},
		{"unknown", iamID(9), ErrNotFound, "not_found"},
		{"one of two admins", iamID(1), nil, ""},
		{"last admin", iamID(3), ErrRule, "last_admin"},
	}
	for _, st := range steps {
		events, err := ten.RemoveUser(st.user, iamOp, iamNow)
		if st.kind != nil {
			iamWantErr(t, err, st.kind, st.code, "")
			continue
		}
		iamMust(t)(events, err)
		ten.Apply(events[0])
		if u := ten.Users[st.user]; u.Status != UserRemoved || u.RemovedAt != iamNow {
			t.Fatalf("%s: user %+v", st.name, u)
		}
	}
	if _, ok := ten.UserByKeyHash("h1"); ok {
		t.Fatal("a removed user's key still works")
	}
	if _, ok := ten.UserByKeyHash(""); ok {
		t.Fatal("the empty hash found a user")
	}
	var none Tenant
	_, err := none.RemoveUser(iamID(1), iamOp, iamNow)
	iamWantErr(t, err, ErrNotFound, "not_found", "")
}

func TestTenantEventNames(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]Event{
		"TenantCreated": &TenantCreated{}, "TenantUserAdded": &TenantUserAdded{},
		"TenantUserRemoved": &TenantUserRemoved{},
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

// iamMemberRoles are every role, valid for the aggregate or not, and none.
var iamMemberRoles = []Role{RoleTenantAdmin, RoleFinance, RoleAuditor,
	RolePartnerAdmin, RolePartnerOperator, RolePartnerViewer, ""}

func TestTenantReplayProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		var ten Tenant
		now := iamNow
		log := iamMust(rt)(ten.Create(CreateTenant{TenantID: iamTenant, Name: "Acme",
			Admin: NewUser{ID: iamID(0), Name: "Ada", Role: RoleTenantAdmin, KeyHash: "k0"}}, iamOp, now))
		for _, e := range log {
			ten.Apply(e)
		}
		for range rapid.IntRange(0, 40).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 3600).Draw(rt, "secs")) * time.Second)
			id := iamID(rapid.IntRange(0, 8).Draw(rt, "user"))
			var events []Event
			var err error
			if rapid.Bool().Draw(rt, "add") {
				events, err = ten.AddUser(NewUser{ID: id, Name: rapid.SampledFrom([]string{"", "Bo", " Cy "}).Draw(rt, "name"),
					Role:    rapid.SampledFrom(iamMemberRoles).Draw(rt, "role"),
					KeyHash: "k" + strconv.Itoa(rapid.IntRange(0, 12).Draw(rt, "key"))}, iamOp, now)
			} else {
				events, err = ten.RemoveUser(id, iamOp, now)
			}
			if err != nil {
				var de *Error
				if !errors.As(err, &de) {
					rt.Fatalf("untyped refusal %v", err)
				}
				continue
			}
			for _, e := range events {
				ten.Apply(e)
			}
			log = append(log, events...)
			iamCheckOneAdmin(rt, ten.Users, RoleTenantAdmin)
		}
		if got := iamReplay[Tenant](log); !reflect.DeepEqual(got, &ten) {
			rt.Fatalf("replay:\n got %+v\nwant %+v", got, &ten)
		}
		if got := iamReplay[Tenant](iamRoundTrip(rt, log)); !reflect.DeepEqual(got, &ten) {
			rt.Fatalf("replay through JSON:\n got %+v\nwant %+v", got, &ten)
		}
	})
}

// iamCheckOneAdmin fails unless users has an active user of role admin
// and no two active users share a key hash.
func iamCheckOneAdmin(t iamTB, users map[uuid.UUID]User, admin Role) {
	t.Helper()
	admins, keys := 0, map[string]bool{}
	for _, u := range users {
		if u.Status != UserActive {
			continue
		}
		if keys[u.KeyHash] {
			t.Fatalf("two active users share key hash %q", u.KeyHash)
		}
		keys[u.KeyHash] = true
		if u.Role == admin {
			admins++
		}
	}
	if admins == 0 {
		t.Fatalf("no active %s left", admin)
	}
}
