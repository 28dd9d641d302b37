package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestAPIIdempotency holds api.md's Idempotency-Key and Ledger-Position
// to account through the real binary: a key is scoped by the tenant (or
// partner) of the path and the caller; every mutation replays its first
// response, status, body, ETag and a real Ledger-Position, and refuses the
// key with another request; usage of only duplicates and a repeated
// revocation change nothing yet answer the position of what they answer
// from, and replay it.
func TestAPIIdempotency(t *testing.T) {
	t.Parallel()
	k := &keyedScenario{scenario: newScenario(t)}
	runSteps(t, []step{
		{name: "partner on two tenants", run: k.partnerOnTwoTenants},
		{name: "one key on two tenants", needs: []string{"partner on two tenants"}, run: k.oneKeyOnTwoTenants},
		{name: "every route replays", needs: []string{"partner on two tenants"}, run: k.everyRouteReplays},
		{name: "usage of duplicates", needs: []string{"every route replays"}, run: k.usageOfDuplicates},
		{name: "no-ops answer their position", needs: []string{"every route replays"}, run: k.noOpsAnswerTheirPosition},
	})
}

// keyedScenario is the scenario of TestAPIIdempotency: a partner granted
// partner_admin on both tenants, and what the keyed routes created.
type keyedScenario struct {
	*scenario
	grantPosition uint64 // of the grant of the first tenant to the partner
	account       string
	subs          [2]subscriptionJSON
	storage       string // the usage charge's id
	usageDone     []any  // records already recorded
	usagePosition uint64 // where they were recorded
	revoked       *reply // the revocation of the partner's access to the other tenant
}

// keyedCall is one mutation sent with an Idempotency-Key, and another
// request (another body, or another path when there is no body) that the
// same key must refuse.
type keyedCall struct {
	by        *caller
	method    string
	path      string
	body      any
	status    int
	otherPath string // "": path
	otherBody any
}

// send sends call with key; retries ask for the first response.
func (call keyedCall) send(t *testing.T, key string) *reply {
	t.Helper()
	return call.by.do(t, call.method, call.path, call.body, "Idempotency-Key", key)
}

// replays sends call with a fresh key, then again: the retry answers the
// first response again, with its status, body, ETag and Ledger-Position,
// and the key with the other request is 422 idempotency_key_reused. It
// returns the first reply.
func (call keyedCall) replays(t *testing.T) *reply {
	t.Helper()
	key := "e2e-" + uuid.NewString()
	first := call.send(t, key).want(t, call.status)
	again := call.send(t, key).want(t, call.status)
	wantSameAnswer(t, first, again)
	otherPath := call.otherPath
	if otherPath == "" {
		otherPath = call.path
	}
	call.by.do(t, call.method, otherPath, call.otherBody, "Idempotency-Key", key).problem(t, 422, "idempotency_key_reused")
	return first
}

// wantSameAnswer checks that again is first's answer: the same status,
// body (but a new user's key, shown only once), ETag and a non-zero
// Ledger-Position.
func wantSameAnswer(t *testing.T, first, again *reply) {
	t.Helper()
	if again.Status != first.Status || again.Header.Get("ETag") != first.Header.Get("ETag") ||
		again.position(t) != first.position(t) {
		t.Errorf("%s: the retry answered %d, ETag %q, Ledger-Position %s; want the first answer's %d, %q, %s",
			again.req, again.Status, again.Header.Get("ETag"), again.Header.Get("Ledger-Position"),
			first.Status, first.Header.Get("ETag"), first.Header.Get("Ledger-Position"))
	}
	if len(first.Body) == 0 && len(again.Body) == 0 {
		return
	}
	var a, b map[string]any
	if err := json.Unmarshal(first.Body, &a); err != nil {
		t.Fatalf("%s: %v; body %s", first.req, err, first.Body)
	}
	if err := json.Unmarshal(again.Body, &b); err != nil {
		t.Fatalf("%s: %v; body %s", again.req, err, again.Body)
	}
	if _, shown := b["key"]; shown {
		t.Errorf("%s: the retry shows the new user's key again", again.req)
	}
	delete(a, "key") // only its hash was kept (docs/api.md)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s: the retry answered %s, want the first answer %s", again.req, again.Body, first.Body)
	}
}

