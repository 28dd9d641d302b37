package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// faultShop is what the fault test's clients work on: one tenant, and a
// subscription per writer with a seat to amend and a usage item to
// record on.
type faultShop struct {
	base, tenant, key string
	subs              []faultSub
	position          uint64 // of the last subscription created
}

type faultSub struct {
	id, seat, storage string
}

// openFaultShop builds the shop through the API as the tenant's admin: a
// product with a seat and a usage charge, an account, and n
// subscriptions.
func openFaultShop(t *testing.T, base string, tenant bootstrapped, n int) *faultShop {
	t.Helper()
	shop := &faultShop{base: base, tenant: tenant.ID.String(), key: tenant.AdminKey}
	admin := &caller{api: newAPIClient(base), name: "tenant admin", key: tenant.AdminKey}
	var product productJSON
	decodeLoose(t, admin.post(t, shop.path("/products"), map[string]any{"name": "Faults", "sku": "FLT", "charges": []map[string]any{
		{"name": "Seat", "type": "recurring", "price": "10.00", "currency": "USD", "billing_period": "month"},
		{"name": "Storage", "type": "usage", "price": "0.10", "currency": "USD", "unit": "GB"},
	}}).want(t, http.StatusCreated), &product)
	var account accountJSON
	decodeLoose(t, admin.post(t, shop.path("/accounts"), accountBody("Faulty Towers",
		map[string]any{"contact_name": "Basil", "email": "basil@towers.example", "invoice_delivery": "email"})).want(t, http.StatusCreated), &account)
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	for range n {
		var sub subscriptionJSON
		r := admin.post(t, shop.path("/subscriptions"), map[string]any{
			"account_id": account.ID, "start_date": start, "term": map[string]any{"type": "evergreen"},
			"items": []map[string]any{
				{"product_id": product.ID, "charge_id": product.Charges[0].ID, "quantity": 1},
				{"product_id": product.ID, "charge_id": product.Charges[1].ID, "quantity": 1},
			},
		}).want(t, http.StatusCreated)
		decodeLoose(t, r, &sub)
		shop.position = max(shop.position, r.position(t))
		shop.subs = append(shop.subs, faultSub{id: sub.ID, seat: sub.item(product.Charges[0].ID).ID, storage: sub.item(product.Charges[1].ID).ID})
	}
	return shop
}

func (s *faultShop) path(format string, args ...any) string {
	return "/v1/tenants/" + s.tenant + fmt.Sprintf(format, args...)
}

func decodeLoose(t *testing.T, r *reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decode %s: %v", r.req, r.Body, err)
	}
}

// acked is a write the server acknowledged with a 2xx: the subscription,
// what was written (the seat's quantity, or the usage record's id) and
// the Ledger-Position answered.
type acked struct {
	sub      int
	amended  bool
	quantity int
	record   string
	position uint64
}

// faultLoad is the clients of the fault test: writers amending and
// recording usage, each on a subscription of its own, and readers reading
// their writes with Ledger-Min-Position. It tallies every answer by the
// round it came in and keeps every acknowledged write.
type faultLoad struct {
	shop   *faultShop
	client *http.Client
	round  atomic.Int64  // the fault under way, until caught up; -1 between faults
	seen   atomic.Uint64 // the highest position acknowledged
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu     sync.Mutex
	tally  map[int64]map[string]int // answers by round, then by outcome
	acks   []acked
	wrong  []string
	nWrong int
}

// backoff is how long a client waits after a 503 before its next request.
const backoff = 20 * time.Millisecond

func startFaultLoad(shop *faultShop, writers, readers int) *faultLoad {
	l := &faultLoad{
		shop: shop, done: make(chan struct{}), tally: map[int64]map[string]int{},
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: writers + readers}},
	}
	l.round.Store(-1)
	l.seen.Store(shop.position)
	for w := range writers {
		l.wg.Go(func() { l.write(w % len(shop.subs)) })
	}
	for range readers {
		l.wg.Go(l.read)
	}
	return l
}

// stop ends the clients and waits for their last answers.
func (l *faultLoad) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

func (l *faultLoad) stopped() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// write alternates amendments of the seat's quantity, a new quantity each
// time, and usage records of 1 GB, each with a new id.
func (l *faultLoad) write(sub int) {
	s := l.shop.subs[sub]
	for n := 2; !l.stopped(); n++ {
		a := acked{sub: sub, amended: n%2 == 0, quantity: n, record: uuid.NewString()}
		var path string
		var body map[string]any
		if a.amended {
			path = l.shop.path("/subscriptions/%s/amendments", s.id)
			body = map[string]any{"effective_date": time.Now().UTC().Format(time.DateOnly),
				"changes": []map[string]any{{"type": "change_quantity", "item_id": s.seat, "quantity": n}}}
		} else {
			path = l.shop.path("/usage")
			body = map[string]any{"records": []map[string]any{{"id": a.record, "subscription_id": s.id, "item_id": s.storage,
				"quantity": 1, "occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)}}}
		}
		raw, _ := json.Marshal(body)
		resp, err := l.send(http.MethodPost, path, raw, 0)
		if err != nil || resp.StatusCode/100 != 2 {
			continue
		}
		pos, err := strconv.ParseUint(resp.Header.Get("Ledger-Position"), 10, 64)
		if err != nil || pos == 0 {
			l.fail("POST %s: %d with Ledger-Position %q", path, resp.StatusCode, resp.Header.Get("Ledger-Position"))
			continue
		}
		a.position = pos
		l.mu.Lock()
		l.acks = append(l.acks, a)
		l.mu.Unlock()
		for seen := l.seen.Load(); pos > seen && !l.seen.CompareAndSwap(seen, pos); seen = l.seen.Load() {
		}
	}
}

// read reads a subscription or its usage, at least at the highest
// position any writer was answered.
func (l *faultLoad) read() {
	for n := 0; !l.stopped(); n++ {
		s := l.shop.subs[rand.N(len(l.shop.subs))]
		path := l.shop.path("/subscriptions/%s", s.id)
		if n%2 == 1 {
			path = l.shop.path("/usage/summary?subscription_id=%s", s.id)
		}
		l.send(http.MethodGet, path, nil, l.seen.Load())
	}
}

// send sends one request and tallies its answer; an answer that breaks
// api.md (a 500, a 503 without Retry-After or a documented code, a
// refusal of a valid request, no answer at all) is kept as wrong.
func (l *faultLoad) send(method, path string, body []byte, minPosition uint64) (*http.Response, error) {
	req, err := http.NewRequest(method, l.shop.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.shop.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if minPosition > 0 {
		req.Header.Set("Ledger-Min-Position", strconv.FormatUint(minPosition, 10))
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.count("no answer")
		l.fail("%s %s: %v", method, path, err)
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		l.fail("%s %s: read the answer: %v", method, path, err)
		return nil, err
	}
	outcome := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode == http.StatusServiceUnavailable {
		var p problemJSON
		json.Unmarshal(raw, &p)
		outcome += " " + p.Code
		time.Sleep(backoff)
	}
	l.count(outcome)
	if err := wrongAnswer(resp, raw); err != nil {
		l.fail("%s %s: %v", method, path, err)
	} else if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusServiceUnavailable {
		l.fail("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp, nil
}

func (l *faultLoad) count(outcome string) {
	round := l.round.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tally[round] == nil {
		l.tally[round] = map[string]int{}
	}
	l.tally[round][outcome]++
}

func (l *faultLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nWrong++
	if len(l.wrong) < 20 {
		l.wrong = append(l.wrong, fmt.Sprintf("round %d: ", l.round.Load())+fmt.Sprintf(format, args...))
	}
}
