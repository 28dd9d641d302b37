package domain

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

var iamPartner = uuid.MustParse("22222222-2222-4222-8222-222222222222")

func iamNewPartner(t *testing.T) *Partner {
	t.Helper()
	var p Partner
	for _, e := range iamMust(t)(p.Create(CreatePartner{PartnerID: iamPartner, Name: "Resell Co",
		Admin: NewUser{ID: iamID(1), Name: "Pat", Role: RolePartnerAdmin, KeyHash: "p1"}}, iamOp, iamNow)) {
		p.Apply(e)
	}
	return &p
}

func TestPartnerCreate(t *testing.T) {
	t.Parallel()
	var p Partner
	events := iamMust(t)(p.Create(CreatePartner{PartnerID: iamPartner, Name: "Resell Co",
		Admin: NewUser{ID: iamID(1), Name: "Pat", Role: RolePartnerAdmin, KeyHash: "p1"}}, iamOp, iamNow))
	want := []Event{
		&PartnerCreated{PartnerID: iamPartner, Name: "Resell Co", CreatedBy: iamOp, CreatedAt: iamNow},
		&PartnerUserAdded{PartnerID: iamPartner, UserID: iamID(1), Name: "Pat", Role: RolePartnerAdmin,
			KeyHash: "p1", AddedBy: iamOp, AddedAt: iamNow},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events %#v, want %#v", events, want)
	}
	for _, e := range events {
		p.Apply(e)
	}
	_, err := p.Create(CreatePartner{PartnerID: iamPartner, Name: "Again",
		Admin: NewUser{ID: iamID(2), Name: "Q", Role: RolePartnerAdmin, KeyHash: "p2"}}, iamOp, iamNow)
	iamWantErr(t, err, ErrConflict, "conflict", "")
}

func TestPartnerCreateInvalid(t *testing.T) {
	t.Parallel()
	admin := NewUser{ID: iamID(1), Name: "Pat", Role: RolePartnerAdmin, KeyHash: "p1"}
	tests := []struct {
		name  string
		cmd   CreatePartner
		field string
	}{
		{"empty name", CreatePartner{PartnerID: iamPartner, Admin: admin}, "name"},
		{"no id", CreatePartner{Name: "Resell Co", Admin: admin}, "partner_id"},
		{"admin is operator", CreatePartner{PartnerID: iamPartner, Name: "Resell Co",
			Admin: NewUser{ID: iamID(1), Name: "Pat", Role: RolePartnerOperator, KeyHash: "p1"}}, "admin.role"},
		{"admin without id", CreatePartner{PartnerID: iamPartner, Name: "Resell Co",
			Admin: NewUser{Name: "Pat", Role: RolePartnerAdmin, KeyHash: "p1"}}, "admin.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p Partner
			_, err := p.Create(tt.cmd, iamOp, iamNow)
			iamWantErr(t, err, ErrInvalid, "validation_failed", tt.field)
		})
	}
}

func TestPartnerUsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		user NewUser
		kind error
		code string
	}{
		{"partner_admin", NewUser{ID: iamID(2), Name: "Q", Role: RolePartnerAdmin, KeyHash: "p2"}, nil, ""},
		{"partner_operator", NewUser{ID: iamID(2), Name: "Q", Role: RolePartnerOperator, KeyHash: "p2"}, nil, ""},
		{"partner_viewer", NewUser{ID: iamID(2), Name: "Q", Role: RolePartnerViewer, KeyHash: "p2"}, nil, ""},
		{"tenant role", NewUser{ID: iamID(2), Name: "Q", Role: RoleTenantAdmin, KeyHash: "p2"}, ErrInvalid, "validation_failed"},
		{"same key", NewUser{ID: iamID(2), Name: "Q", Role: RolePartnerViewer, KeyHash: "p1"}, ErrConflict, "conflict"},
		{"same id", NewUser{ID: iamID(1), Name: "Q", Role: RolePartnerViewer, KeyHash: "p2"}, ErrConflict, "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := iamNewPartner(t)
			events, err := p.AddUser(tt.user, iamOp, iamNow)
			if tt.kind != nil {
				iamWantErr(t, err, tt.kind, tt.code, "")
				return
			}
			p.Apply(iamMust(t)(events, err)[0])
			if u, ok := p.UserByKeyHash("p2"); !ok || u.Role != tt.user.Role {
				t.Fatalf("UserByKeyHash(p2) = %+v, %v", u, ok)
			}
			_, err = p.RemoveUser(iamID(1), iamOp, iamNow)
			if tt.user.Role == RolePartnerAdmin {
				iamMust(t)(nil, err)
			} else {
				iamWantErr(t, err, ErrRule, "last_admin", "")
			}
			events = iamMust(t)(p.RemoveUser(iamID(2), iamOp, iamNow))
			p.Apply(events[0])
			if _, ok := p.UserByKeyHash("p2"); ok {
				t.Fatal("a removed partner user's key still works")
			}
			_, err = p.RemoveUser(iamID(2), iamOp, iamNow)
			iamWantErr(t, err, ErrNotFound, "not_found", "")
		})
	}
	var none Partner
	_, err := none.AddUser(NewUser{ID: iamID(2), Name: "Q", Role: RolePartnerViewer, KeyHash: "p2"}, iamOp, iamNow)
	iamWantErr(t, err, ErrNotFound, "not_found", "")
	_, err = none.RemoveUser(iamID(1), iamOp, iamNow)
	iamWantErr(t, err, ErrNotFound, "not_found", "")
}

func TestPartnerEventNames(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]Event{
		"PartnerCreated": &PartnerCreated{}, "PartnerUserAdded": &PartnerUserAdded{},
		"PartnerUserRemoved": &PartnerUserRemoved{},
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

func TestPartnerReplayProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		var p Partner
		now := iamNow
		log := iamMust(rt)(p.Create(CreatePartner{PartnerID: iamPartner, Name: "Resell Co",
			Admin: NewUser{ID: iamID(0), Name: "Pat", Role: RolePartnerAdmin, KeyHash: "k0"}}, iamOp, now))
		for _, e := range log {
			p.Apply(e)
		}
		for range rapid.IntRange(0, 40).Draw(rt, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 3600).Draw(rt, "secs")) * time.Second)
			id := iamID(rapid.IntRange(0, 8).Draw(rt, "user"))
			var events []Event
			var err error
			if rapid.Bool().Draw(rt, "add") {
				events, err = p.AddUser(NewUser{ID: id, Name: "Q",
					Role:    rapid.SampledFrom(iamMemberRoles).Draw(rt, "role"),
					KeyHash: "k" + strconv.Itoa(rapid.IntRange(0, 12).Draw(rt, "key"))}, iamOp, now)
			} else {
				events, err = p.RemoveUser(id, iamOp, now)
			}
			if err != nil {
				var de *Error
				if !errors.As(err, &de) {
					rt.Fatalf("untyped refusal %v", err)
				}
				continue
			}
			for _, e := range events {
				p.Apply(e)
			}
			log = append(log, events...)
			iamCheckOneAdmin(rt, p.Users, RolePartnerAdmin)
		}
		if got := iamReplay[Partner](log); !reflect.DeepEqual(got, &p) {
			rt.Fatalf("replay:\n got %+v\nwant %+v", got, &p)
		}
		if got := iamReplay[Partner](iamRoundTrip(rt, log)); !reflect.DeepEqual(got, &p) {
			rt.Fatalf("replay through JSON:\n got %+v\nwant %+v", got, &p)
		}
	})
}
