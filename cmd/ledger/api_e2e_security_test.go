package main

import (
	"encoding/json"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Keys, revocation, the audit log, tenant isolation, error shapes and
// read-your-writes.

func (s *scenario) deletedUsersKey(t *testing.T) {
	var u newUserJSON
	s.admin.post(t, s.tp("/users"), map[string]any{"name": "Fiona Finance", "role": "finance"}).wantJSON(t, 201, &u)
	wantUUID(t, "user id", u.ID)
	if u.Name != "Fiona Finance" || u.Role != "finance" || !strings.HasPrefix(u.Key, "lk_") {
		t.Fatalf("new user = %+v, want Fiona Finance as finance with an lk_ key", u)
	}
	finance := s.tenantUser("finance user", u.ID, u.Key)
	finance.get(t, s.tp("/accounts")).want(t, 200)
	finance.post(t, s.tp("/accounts"), accountBody("Not Allowed", map[string]any{"contact_name": "X", "email": "x@example.com"})).
		problem(t, 403, "forbidden")

	r := s.admin.delete(t, s.tp("/users/%s", u.ID)).want(t, 204)
	if len(r.Body) != 0 {
		t.Errorf("DELETE user answered a body: %s", r.Body)
	}
	finance.get(t, s.tp("/accounts")).problem(t, 401, "unauthenticated")
}

func (s *scenario) revokeAccess(t *testing.T) {
	path := s.tp("/partners/%s/access", s.partner)
	var revoked grantJSON
	r := s.admin.delete(t, path)
	r.wantJSON(t, 200, &revoked)
	r.wantETag(t, revoked.Version)
	s.wantGrant(t, revoked, s.grant.Role, "revoked", 0, 1)
	if revoked.Version <= s.grant.Version {
		t.Errorf("the revoked grant's version %d, want more than %d", revoked.Version, s.grant.Version)
	}

	// The very next request of each partner user is refused.
	s.refused(t, s.operator.get(t, s.tp("/subscriptions/%s", s.s1.ID)), 403, "partner_access_revoked")
	seat := s.s1.item(s.charge["seat"].ID)
	s.refused(t, s.operator.post(t, s.tp("/subscriptions/%s/amendments", s.s1.ID), s.amendment(seat.ID, 10)), 403, "partner_access_revoked")
	s.refused(t, s.viewer.get(t, s.tp("/accounts")), 403, "partner_access_revoked")

	var got grantJSON
	s.admin.get(t, path).wantJSON(t, 200, &got)
	if got.Status != "revoked" || got.Version != revoked.Version {
		t.Errorf("GET access after revocation = %+v, want %+v", got, revoked)
	}
}

// auditEvents reads the whole of the tenant's audit log narrowed by query,
// page by page.
func (s *scenario) auditEvents(t *testing.T, c *caller, query string, limit int) []auditItemJSON {
	t.Helper()
	var all []auditItemJSON
	cursor := ""
	for range 1000 {
		var page listJSON[auditItemJSON]
		c.get(t, s.tp("/audit/events?%s&limit=%d%s", query, limit, cursor)).wantJSON(t, 200, &page)
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		if len(page.Items) == 0 {
			t.Fatalf("audit events?%s: an empty page with a next cursor", query)
		}
		cursor = "&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	t.Fatalf("audit events?%s: more than 1000 pages", query)
	return nil
}

func (s *scenario) partnerAuditLog(t *testing.T) {
	// A refusal answers no Ledger-Position. A write after the last ones
	// gives a position past them all, which the audit log's reads wait for.
	a3 := &s.accounts[2]
	billing := map[string]any{"contact_name": "Albert Wesker", "email": "finance@umbrella.example",
		"address": "Raccoon City", "payment_terms_days": 60, "invoice_delivery": "portal"}
	var updated accountJSON
	r := s.admin.put(t, s.tp("/accounts/%s/billing", a3.ID), billing, "If-Match", etag(a3.Version))
	r.wantJSON(t, 200, &updated)
	r.wantETag(t, a3.Version+1)
	want := billingJSON{ContactName: "Albert Wesker", Email: "finance@umbrella.example", Address: str("Raccoon City"),
		PaymentTermsDays: 60, InvoiceDelivery: "portal"}
	if updated.ID != a3.ID || updated.Version != a3.Version+1 || !reflect.DeepEqual(updated.Billing, want) {
		t.Errorf("A3 after its billing update = %+v, want version %d with billing %+v", updated, a3.Version+1, want)
	}
	*a3 = updated

	events := s.auditEvents(t, s.admin, "partner_id="+s.partner, 500)
	got := map[string]int{}
	for i, e := range events {
		got[e.Type]++
		if i > 0 && e.Position <= events[i-1].Position {
			t.Errorf("audit events out of order: %d after %d", e.Position, events[i-1].Position)
		}
		if e.Actor.Type != "partner_user" || deref(e.Actor.PartnerID) != s.partner ||
			!slices.Contains([]string{deref(s.operator.actor.ID), deref(s.viewer.actor.ID)}, deref(e.Actor.ID)) {
			t.Errorf("audit event %s by {%s %s %s}, want the partner's operator or viewer", e.Type, e.Actor.Type, deref(e.Actor.ID), deref(e.Actor.PartnerID))
		}
		if e.Type == "AccessDenied" {
			var d struct{ Permission, Resource, Reason string }
			if err := json.Unmarshal(e.Data, &d); err != nil || d.Permission == "" || d.Resource == "" || d.Reason == "" {
				t.Errorf("AccessDenied data %s, want its permission, resource and reason", e.Data)
			}
		}
	}
	if !maps.Equal(got, s.expectAudit) {
		t.Errorf("the partner's audit events by type = %v, want %v", got, s.expectAudit)
	}

	paged := s.auditEvents(t, s.admin, "partner_id="+s.partner, 4)
	if !slices.Equal(eventIDs(paged), eventIDs(events)) {
		t.Errorf("pages of 4 list %d events, pages of 500 %d: want the same, in the same order", len(paged), len(events))
	}
}

func eventIDs(events []auditItemJSON) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.EventID)
	}
	return out
}

