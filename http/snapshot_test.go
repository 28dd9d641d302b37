package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"ledger/eventstore"
)

// Sizes of TestReadsAreSnapshots: 30 trials of a second of load each, as
// the Jepsen-style checker ran them.
const (
	tornTrials      = 30
	tornTrialLength = time.Second
	tornSubs        = 3
	tornAmenders    = 6
	tornReaders     = 6
)

// TestReadsAreSnapshots amends three subscriptions concurrently, each
// amendment with a quantity of its own, while readers GET them with
// Ledger-Min-Position, through two replicas. Every read must show a state
// that existed: the quantity of its item is the one written by the
// amendment that produced the version it shows, and its MRR is that
// quantity's (read from the subscription's row, where the items come
// from rows of their own). A read must also show at least the version of
// every amendment answered before it was sent.
func TestReadsAreSnapshots(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a load of half a minute")
	}
	j := newJepsen(t, func(s eventstore.Store) eventstore.Store { return s })
	var reads, torn int
	for trial := range tornTrials {
		tr := j.tornTrial(t, trial)
		reads += len(tr.reads)
		torn += tr.check(t, trial)
		if t.Failed() {
			break
		}
	}
	t.Logf("%d reads; %s", reads, j.counts())
	if torn > 0 {
		t.Fatalf("%d reads showed a state that never existed", torn)
	}
}

// tornSub is one subscription of a trial: the quantity that each of its
// versions holds, as the amendments that made them answered.
type tornSub struct {
	id, item string
	mu       sync.Mutex
	quantity map[uint64]int
	acked    atomic.Uint64 // the highest version answered
}

// tornRead is what one read saw, and the least version it had to see.
type tornRead struct {
	sub      *tornSub
	version  uint64
	quantity int
	mrr      string
	least    uint64
}

// tornTrialState is one trial: its subscriptions, the position of the
// last write answered, and the reads.
type tornTrialState struct {
	subs    [tornSubs]*tornSub
	written atomic.Int64
	mu      sync.Mutex
	reads   []tornRead
	next    atomic.Int64 // the next quantity: unique within the trial
}

// tornTrial creates the trial's subscriptions and runs the amenders and
// readers against them for tornTrialLength.
func (j *jepsen) tornTrial(t *testing.T, trial int) *tornTrialState {
	t.Helper()
	today := time.Now().UTC()
	tr := &tornTrialState{}
	tr.next.Store(int64(trial*30_000 + 1)) // under domain.MaxQuantity for every trial
	for i := range tr.subs {
		q := int(tr.next.Add(1))
		x := j.do(t, "POST", j.path("/subscriptions"), j.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":%q,
			"term":{"type":"evergreen"},"items":[{"product_id":%q,"charge_id":%q,"quantity":%d}]}`,
			j.shop.account, today.AddDate(0, -2, 0).Format(time.DateOnly), j.shop.product, j.shop.charge, q))
		wantStatus(t, x, http.StatusCreated)
		var sub struct {
			ID    string
			Items []struct{ ID string }
		}
		x.decode(t, &sub)
		tr.subs[i] = &tornSub{id: sub.ID, item: sub.Items[0].ID, quantity: map[uint64]int{1: q}}
		tr.subs[i].acked.Store(1)
		tr.written.Store(max(tr.written.Load(), j.positionOf(x)))
	}
	effective := today.AddDate(0, -1, 0).Format(time.DateOnly)
	until := time.Now().Add(tornTrialLength)
	var wg sync.WaitGroup
	for client := range tornAmenders + tornReaders {
		wg.Go(func() {
			for n := 0; time.Now().Before(until) && !t.Failed(); n++ {
				sub := tr.subs[(client+n)%tornSubs]
				if client < tornAmenders {
					j.tornAmend(t, tr, sub, effective)
				} else {
					j.tornRead(t, tr, sub)
				}
			}
		})
	}
	wg.Wait()
	return tr
}

// tornView is the part of a subscription that the trial checks.
type tornView struct {
	Version uint64
	MRR     string
	Items   []struct{ Quantity int }
}

// tornAmend sets a new quantity of sub's item and records the version
// that holds it. The position is published before the version, so that a
// reader that loads the version first waits for its position.
func (j *jepsen) tornAmend(t *testing.T, tr *tornTrialState, sub *tornSub, effective string) {
	q := int(tr.next.Add(1))
	x := j.call(t, "POST", j.path("/subscriptions/%s/amendments", sub.id), j.adminKey, fmt.Sprintf(
		`{"effective_date":%q,"changes":[{"type":"change_quantity","item_id":%q,"quantity":%d}]}`, effective, sub.item, q), "")
	j.count("amend", x.status)
	var v tornView
	if x.status != http.StatusOK || json.Unmarshal(x.body, &v) != nil || len(v.Items) != 1 || v.Items[0].Quantity != q {
		t.Errorf("amend %s to %d: %d %s", sub.id, q, x.status, x.body)
		return
	}
	sub.mu.Lock()
	sub.quantity[v.Version] = q
	sub.mu.Unlock()
	if p := j.positionOf(x); p > 0 {
		for w := tr.written.Load(); p > w && !tr.written.CompareAndSwap(w, p); w = tr.written.Load() {
		}
	}
	for a := sub.acked.Load(); v.Version > a && !sub.acked.CompareAndSwap(a, v.Version); a = sub.acked.Load() {
	}
}

// tornRead reads sub with Ledger-Min-Position of every write answered.
func (j *jepsen) tornRead(t *testing.T, tr *tornTrialState, sub *tornSub) {
	least := sub.acked.Load()
	x := j.call(t, "GET", j.path("/subscriptions/%s", sub.id), j.adminKey, "", strconv.FormatInt(tr.written.Load(), 10))
	j.count("read", x.status)
	if x.status == http.StatusServiceUnavailable {
		return // the read models did not catch up in time: no read
	}
	var v tornView
	if x.status != http.StatusOK || json.Unmarshal(x.body, &v) != nil || len(v.Items) != 1 {
		t.Errorf("read %s: %d %s", sub.id, x.status, x.body)
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.reads = append(tr.reads, tornRead{sub: sub, version: v.Version, quantity: v.Items[0].Quantity, mrr: v.MRR, least: least})
}

// check checks every read of the trial, once every amendment answered,
// and returns how many showed a state that never existed.
func (tr *tornTrialState) check(t *testing.T, trial int) int {
	t.Helper()
	torn := 0
	price := decimal.RequireFromString("49") // the shop's monthly seat
	for _, r := range tr.reads {
		r.sub.mu.Lock()
		want, known := r.sub.quantity[r.version]
		r.sub.mu.Unlock()
		wantMRR := price.Mul(decimal.NewFromInt(int64(r.quantity))).StringFixed(2)
		switch {
		case !known:
			t.Errorf("trial %d: a read of %s showed version %d, which no amendment answered", trial, r.sub.id, r.version)
		case r.quantity != want || r.mrr != wantMRR:
			torn++
			if torn <= 5 {
				t.Errorf("trial %d: a read of %s showed version %d with quantity %d and mrr %s; version %d holds quantity %d",
					trial, r.sub.id, r.version, r.quantity, r.mrr, r.version, want)
			}
		}
		if r.version < r.least {
			t.Errorf("trial %d: a read of %s showed version %d, sent after version %d was answered", trial, r.sub.id, r.version, r.least)
		}
	}
	return torn
}
