package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// What a partner learns from refusals, from other partners' metadata and
// from 404s (issues 12 and 19), through the real binary: a second
// partner, B, holds partner_admin on A1 only, where partner A's operator
// acted; A2 (partner A's) and A3 (the tenant's) are out of B's scope.

// refusalScenario is the end-to-end scenario up to S1 and S2 (partner A's,
// on A1 and A2) and S3 (the tenant's, on A3), with partner B granted A1.
type refusalScenario struct {
	*scenario
	partnerB string
	adminB   *caller
}

func newRefusalScenario(t *testing.T) *refusalScenario {
	t.Helper()
	s := newScenario(t)
	for _, step := range []func(*testing.T){s.buildCatalog, s.openAccounts, s.grantPartner, s.addPartnerUsers, s.operatorSubscribes} {
		step(t)
		if t.Failed() {
			t.FailNow()
		}
	}
	a3 := s.accounts[2].ID
	s.admin.post(t, s.tp("/subscriptions"), s.subscriptionBody(a3, map[string]any{"type": "evergreen"}, orderLine{charge: "seat", qty: 2})).
		wantJSON(t, 201, &s.s3)
	b := runBootstrap(t, s.env, "partner", "Contoso Partners")
	rs := &refusalScenario{scenario: s, partnerB: b.ID.String()}
	rs.adminB = &caller{api: s.api, name: "partner B admin", key: b.AdminKey,
		actor: actorJSON{Type: "partner_user", ID: str(b.AdminUserID.String()), PartnerID: str(rs.partnerB)}}
	s.keys = append(s.keys, b.AdminKey)
	s.admin.put(t, s.tp("/partners/%s/access", rs.partnerB), map[string]any{"role": "partner_admin", "all_accounts": false,
		"account_ids": []string{s.accounts[0].ID}}).want(t, 201)
	return rs
}

// readBack is everything partner B's admin can read after its refusals:
// its audit log, whole and filtered by type, by each of ids as account or
// subscription, and S1's history. It reads once the read models hold the
// refusals: an admin's write after them gives a position to wait for. It
// fails t when a filter by an id finds anything, and returns the audit
// log's bodies and the history's.
func (rs *refusalScenario) readBack(t *testing.T, ids ...string) (audit [][]byte, history []byte) {
	t.Helper()
	billing := map[string]any{"contact_name": "Hank Scorpio", "email": "billing@globex.example", "invoice_delivery": "email"}
	pos := rs.admin.put(t, rs.tp("/accounts/%s/billing", rs.accounts[0].ID), billing).want(t, 200).position(t)
	minPos := []string{"Ledger-Min-Position", strconv.FormatUint(pos, 10)}
	var bodies [][]byte
	queries := []string{"", "type=AccessDenied", "type=AccessDeniedRepeated"}
	for _, id := range ids {
		queries = append(queries, "account_id="+id, "subscription_id="+id)
	}
	for _, q := range queries {
		cursor := ""
		for range 100 {
			var page listJSON[auditItemJSON]
			r := rs.adminB.get(t, rs.tp("/audit/events?%s&limit=500%s", q, cursor), minPos...).wantJSON(t, 200, &page)
			bodies = append(bodies, r.Body)
			if q != "" && !strings.HasPrefix(q, "type=") && len(page.Items) > 0 {
				t.Errorf("audit/events?%s finds %d events for partner B: %s", q, len(page.Items), r.Body)
			}
			if page.NextCursor == nil {
				break
			}
			cursor = "&cursor=" + url.QueryEscape(*page.NextCursor)
		}
	}
	return bodies, rs.adminB.get(t, rs.tp("/subscriptions/%s/history", rs.s1.ID), minPos...).want(t, 200).Body
}

