package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// usageRecordsPerPost is how many usage records one usage request sends.
const usageRecordsPerPost = 3

// subRef is a subscription a worker amends, records usage on and reads.
type subRef struct {
	id        string
	seatItem  string
	usageItem string
	quantity  int
}

// worker is one client of the load: its own subscriptions, so that no
// two workers write to the same stream but the world's hot one, and its
// last write's position.
type worker struct {
	api     *api
	http    *wire
	world   *world
	mix     Mix
	total   int
	rng     *rand.Rand
	pool    []*subRef
	next    int
	lastPos int64
	lastSub *subRef
	rec     *recorder
}

func newWorker(i int, a *api, c *wire, w *world, mix Mix) *worker {
	return &worker{api: a, http: c, world: w, mix: mix, total: mix.total(),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))), rec: &recorder{}}
}

// wrote remembers a successful write's position for the next read.
func (w *worker) wrote(r reply, sub *subRef) {
	if r.ok() && r.position > w.lastPos {
		w.lastPos = r.position
	}
	if r.ok() && sub != nil {
		w.lastSub = sub
	}
}

// do runs one operation drawn from the mix.
func (w *worker) do(ctx context.Context) result {
	op := w.mix.pick(w.rng.IntN(w.total))
	switch op {
	case OpCreate:
		return w.create(ctx)
	case OpAmend:
		return w.amend(ctx)
	case OpHot:
		return w.amendHot(ctx)
	case OpUsage:
		return w.usage(ctx)
	default:
		return w.read(ctx)
	}
}

// nextSub returns the worker's subscriptions in turn.
func (w *worker) nextSub() *subRef {
	s := w.pool[w.next%len(w.pool)]
	w.next++
	return s
}

func today() string { return time.Now().UTC().Format(time.DateOnly) }

// subscriptionBody is the part of a subscription the load needs.
type subscriptionBody struct {
	ID    string `json:"id"`
	Items []struct {
		ID       string `json:"id"`
		ChargeID string `json:"charge_id"`
	} `json:"items"`
}

// newSubscription creates an evergreen subscription to the seat and the
// meter for account, starting today.
func (w *worker) newSubscription(ctx context.Context, account string) (reply, *subRef, error) {
	body := map[string]any{
		"account_id": account,
		"start_date": today(),
		"term":       map[string]any{"type": "evergreen"},
		"items": []map[string]any{
			{"product_id": w.world.productID, "charge_id": w.world.seatCharge, "quantity": 1},
			{"product_id": w.world.productID, "charge_id": w.world.usageCharge, "quantity": 1},
		},
	}
	var out subscriptionBody
	r, err := w.http.call(ctx, http.MethodPost, w.api.tenantPath("/subscriptions"), body, 0, &out)
	if err != nil || !r.ok() {
		return r, nil, err
	}
	ref := &subRef{id: out.ID, quantity: 1}
	for _, it := range out.Items {
		switch it.ChargeID {
		case w.world.seatCharge:
			ref.seatItem = it.ID
		case w.world.usageCharge:
			ref.usageItem = it.ID
		}
	}
	if ref.id == "" || ref.seatItem == "" || ref.usageItem == "" {
		return r, nil, errBadBody
	}
	return r, ref, nil
}

func (w *worker) create(ctx context.Context) result {
	account := w.world.accounts[w.rng.IntN(len(w.world.accounts))]
	r, ref, err := w.newSubscription(ctx, account)
	w.wrote(r, ref)
	return result{op: OpCreate, reply: r, err: err}
}

// amend changes the seat quantity of the next subscription, between 1
// and 2, without If-Match.
func (w *worker) amend(ctx context.Context) result {
	s := w.nextSub()
	q := 3 - s.quantity
	r, err := w.changeSeats(ctx, s, q)
	if err == nil && r.ok() {
		s.quantity = q
	}
	w.wrote(r, s)
	return result{op: OpAmend, reply: r, err: err}
}

// amendHot changes the seat quantity of the hot subscription, which
// every worker amends, without If-Match: 1 and 2 in turn in the order
// the workers send them, which is not always the order the server
// appends them in.
func (w *worker) amendHot(ctx context.Context) result {
	s := w.world.hot
	q := 1 + int(w.world.hotSent.Add(1)%2)
	r, err := w.changeSeats(ctx, s, q)
	w.wrote(r, s)
	return result{op: OpHot, reply: r, err: err}
}

// changeSeats amends s, effective today, with one change of its seat
// quantity to q.
func (w *worker) changeSeats(ctx context.Context, s *subRef, q int) (reply, error) {
	body := map[string]any{
		"effective_date": today(),
		"changes":        []map[string]any{{"type": "change_quantity", "item_id": s.seatItem, "quantity": q}},
	}
	return w.http.call(ctx, http.MethodPost, w.api.tenantPath("/subscriptions/%s/amendments", s.id), body, 0, nil)
}

// usage records a few usage records with fresh ids on the next
// subscription's meter.
func (w *worker) usage(ctx context.Context) result {
	s := w.nextSub()
	at := time.Now().UTC().Format(time.RFC3339Nano)
	records := make([]map[string]any, usageRecordsPerPost)
	for i := range records {
		records[i] = map[string]any{"id": uuid.NewString(), "subscription_id": s.id, "item_id": s.usageItem,
			"quantity": usageQuantity(w.rng), "occurred_at": at}
	}
	r, err := w.http.call(ctx, http.MethodPost, w.api.tenantPath("/usage"), map[string]any{"records": records}, 0, nil)
	w.wrote(r, s)
	return result{op: OpUsage, reply: r, err: err}
}

// usageQuantity is a decimal string of hundredths, 0.01..9.99, as the
// API writes usage quantities.
func usageQuantity(rng *rand.Rand) string {
	n := 1 + rng.IntN(999)
	return fmt.Sprintf("%d.%02d", n/100, n%100)
}

// read gets the subscription last written, at the position of the
// worker's last write, so that it sees its own writes.
func (w *worker) read(ctx context.Context) result {
	s := w.lastSub
	if s == nil {
		s = w.nextSub()
	}
	r, err := w.http.call(ctx, http.MethodGet, w.api.tenantPath("/subscriptions/%s", s.id), nil, w.lastPos, nil)
	return result{op: OpRead, reply: r, err: err, minPos: w.lastPos > 0}
}