func (s *scenario) requestIDInAudit(t *testing.T) {
	events := s.auditEvents(t, s.admin, "account_id="+s.accounts[2].ID+"&type=AccountCreated", 50)
	if len(events) != 1 || events[0].IdempotencyKey != nil {
		t.Fatalf("AccountCreated of A3 in the audit log = %+v, want one, with no idempotency key", events)
	}
	// request_id is the server's own id, never the X-Request-ID sent
	// (recorded as client_request_id: security_headers_test.go).
	if _, err := uuid.Parse(deref(events[0].RequestID)); err != nil || deref(events[0].RequestID) == s.requestID {
		t.Errorf("AccountCreated of A3 has request_id %s, want the server's own uuid, not the X-Request-ID %s", deref(events[0].RequestID), s.requestID)
	}
	wantActor(t, "AccountCreated", events[0].Actor, s.admin)
}

func (s *scenario) noCrossTenant(t *testing.T) {
	other := "/v1/tenants/" + s.otherTenant
	for _, path := range []string{
		"/accounts/" + s.accounts[0].ID, "/accounts", "/subscriptions/" + s.s1.ID, "/subscriptions/" + s.s1.ID + "/history",
		"/products/" + s.product.ID, "/audit/events", "/reports/mrr?group_by=none", "/partners/" + s.partner + "/access",
	} {
		s.otherAdmin.get(t, s.tp("%s", path)).problem(t, 404, "not_found")
	}
	s.otherAdmin.post(t, s.tp("/accounts"), accountBody("Intruder", map[string]any{"contact_name": "X", "email": "x@example.com"})).
		problem(t, 404, "not_found")
	s.otherAdmin.get(t, other+"/accounts/"+s.accounts[0].ID).problem(t, 404, "not_found")
	s.otherAdmin.get(t, other+"/subscriptions/"+s.s1.ID).problem(t, 404, "not_found")
	var own listJSON[accountJSON]
	s.otherAdmin.get(t, other+"/accounts").wantJSON(t, 200, &own)
	if len(own.Items) != 0 {
		t.Errorf("the other tenant lists accounts %+v, want none", own.Items)
	}
	s.admin.get(t, other+"/accounts").problem(t, 404, "not_found")
}

func (s *scenario) errorShapes(t *testing.T) {
	path := s.tp("/accounts")
	billing := map[string]any{"contact_name": "Gavin Belson", "email": "gavin@hooli.example", "invoice_delivery": "email"}
	withField := func(k string, v any) map[string]any {
		body := accountBody("Hooli", billing)
		body[k] = v
		return body
	}
	s.admin.post(t, path, []byte(`{"name": "Hooli",`)).problem(t, 400, "bad_request")
	s.admin.post(t, path, withField("nickname", "hooli")).problem(t, 400, "bad_request")
	s.admin.post(t, path, withField("name", 42)).problem(t, 400, "bad_request")
	p := s.admin.post(t, path, withField("name", "")).problem(t, 400, "validation_failed")
	if !slices.ContainsFunc(p.Errors, func(e fieldErrorJSON) bool { return e.Field == "name" && e.Message != "" }) {
		t.Errorf("blank name: errors %+v, want one for the field name", p.Errors)
	}
	huge := []byte(`{"name":"` + strings.Repeat("a", 1<<20) + `"}`)
	s.admin.post(t, path, huge).problem(t, 413, "payload_too_large")

	p = s.admin.post(t, s.tp("/subscriptions"), s.subscriptionBody(s.accounts[2].ID, termed(12, true), orderLine{charge: "seat", qty: 0})).
		problem(t, 422, "invalid_quantity")
	if len(p.Errors) != 1 || p.Errors[0].Field != "items[0].quantity" {
		t.Errorf("quantity 0: errors %+v, want one at items[0].quantity", p.Errors)
	}

	anonymous := &caller{api: s.api, name: "no key"}
	anonymous.get(t, path).problem(t, 401, "unauthenticated")
	anonymous.post(t, path, accountBody("Hooli", billing)).problem(t, 401, "unauthenticated")
	forged := &caller{api: s.api, name: "an unknown key", key: "lk_" + strings.Repeat("A", 86)}
	forged.get(t, path).problem(t, 401, "unauthenticated")
	s.admin.get(t, path, "Ledger-Min-Position", "soon").problem(t, 400, "")

	var accounts listJSON[accountJSON]
	s.admin.get(t, path).wantJSON(t, 200, &accounts)
	if len(accounts.Items) != len(s.accounts) {
		t.Errorf("after the refused requests the tenant has %d accounts, want %d", len(accounts.Items), len(s.accounts))
	}
}

func (s *scenario) projectionLag(t *testing.T) {
	// Positions need not be contiguous, so "far ahead" is far indeed: past
	// the log's head, refused at once. A position the log has but the
	// read models not yet is 503 projection_lag after the wait
	// (security_headers_test.go).
	ahead := strconv.FormatUint(1<<62, 10)
	began := time.Now()
	r := s.admin.get(t, s.tp("/accounts"), "Ledger-Min-Position", ahead)
	r.problem(t, 422, "position_beyond_head")
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("a position beyond the log's head took %s to refuse, want at once", took)
	}
}
