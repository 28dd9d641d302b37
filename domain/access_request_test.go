package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	arTenant  = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b01")
	arPartner = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b02")
	arA1      = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b07")
	arA2      = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b08")
	arA3      = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b09")
	arAt      = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	arBy      = Actor{Type: ActorPartnerUser, ID: uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b05"), PartnerID: arPartner}
	arAdmin   = Actor{Type: ActorTenantUser, ID: uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b03")}
)

// arRequested returns a request made at arAt for terms.
func arRequested(t *testing.T, terms AccessTerms) *AccessRequest {
	t.Helper()
	r := &AccessRequest{}
	events, err := r.Request(RequestAccess{RequestID: uuid.New(), TenantID: arTenant, PartnerID: arPartner, Terms: terms}, arBy, arAt)
	if err != nil {
		t.Fatalf("request %+v: %v", terms, err)
	}
	for _, e := range events {
		r.Apply(e)
	}
	return r
}

// arCode returns the code of err, "" for nil.
func arCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var derr *Error
	if !errors.As(err, &derr) {
		t.Fatalf("%v is not a domain error", err)
	}
	return derr.Code
}

func TestRequestAccessValidates(t *testing.T) {
	t.Parallel()
	ok := AccessTerms{Role: RolePartnerOperator, AccountIDs: []uuid.UUID{arA2, arA1}, DurationDays: 90}
	tests := []struct {
		name  string
		edit  func(*RequestAccess)
		code  string
		field string
	}{
		{"valid", func(*RequestAccess) {}, "", ""},
		{"730 days", func(c *RequestAccess) { c.Terms.DurationDays = 730 }, "", ""},
		{"no tenant", func(c *RequestAccess) { c.TenantID = uuid.Nil }, CodeInvalid, "tenant_id"},
		{"tenant role", func(c *RequestAccess) { c.Terms.Role = RoleTenantAdmin }, CodeInvalid, "role"},
		{"0 days", func(c *RequestAccess) { c.Terms.DurationDays = 0 }, CodeInvalid, "duration_days"},
		{"731 days", func(c *RequestAccess) { c.Terms.DurationDays = 731 }, CodeInvalid, "duration_days"},
		{"all and list", func(c *RequestAccess) { c.Terms.AllAccounts = true }, CodeInvalid, "account_ids"},
		{"read action", func(c *RequestAccess) { c.Terms.Actions = []Permission{PermAccountsRead} }, CodeInvalid, "actions[0]"},
		{"twice the account", func(c *RequestAccess) { c.Terms.AccountIDs = []uuid.UUID{arA1, arA1} }, CodeInvalid, "account_ids[1]"},
		{"bidi message", func(c *RequestAccess) { c.Message = "hi \u202e" }, CodeInvalidText, "message"},
		{"long message", func(c *RequestAccess) { c.Message = strings.Repeat("x", 1001) }, CodeValueTooLong, "message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := RequestAccess{RequestID: uuid.New(), TenantID: arTenant, PartnerID: arPartner, Terms: ok, Message: " multi\nline "}
			cmd.Terms.AccountIDs = append([]uuid.UUID{}, ok.AccountIDs...)
			tt.edit(&cmd)
			events, err := (&AccessRequest{}).Request(cmd, arBy, arAt)
			if got := arCode(t, err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			if err != nil {
				var derr *Error
				errors.As(err, &derr)
				if len(derr.Fields) == 0 || derr.Fields[0].Field != tt.field {
					t.Fatalf("fields %+v, want %s first", derr.Fields, tt.field)
				}
				return
			}
			e := events[0].(*AccessRequested)
			if e.Message != "multi\nline" || !e.ExpiresAt.Equal(arAt.Add(30*24*time.Hour)) || e.AccountIDs[0] != arA1 {
				t.Fatalf("requested %+v", e)
			}
		})
	}
}