// TestSecurityRefusalsLeakNothing refuses partner B on each route family
// and reads back all it can: nothing names an out-of-scope id that B did
// not send. A family's refusals send only the ids named in its requests;
// the ids not yet sent by B must appear nowhere.
func TestSecurityRefusalsLeakNothing(t *testing.T) {
	t.Parallel()
	rs := newRefusalScenario(t)
	a2, a3 := rs.accounts[1].ID, rs.accounts[2].ID
	storage := rs.s2.item(rs.charge["storage"].ID)
	usage := func(sub, item string) map[string]any {
		return map[string]any{"records": []any{map[string]any{"id": uuid.NewString(), "subscription_id": sub, "item_id": item,
			"quantity": json.Number("1"), "occurred_at": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)}}}
	}
	seat := rs.s3.item(rs.charge["seat"].ID)
	families := []struct {
		name string
		sent []string // the out-of-scope ids its requests name
		send func(t *testing.T)
	}{
		{"subscriptions", []string{rs.s2.ID, rs.s3.ID}, func(t *testing.T) {
			rs.adminB.get(t, rs.tp("/subscriptions/%s", rs.s2.ID)).problem(t, 404, "not_found")
			rs.adminB.get(t, rs.tp("/subscriptions/%s/history", rs.s3.ID)).problem(t, 404, "not_found")
			rs.adminB.post(t, rs.tp("/subscriptions/%s/amendments", rs.s3.ID), rs.amendment(seat.ID, 9)).problem(t, 404, "not_found")
			rs.adminB.post(t, rs.tp("/subscriptions/%s/cancel", rs.s2.ID), map[string]any{"policy": "immediate"}).problem(t, 404, "not_found")
		}},
		{"usage", []string{rs.s2.ID, storage.ID}, func(t *testing.T) {
			rs.adminB.get(t, rs.tp("/usage/summary?subscription_id=%s", rs.s2.ID)).problem(t, 404, "not_found")
			rs.adminB.post(t, rs.tp("/usage"), usage(rs.s2.ID, storage.ID)).problem(t, 404, "not_found")
		}},
		{"access", []string{rs.partner}, func(t *testing.T) {
			rs.adminB.get(t, rs.tp("/partners/%s/access", rs.partner)).problem(t, 404, "not_found")
			r := rs.adminB.put(t, rs.tp("/partners/%s/access", rs.partner), map[string]any{"role": "partner_viewer", "all_accounts": true})
			if r.Status != 403 && r.Status != 404 {
				t.Errorf("%s = %d, want 403 or 404: %s", r.req, r.Status, r.Body)
			}
		}},
		{"products", nil, func(t *testing.T) {
			charge := map[string]any{"name": "Seat", "type": "recurring", "price": "1.00", "currency": "USD", "billing_period": "month"}
			rs.adminB.post(t, rs.tp("/products"), map[string]any{"name": "Nope", "sku": "NOPE", "charges": []any{charge}}).problem(t, 403, "forbidden")
		}},
		{"accounts", []string{a3}, func(t *testing.T) {
			rs.adminB.get(t, rs.tp("/accounts/%s", a3)).problem(t, 404, "not_found")
			rs.adminB.get(t, rs.tp("/subscriptions?account_id=%s", a3)).problem(t, 404, "not_found")
			rs.adminB.put(t, rs.tp("/accounts/%s/billing", a3), map[string]any{"contact_name": "X", "email": "x@example.com",
				"invoice_delivery": "email"}).problem(t, 404, "not_found")
		}},
	}
	// Out of B's scope: partner A, its users, A2, A3 and what is on them.
	// S1, in B's scope, names its creator, partner A's operator, in its
	// data (created_by): its history may show them.
	outOfScope := map[string]string{"partner A": rs.partner, "A2": a2, "A3": a3, "S2": rs.s2.ID, "S3": rs.s3.ID,
		"A's operator": deref(rs.operator.actor.ID), "A's viewer": deref(rs.viewer.actor.ID),
		"A's admin": deref(rs.partnerAdmin.actor.ID), "S2's storage item": storage.ID, "S3's seat item": seat.ID}
	inS1 := map[string]bool{rs.partner: true, deref(rs.operator.actor.ID): true}
	sent := map[string]bool{}
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			f.send(t)
			for _, id := range f.sent {
				sent[id] = true
			}
			var unsent []string
			for _, id := range outOfScope {
				if !sent[id] {
					unsent = append(unsent, id)
				}
			}
			audit, history := rs.readBack(t, unsent...)
			for what, id := range outOfScope {
				for _, body := range audit {
					if !sent[id] && bytes.Contains(body, []byte(id)) {
						t.Errorf("after refusals on %s, partner B's audit log names %s (%s), which it never sent: %s", f.name, what, id, body)
					}
				}
				if !sent[id] && !inS1[id] && bytes.Contains(history, []byte(id)) {
					t.Errorf("after refusals on %s, S1's history names %s (%s), which partner B never sent: %s", f.name, what, id, history)
				}
			}
		})
	}
	// A write after every refusal (a real change: a billing update to what
	// it already is would answer an earlier position), to read the audit
	// log at.
	var denied listJSON[auditItemJSON]
	pos := rs.admin.put(t, rs.tp("/accounts/%s/billing", rs.accounts[0].ID), map[string]any{"contact_name": "Hank Scorpio Jr.",
		"email": "billing@globex.example", "invoice_delivery": "email"}).want(t, 200).position(t)
	rs.adminB.get(t, rs.tp("/audit/events?type=AccessDenied&limit=500"), "Ledger-Min-Position", strconv.FormatUint(pos, 10)).
		wantJSON(t, 200, &denied)
	if len(denied.Items) < len(families) {
		t.Errorf("partner B's audit log holds %d AccessDenied, want at least one per family (%d): refusals stay audited", len(denied.Items), len(families))
	}
}