func (k *keyedScenario) partnerOnTwoTenants(t *testing.T) {
	b := runBootstrap(t, k.env, "partner", "Northwind Resellers")
	k.partner = b.ID.String()
	k.partnerAdmin = k.partnerUser("partner admin", b.AdminUserID.String(), b.AdminKey)
	grant := map[string]any{"role": "partner_admin", "all_accounts": true}
	first := keyedCall{by: k.admin, method: http.MethodPut, path: k.tp("/partners/%s/access", k.partner), body: grant, status: 201,
		otherBody: map[string]any{"role": "partner_viewer", "all_accounts": true}}.replays(t)
	k.grantPosition = first.position(t)
	k.otherAdmin.put(t, "/v1/tenants/"+k.otherTenant+"/partners/"+k.partner+"/access", grant).want(t, 201)
}

// oneKeyOnTwoTenants: the partner admin opens an account on each tenant
// with one key and one body; each tenant gets its own, and a retry on
// each replays its own.
func (k *keyedScenario) oneKeyOnTwoTenants(t *testing.T) {
	key := "e2e-open-" + uuid.NewString()
	body := accountBody("Globex", map[string]any{"contact_name": "Hank Scorpio", "email": "billing@globex.example"})
	paths := []string{k.tp("/accounts"), "/v1/tenants/" + k.otherTenant + "/accounts"}
	var got [2]accountJSON
	var first [2]*reply
	for i, path := range paths {
		first[i] = k.partnerAdmin.post(t, path, body, "Idempotency-Key", key).wantJSON(t, 201, &got[i])
		wantUUID(t, "account id", got[i].ID)
	}
	if got[0].ID == got[1].ID {
		t.Fatalf("both tenants answered account %s: the key of one tenant was replayed on the other", got[0].ID)
	}
	for i, path := range paths {
		var account accountJSON
		k.partnerAdmin.get(t, path+"/"+got[i].ID).wantJSON(t, 200, &account)
		if !reflect.DeepEqual(account, got[i]) {
			t.Errorf("GET %s/%s = %+v, want the account created there, %+v", path, got[i].ID, account, got[i])
		}
		wantSameAnswer(t, first[i], k.partnerAdmin.post(t, path, body, "Idempotency-Key", key))
	}
}

// everyRouteReplays sends every mutation of api.md with a key, twice.
func (k *keyedScenario) everyRouteReplays(t *testing.T) {
	var user newUserJSON
	keyedCall{by: k.partnerAdmin, method: http.MethodPost, path: "/v1/partners/" + k.partner + "/users",
		body: map[string]any{"name": "Olga", "role": "partner_operator"}, status: 201,
		otherBody: map[string]any{"name": "Olga", "role": "partner_viewer"}}.replays(t).decode(t, &user)
	keyedCall{by: k.partnerAdmin, method: http.MethodDelete, path: "/v1/partners/" + k.partner + "/users/" + user.ID, status: 204,
		otherPath: "/v1/partners/" + k.partner + "/users/" + uuid.NewString()}.replays(t)

	keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/users"),
		body: map[string]any{"name": "Fin", "role": "finance"}, status: 201,
		otherBody: map[string]any{"name": "Fin", "role": "auditor"}}.replays(t).decode(t, &user)
	keyedCall{by: k.admin, method: http.MethodDelete, path: k.tp("/users/%s", user.ID), status: 204,
		otherPath: k.tp("/users/%s", uuid.NewString())}.replays(t)

	var product productJSON
	charges := []map[string]any{
		{"name": "Seat", "type": "recurring", "price": "49.00", "currency": "USD", "billing_period": "month"},
		{"name": "Storage", "type": "usage", "price": "0.10", "currency": "USD", "unit": "GB"},
	}
	keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/products"),
		body: map[string]any{"name": "Backup", "sku": "BKP", "charges": charges}, status: 201,
		otherBody: map[string]any{"name": "Backup", "sku": "BKP-2", "charges": charges}}.replays(t).decode(t, &product)
	k.storage = product.Charges[1].ID

	var account accountJSON
	billing := map[string]any{"contact_name": "Ada", "email": "ada@initech.example"}
	keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/accounts"), body: accountBody("Initech", billing), status: 201,
		otherBody: accountBody("Initrode", billing)}.replays(t).decode(t, &account)
	k.account = account.ID
	keyedCall{by: k.admin, method: http.MethodPut, path: k.tp("/accounts/%s/billing", k.account),
		body: map[string]any{"contact_name": "Ada", "email": "ap@initech.example"}, status: 200,
		otherBody: map[string]any{"contact_name": "Bob", "email": "ap@initech.example"}}.replays(t)

	items := []map[string]any{
		{"product_id": product.ID, "charge_id": product.Charges[0].ID, "quantity": 3},
		{"product_id": product.ID, "charge_id": product.Charges[1].ID, "quantity": 1},
	}
	sub := map[string]any{"account_id": k.account, "start_date": k.start, "term": termed(12, false), "items": items}
	otherSub := map[string]any{"account_id": k.account, "start_date": k.start, "term": termed(24, false), "items": items}
	for i := range k.subs {
		keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/subscriptions"), body: sub, status: 201,
			otherBody: otherSub}.replays(t).decode(t, &k.subs[i])
	}
	seat := k.subs[0].item(product.Charges[0].ID).ID
	keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/subscriptions/%s/amendments", k.subs[0].ID),
		body: k.amendment(seat, 4), status: 200, otherBody: k.amendment(seat, 5)}.replays(t)

	k.usageDone = []any{k.usageRecord(0), k.usageRecord(1)}
	r := keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/usage"), body: map[string]any{"records": k.usageDone}, status: 200,
		otherBody: map[string]any{"records": k.usageDone[:1]}}.replays(t)
	var res usageResultJSON
	r.decode(t, &res)
	if res != (usageResultJSON{Accepted: 2}) {
		t.Errorf("usage = %+v, want 2 accepted", res)
	}
	k.usagePosition = r.position(t)

	keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/subscriptions/%s/cancel", k.subs[1].ID),
		body: map[string]any{"policy": "end_of_term"}, status: 200,
		otherBody: map[string]any{"policy": "end_of_term", "reason": "moving"}}.replays(t)

	k.revoked = k.revokeOther().replays(t)
}

