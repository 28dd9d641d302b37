package portal

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/projections"
)

// partnerRoles are the roles a grant or a request may carry, highest
// first.
var partnerRoles = []domain.Role{domain.RolePartnerAdmin, domain.RolePartnerOperator, domain.RolePartnerViewer}

// partnerOption is one choice of a select or a group of checkboxes.
type partnerOption struct {
	Value, Label string
	Checked      bool
}

// termsForm is what a form of grant terms chooses from: the roles, the
// tenant's accounts and the writes a partner role may hold, each marked as
// the form's values choose them.
type termsForm struct {
	Roles    []partnerOption
	Accounts []partnerOption
	Actions  []partnerOption
	// MoreAccounts: the tenant has more accounts than the form lists.
	MoreAccounts bool
	// ActionsHint says what ticking no action means.
	ActionsHint string
}

// partnerTerms are the terms a grant, approval or request form posts:
// role, scope and narrowed actions, under the API's field names.
type partnerTerms struct {
	Role        domain.Role
	AllAccounts bool
	AccountIDs  []uuid.UUID
	Actions     []domain.Permission
}

// termsOf reads the terms posted in v: "role", "all_accounts" ("true"
// when ticked), every "account_ids" value (each may list ids separated by
// spaces, commas or lines) and every "actions" value. A malformed id is a
// field error of account_ids.
func termsOf(v url.Values) (partnerTerms, []domain.FieldError) {
	t := partnerTerms{Role: domain.Role(v.Get("role")), AllAccounts: v.Get("all_accounts") == "true"}
	var bad []domain.FieldError
	for _, raw := range v["account_ids"] {
		for _, s := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
			id, err := uuid.Parse(s)
			if err != nil {
				bad = append(bad, domain.FieldError{Field: "account_ids", Message: fmt.Sprintf("%q is not an account id", s)})
				continue
			}
			t.AccountIDs = append(t.AccountIDs, id)
		}
	}
	for _, a := range v["actions"] {
		t.Actions = append(t.Actions, domain.Permission(a))
	}
	return t, bad
}

// expiryOf reads the optional date-time s of field (a datetime-local
// control's value, in UTC, or RFC 3339): nil when empty.
func expiryOf(field, s string) (*time.Time, []domain.FieldError) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return &t, nil
		}
	}
	return nil, []domain.FieldError{{Field: field, Message: "must be a date and time, such as 2030-01-31T12:00 (UTC)"}}
}

// daysOf reads the whole number of days s of field.
func daysOf(field, s string) (int, []domain.FieldError) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, []domain.FieldError{{Field: field, Message: fmt.Sprintf("must be a whole number of days from 1 to %d", domain.MaxAccessDurationDays)}}
	}
	return n, nil
}

// formInvalid is the refusal of a form's fields that do not parse, as the
// domain refuses invalid input: nil when none is at fault.
func formInvalid(bad []domain.FieldError) error {
	if len(bad) == 0 {
		return nil
	}
	return &domain.Error{Kind: domain.ErrInvalid, Code: domain.CodeInvalid,
		Message: bad[0].Field + ": " + bad[0].Message, Fields: bad}
}

// foldListFields marks the whole control of a list field at fault: the
// domain names "account_ids[2]" or "actions[0]", the form has one group
// of checkboxes (or one text area) named "account_ids" or "actions".
func foldListFields(f *form) {
	for name, msg := range f.Fields {
		i := strings.IndexByte(name, '[')
		if i < 0 {
			continue
		}
		base := name[:i]
		if prev := f.Fields[base]; prev != "" && prev != msg {
			msg = prev + "; " + msg
		}
		f.Fields[base] = msg
	}
}

// grantValues are the form values of a grant's terms, to prefill a form.
func grantValues(g projections.AccessView) url.Values {
	v := url.Values{"role": {string(g.Role)}}
	if g.AllAccounts {
		v.Set("all_accounts", "true")
	}
	for _, id := range g.AccountIDs {
		v.Add("account_ids", id.String())
	}
	for _, a := range g.Actions {
		v.Add("actions", string(a))
	}
	if g.ExpiresAt != nil {
		v.Set("expires_at", g.ExpiresAt.UTC().Format("2006-01-02T15:04"))
	}
	return v
}

// termsChoices are the choices of a terms form whose values are v, the
// accounts offered being accounts.
func termsChoices(v url.Values, accounts []projections.AccountView, more bool) termsForm {
	tf := termsForm{MoreAccounts: more, ActionsHint: "none ticked allows every write of the role"}
	for _, r := range partnerRoles {
		tf.Roles = append(tf.Roles, partnerOption{Value: string(r), Label: string(r), Checked: v.Get("role") == string(r)})
	}
	chosen := strings.Join(v["account_ids"], " ")
	for _, a := range accounts {
		tf.Accounts = append(tf.Accounts, partnerOption{Value: a.ID.String(), Label: a.Name,
			Checked: strings.Contains(chosen, a.ID.String())})
	}
	for _, p := range domain.RolePermissions(domain.RolePartnerAdmin) {
		if p.IsWrite() {
			tf.Actions = append(tf.Actions, partnerOption{Value: string(p), Label: string(p), Checked: slices.Contains(v["actions"], string(p))})
		}
	}
	return tf
}

// tenantAccounts reads the first page (at most 500) of tenant's accounts,
// for the checkboxes of a grant's scope.
func (p *Portal) tenantAccounts(ctx context.Context, tenant uuid.UUID) ([]projections.AccountView, bool, error) {
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AccountView], error) {
		return projections.ListAccounts(ctx, db, tenant, projections.Scope{All: true}, projections.Page{Limit: projections.MaxLimit})
	})
	if err != nil {
		return nil, false, fmt.Errorf("portal tenant accounts: %w", err)
	}
	return list.Items, list.NextCursor != nil, nil
}