// TestSecurityHistoryMetadataOneRule has partner A's operator amend S1
// with an Idempotency-Key and an X-Request-ID, and partner B amend it
// too: on S1's history and on the audit log, B sees its own action in
// full and A's with the actor reduced to its type, no keys and no request
// ids; the tenant's admin and partner A see A's action in full.
func TestSecurityHistoryMetadataOneRule(t *testing.T) {
	t.Parallel()
	rs := newRefusalScenario(t)
	seat := rs.s1.item(rs.charge["seat"].ID)
	secretKey, secretReq := "pa-secret-idem-"+uuid.NewString(), "pa-req-"+uuid.NewString()
	amend := rs.tp("/subscriptions/%s/amendments", rs.s1.ID)
	rs.operator.post(t, amend, rs.amendment(seat.ID, 7), "Idempotency-Key", secretKey, "X-Request-ID", secretReq).want(t, 200)
	ownKey := "pb-idem-" + uuid.NewString()
	rs.adminB.post(t, amend, rs.amendment(seat.ID, 6), "Idempotency-Key", ownKey).want(t, 200)

	// S1's data names its creator (created_by), partner A's operator,
	// whom S1's representation shows too; its metadata names no one.
	secrets := []string{secretKey, secretReq}
	history := func(c *caller) ([]auditItemJSON, []byte) {
		var h historyJSON
		r := c.get(t, rs.tp("/subscriptions/%s/history", rs.s1.ID)).wantJSON(t, 200, &h)
		return h.Items, r.Body
	}
	audit := func(c *caller) ([]auditItemJSON, []byte) {
		var page listJSON[auditItemJSON]
		r := c.get(t, rs.tp("/audit/events?subscription_id=%s&limit=500", rs.s1.ID)).wantJSON(t, 200, &page)
		return page.Items, r.Body
	}
	for _, route := range []struct {
		name string
		read func(*caller) ([]auditItemJSON, []byte)
	}{{"history", history}, {"audit/events", audit}} {
		items, body := route.read(rs.adminB)
		for _, secret := range secrets {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("%s as partner B shows partner A's %q: %s", route.name, secret, body)
			}
		}
		ownSeen := false
		for _, it := range items {
			switch {
			case deref(it.Actor.PartnerID) == rs.partnerB:
				ownSeen = ownSeen || deref(it.IdempotencyKey) == ownKey
				if deref(it.Actor.ID) != deref(rs.adminB.actor.ID) || it.RequestID == nil {
					t.Errorf("%s: partner B's own action %s shows actor %+v, request_id %v; want it in full", route.name, it.Type, it.Actor, it.RequestID)
				}
			case it.Actor.ID != nil || it.Actor.PartnerID != nil || it.IdempotencyKey != nil || it.RequestID != nil ||
				it.CorrelationID != nil || it.CausationID != nil:
				t.Errorf("%s: partner B sees another's %s with actor %+v, keys or request ids: %+v", route.name, it.Type, it.Actor, it)
			case it.Actor.Type == "":
				t.Errorf("%s: another's %s shows no actor type", route.name, it.Type)
			}
		}
		if !ownSeen {
			t.Errorf("%s: partner B does not see its own amendment with its Idempotency-Key %s: %s", route.name, ownKey, body)
		}
	}
	// The history as partner B shows partner A's amendment, reduced.
	items, _ := history(rs.adminB)
	if n := countType(items, "partner_user", nil); n < 2 {
		t.Errorf("S1's history as partner B shows %d reduced partner_user actions, want S1's creation and A's amendment", n)
	}
	// Partner A itself, and the tenant's admin, see A's amendment in full.
	for _, read := range []struct {
		name string
		c    *caller
		read func(*caller) ([]auditItemJSON, []byte)
	}{{"history", rs.operator, history}, {"history", rs.admin, history}, {"audit/events", rs.admin, audit}} {
		items, body := read.read(read.c)
		full := false
		for _, it := range items {
			full = full || (deref(it.IdempotencyKey) == secretKey && deref(it.Actor.ID) == deref(rs.operator.actor.ID) &&
				deref(it.Actor.PartnerID) == rs.partner && it.RequestID != nil && it.CorrelationID != nil)
		}
		if !full {
			t.Errorf("%s as %s does not show partner A's amendment in full: %s", read.name, read.c.name, body)
		}
	}
}