func TestAccessRequestStatusExpires(t *testing.T) {
	t.Parallel()
	r := arRequested(t, AccessTerms{Role: RolePartnerViewer, AllAccounts: true, DurationDays: 10})
	expiry := arAt.Add(AccessRequestPendingFor)
	tests := []struct {
		at   time.Time
		want AccessRequestStatus
	}{
		{arAt, RequestPending},
		{expiry.Add(-time.Microsecond), RequestPending},
		{expiry, RequestExpired},
		{expiry.Add(time.Hour), RequestExpired},
	}
	for _, tt := range tests {
		if got := r.StatusAt(tt.at); got != tt.want {
			t.Errorf("status at %v = %s, want %s", tt.at, got, tt.want)
		}
	}
	if _, err := r.Approve(ApprovalTerms{}, arAdmin, expiry); arCode(t, err) != CodeRequestNotPending {
		t.Errorf("approve at expiry: %v, want %s", err, CodeRequestNotPending)
	}
	if _, err := r.Reject("", arAdmin, expiry); arCode(t, err) != CodeRequestNotPending {
		t.Errorf("reject at expiry: %v, want %s", err, CodeRequestNotPending)
	}
	if _, err := (&AccessRequest{}).Reject("", arAdmin, arAt); !errors.Is(err, ErrNotFound) {
		t.Errorf("reject of no request: %v, want not found", err)
	}
}