// revokeOther is the revocation of the partner's access to the other
// tenant.
func (k *keyedScenario) revokeOther() keyedCall {
	path := "/v1/tenants/" + k.otherTenant + "/partners/%s/access"
	return keyedCall{by: k.otherAdmin, method: http.MethodDelete, path: fmt.Sprintf(path, k.partner), status: 200,
		otherPath: fmt.Sprintf(path, uuid.NewString())}
}

// usageRecord is a new usage record on the storage item of subscription i.
func (k *keyedScenario) usageRecord(i int) map[string]any {
	start, _ := time.Parse(time.DateOnly, k.start)
	return map[string]any{"id": uuid.NewString(), "subscription_id": k.subs[i].ID, "item_id": k.subs[i].item(k.storage).ID,
		"quantity": 2, "occurred_at": start.AddDate(0, 0, 1).Add(10 * time.Hour).Format(time.RFC3339)}
}

// usageOfDuplicates: a keyed request of only duplicates answers where
// they were recorded, and its retry too; one whose last subscription has
// only duplicates records its key like any other.
func (k *keyedScenario) usageOfDuplicates(t *testing.T) {
	call := keyedCall{by: k.admin, method: http.MethodPost, path: k.tp("/usage"), body: map[string]any{"records": k.usageDone}, status: 200,
		otherBody: map[string]any{"records": []any{k.usageDone[0], k.usageRecord(1)}}}
	r := call.replays(t)
	var res usageResultJSON
	r.decode(t, &res)
	if res != (usageResultJSON{Duplicates: 2}) || r.position(t) != k.usagePosition {
		t.Errorf("usage of duplicates = %+v at %d, want 2 duplicates at %d, where they were recorded", res, r.position(t), k.usagePosition)
	}

	fresh := k.usageRecord(0)
	call.body = map[string]any{"records": []any{fresh, k.usageDone[1]}}
	call.otherBody = map[string]any{"records": []any{fresh, k.usageRecord(1)}}
	r = call.replays(t)
	r.decode(t, &res)
	if res != (usageResultJSON{Accepted: 1, Duplicates: 1}) || r.position(t) <= k.usagePosition {
		t.Errorf("usage whose last subscription has only duplicates = %+v at %d, want 1 accepted, 1 duplicate after %d",
			res, r.position(t), k.usagePosition)
	}
}

// noOpsAnswerTheirPosition: a repeated revocation and a grant of the
// terms granted change nothing, and answer, keyed or not, with the status
// and position of the events that recorded the state they answer from.
func (k *keyedScenario) noOpsAnswerTheirPosition(t *testing.T) {
	revoke := k.revokeOther()
	wantSameAnswer(t, k.revoked, revoke.by.delete(t, revoke.path))
	wantSameAnswer(t, k.revoked, revoke.replays(t))

	grant := keyedCall{by: k.admin, method: http.MethodPut, path: k.tp("/partners/%s/access", k.partner),
		body: map[string]any{"role": "partner_admin", "all_accounts": true}, status: 200,
		otherBody: map[string]any{"role": "partner_operator", "all_accounts": true}}
	if got := grant.replays(t).position(t); got != k.grantPosition {
		t.Errorf("the grant of its own terms answered Ledger-Position %d, want %d, the grant's", got, k.grantPosition)
	}
}