// countType counts the items by actors of type typ with partner_id pid.
func countType(items []auditItemJSON, typ string, pid *string) int {
	n := 0
	for _, it := range items {
		if it.Actor.Type == typ && deref(it.Actor.PartnerID) == deref(pid) {
			n++
		}
	}
	return n
}

// TestSecurityOne404Body answers every 404 with the same bytes, whatever
// the cause: out of scope, absent, another tenant's, not an id, no route.
func TestSecurityOne404Body(t *testing.T) {
	t.Parallel()
	rs := newRefusalScenario(t)
	random := uuid.NewString()
	cases := []struct {
		name string
		c    *caller
		path string
	}{
		{"another partner's subscription", rs.adminB, rs.tp("/subscriptions/%s", rs.s2.ID)},
		{"the tenant's subscription", rs.adminB, rs.tp("/subscriptions/%s/history", rs.s3.ID)},
		{"a random subscription", rs.adminB, rs.tp("/subscriptions/%s", random)},
		{"a random subscription, as the admin", rs.admin, rs.tp("/subscriptions/%s", random)},
		{"another tenant's subscription", rs.otherAdmin, rs.tp("/subscriptions/%s", rs.s1.ID)},
		{"an out-of-scope account", rs.adminB, rs.tp("/accounts/%s", rs.accounts[2].ID)},
		{"a random account", rs.admin, rs.tp("/accounts/%s", random)},
		{"not an id", rs.admin, rs.tp("/accounts/42")},
		{"a random product", rs.admin, rs.tp("/products/%s", random)},
		{"another partner's access", rs.adminB, rs.tp("/partners/%s/access", rs.partner)},
		{"out-of-scope usage", rs.adminB, rs.tp("/usage/summary?subscription_id=%s", rs.s2.ID)},
		{"another tenant", rs.adminB, "/v1/tenants/" + rs.otherTenant + "/accounts"},
		{"no such route", rs.admin, "/v1/nothing"},
	}
	var first *reply
	for _, c := range cases {
		r := c.c.get(t, c.path)
		r.problem(t, 404, "not_found")
		if first == nil {
			first = r
			continue
		}
		if !bytes.Equal(r.Body, first.Body) {
			t.Errorf("%s: 404 body %s, want the same bytes as %s: %s", c.name, r.Body, cases[0].name, first.Body)
		}
	}
}