func TestApprovalMayOnlyNarrow(t *testing.T) {
	t.Parallel()
	list := AccessTerms{Role: RolePartnerOperator, AccountIDs: []uuid.UUID{arA1, arA2},
		Actions: []Permission{PermSubscriptionsAmend, PermSubscriptionsCreate}, DurationDays: 90}
	all := AccessTerms{Role: RolePartnerAdmin, AllAccounts: true, DurationDays: 730}
	role := func(r Role) *Role { return &r }
	yes, no := true, false
	days := func(n int) *int { return &n }
	tests := []struct {
		name    string
		asked   AccessTerms
		a       ApprovalTerms
		code    string
		field   string
		granted AccessTerms
	}{
		{"as asked", list, ApprovalTerms{}, "", "", list},
		{"lower role", list, ApprovalTerms{Role: role(RolePartnerViewer)}, "", "",
			AccessTerms{Role: RolePartnerViewer, AccountIDs: list.AccountIDs, Actions: list.Actions, DurationDays: 90}},
		{"fewer accounts, actions, days", list, ApprovalTerms{AccountIDs: []uuid.UUID{arA2}, Actions: []Permission{PermSubscriptionsAmend}, DurationDays: days(30)}, "", "",
			AccessTerms{Role: RolePartnerOperator, AccountIDs: []uuid.UUID{arA2}, Actions: []Permission{PermSubscriptionsAmend}, DurationDays: 30}},
		{"all narrowed to a list", all, ApprovalTerms{AccountIDs: []uuid.UUID{arA3}}, "", "",
			AccessTerms{Role: RolePartnerAdmin, AccountIDs: []uuid.UUID{arA3}, Actions: []Permission{}, DurationDays: 730}},
		{"all narrowed to none", all, ApprovalTerms{AllAccounts: &no}, "", "",
			AccessTerms{Role: RolePartnerAdmin, AccountIDs: []uuid.UUID{}, Actions: []Permission{}, DurationDays: 730}},
		{"every write narrowed to some", all, ApprovalTerms{Actions: []Permission{PermUsageRecord}}, "", "",
			AccessTerms{Role: RolePartnerAdmin, AllAccounts: true, AccountIDs: []uuid.UUID{}, Actions: []Permission{PermUsageRecord}, DurationDays: 730}},
		{"higher role", list, ApprovalTerms{Role: role(RolePartnerAdmin)}, CodeApprovalWidensRequest, "role", AccessTerms{}},
		{"list widened to all", list, ApprovalTerms{AllAccounts: &yes}, CodeApprovalWidensRequest, "all_accounts", AccessTerms{}},
		{"another account", list, ApprovalTerms{AccountIDs: []uuid.UUID{arA1, arA3}}, CodeApprovalWidensRequest, "account_ids[1]", AccessTerms{}},
		{"another action", list, ApprovalTerms{Actions: []Permission{PermUsageRecord}}, CodeApprovalWidensRequest, "actions[0]", AccessTerms{}},
		{"actions widened to every write", list, ApprovalTerms{Actions: []Permission{}}, CodeApprovalWidensRequest, "actions", AccessTerms{}},
		{"longer", list, ApprovalTerms{DurationDays: days(91)}, CodeApprovalWidensRequest, "duration_days", AccessTerms{}},
		{"0 days", list, ApprovalTerms{DurationDays: days(0)}, CodeInvalid, "duration_days", AccessTerms{}},
		{"all with a list", all, ApprovalTerms{AllAccounts: &yes, AccountIDs: []uuid.UUID{arA1}}, CodeInvalid, "account_ids", AccessTerms{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := arRequested(t, tt.asked)
			now := arAt.Add(24 * time.Hour)
			events, err := r.Approve(tt.a, arAdmin, now)
			if got := arCode(t, err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			if err != nil {
				var derr *Error
				errors.As(err, &derr)
				if len(derr.Fields) == 0 || derr.Fields[0].Field != tt.field {
					t.Fatalf("fields %+v, want %s first", derr.Fields, tt.field)
				}
				return
			}
			e := events[0].(*AccessRequestApproved)
			got := AccessTerms{Role: e.Role, AllAccounts: e.AllAccounts, AccountIDs: e.AccountIDs, Actions: e.Actions, DurationDays: e.DurationDays}
			want := tt.granted
			if want.AccountIDs == nil {
				want.AccountIDs = []uuid.UUID{}
			}
			if want.Actions == nil {
				want.Actions = []Permission{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("granted %+v, want %+v", got, want)
			}
			if exp := now.Add(time.Duration(want.DurationDays) * 24 * time.Hour); !e.GrantExpiresAt.Equal(exp) || !e.GrantTerms().ExpiresAt.Equal(exp) {
				t.Fatalf("grant expires at %v, want %v", e.GrantExpiresAt, exp)
			}
		})
	}
}

func TestAccessRequestIsDecidedOnce(t *testing.T) {
	t.Parallel()
	decide := map[string]func(*AccessRequest, time.Time) ([]Event, error){
		"approve": func(r *AccessRequest, now time.Time) ([]Event, error) {
			return r.Approve(ApprovalTerms{}, arAdmin, now)
		},
		"reject": func(r *AccessRequest, now time.Time) ([]Event, error) { return r.Reject("not now", arAdmin, now) },
	}
	for first, f := range decide {
		for second, g := range decide {
			t.Run(first+" then "+second, func(t *testing.T) {
				t.Parallel()
				r := arRequested(t, AccessTerms{Role: RolePartnerViewer, AllAccounts: true, DurationDays: 5})
				events, err := f(r, arAt)
				if err != nil {
					t.Fatal(err)
				}
				r.Apply(events[0])
				want := map[string]AccessRequestStatus{"approve": RequestApproved, "reject": RequestRejected}[first]
				if r.StatusAt(arAt) != want {
					t.Fatalf("status %s, want %s", r.StatusAt(arAt), want)
				}
				// Decided, it stays so, past the request's expiry too.
				if r.StatusAt(arAt.Add(365*24*time.Hour)) != r.Decision {
					t.Fatalf("a decided request changed status with time")
				}
				if _, err := g(r, arAt); arCode(t, err) != CodeRequestNotPending {
					t.Fatalf("second decision: %v, want %s", err, CodeRequestNotPending)
				}
			})
		}
	}
}

func TestAuthorizeAccessRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    Principal
		want error
	}{
		{Principal{Type: ActorPartnerUser, PartnerID: arPartner, Role: RolePartnerAdmin}, nil},
		{Principal{Type: ActorOperator}, nil},
		{Principal{Type: ActorPartnerUser, PartnerID: arPartner, Role: RolePartnerOperator}, ErrForbidden},
		{Principal{Type: ActorPartnerUser, PartnerID: uuid.New(), Role: RolePartnerAdmin}, ErrNotFound},
		{Principal{Type: ActorTenantUser, TenantID: arTenant, Role: RoleTenantAdmin}, ErrNotFound},
	}
	for _, tt := range tests {
		if err := AuthorizeAccessRequest(tt.p, arPartner); !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
			t.Errorf("%+v: %v, want %v", tt.p, err, tt.want)
		}
	}
}

func TestAccessRequestCloneSharesNothing(t *testing.T) {
	t.Parallel()
	orig := &AccessRequest{}
	fill(reflect.ValueOf(orig).Elem(), 0)
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("clone %+v differs from %+v", c, orig)
	}
	if path := shared(reflect.ValueOf(c).Elem(), reflect.ValueOf(orig).Elem(), "access request"); path != "" {
		t.Fatalf("the clone shares %s with the original", path)
	}
}
