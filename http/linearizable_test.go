package http

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/prometheus/client_golang/prometheus"

	"ledger/commands"
	"ledger/eventstore"
)

// jepsenDuration runs the linearizability test for that long instead of
// its few short rounds: go test ./http -run TestLinearizable -jepsen=5m.
var jepsenDuration = flag.Duration("jepsen", 0, "run TestLinearizable for this long (default: a few short rounds)")

// TestLinearizable is a Jepsen-style test through the HTTP server: two
// replicas on one database, concurrent clients that amend and cancel a
// subscription as a partner's operator, read it as the tenant's admin with
// Ledger-Min-Position of every write already answered, and revoke and
// grant the partner's access again. Each call and return is recorded, and
// the history of each round must be linearizable (porcupine) against a
// model of the subscription and the grant: in particular, a partner's
// write may succeed only if it can be ordered before the revocation that
// followed its grant.
func TestLinearizable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a load of a few seconds")
	}
	j := newJepsen(t, func(s eventstore.Store) eventstore.Store { return s })
	rounds, length := 4, time.Second
	deadline := time.Now().Add(*jepsenDuration)
	for round := 0; round < rounds || time.Now().Before(deadline); round++ {
		history := j.round(t, length)
		if res, info := porcupine.CheckOperationsVerbose(subscriptionModel, history, time.Minute); res != porcupine.Ok {
			t.Fatalf("round %d: a history of %d operations is %s; see %s", round, len(history), res, j.visualize(info))
		}
	}
	t.Logf("%d rounds: %s", j.rounds, j.counts())
}

// TestLinearizableNeedsConditions runs the same rounds on replicas whose
// appends drop their conditions, and shows that the checker then finds a
// history that is not linearizable: a partner's write that succeeded
// after its revocation returned. So the test above has the power to catch
// a broken condition.
func TestLinearizableNeedsConditions(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a load of a few seconds")
	}
	j := newJepsen(t, func(s eventstore.Store) eventstore.Store { return unconditioned{s} })
	for round := range 20 {
		history := j.round(t, time.Second)
		if porcupine.CheckOperationsTimeout(subscriptionModel, history, time.Minute) == porcupine.Illegal {
			t.Logf("round %d: not linearizable, as it must not be without conditions (%s)", round, j.counts())
			return
		}
	}
	t.Fatalf("20 rounds without conditions all linearizable (%s): the test cannot tell a broken condition", j.counts())
}

// unconditioned is a store that drops the conditions of every append.
type unconditioned struct{ eventstore.Store }

func (s unconditioned) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	req.Conditions = nil
	return s.Store.Append(ctx, req)
}

// jepsen is the test's world: two replicas, a partner with an operator, a
// product and an account, and the tenant's admin.
type jepsen struct {
	*api
	replicas    [2]*httptest.Server
	client      *http.Client
	operatorKey string
	shop        shop
	start       time.Time
	rounds      int
	tally       sync.Map // outcome → *atomic.Int64
}

// newJepsen builds the world; wrap makes each replica's store from the
// event store.
func newJepsen(t *testing.T, wrap func(eventstore.Store) eventstore.Store) *jepsen {
	t.Helper()
	a := newAPI(t)
	a.documentChecks = false
	j := &jepsen{api: a, client: &http.Client{Timeout: 30 * time.Second}, start: time.Now()}
	for i := range j.replicas {
		svc := commands.New(wrap(a.store), withBillingIndex(a.pool, a.store))
		j.replicas[i] = httptest.NewServer(NewServer(Deps{DB: a.pool, Pool: a.pool, Commands: svc, Metrics: prometheus.NewRegistry(),
			Logger: slog.New(slog.DiscardHandler)}))
		t.Cleanup(j.replicas[i].Close)
	}
	j.shop = stockShop(t, a)
	x := a.do(t, "POST", fmt.Sprintf("/v1/partners/%s/users", a.partner), a.partnerKey, `{"name":"Ops","role":"partner_operator"}`)
	wantStatus(t, x, http.StatusCreated)
	var op struct{ Key string }
	x.decode(t, &op)
	j.operatorKey = op.Key
	return j
}

// jop is an operation of the history: its input.
type jop struct {
	kind string // amend, cancel, read, revoke, grant
}

// jresult is an operation's output.
type jresult struct {
	status    int
	code      string
	version   uint64
	cancelled bool
}

// subState is the model's state: the partner's grant and the
// subscription.
type subState struct {
	granted   bool
	cancelled bool
	version   uint64
}

// subscriptionModel is the sequential specification of one round.
var subscriptionModel = porcupine.Model{
	Init: func() any { return subState{granted: true, version: 1} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(subState), input.(jop), output.(jresult)
		switch in.kind {
		case "read":
			return out.status == http.StatusOK && out.version == s.version && out.cancelled == s.cancelled, s
		case "revoke":
			return out.status == http.StatusOK, subState{granted: false, cancelled: s.cancelled, version: s.version}
		case "grant":
			return out.status == http.StatusOK || out.status == http.StatusCreated, subState{granted: true, cancelled: s.cancelled, version: s.version}
		}
		switch {
		case !s.granted:
			return out.status == http.StatusForbidden && out.code == "partner_access_revoked", s
		case s.cancelled && in.kind == "amend":
			return out.status == http.StatusUnprocessableEntity && out.code == "subscription_not_active", s
		case s.cancelled:
			return out.status == http.StatusUnprocessableEntity && out.code == "already_cancelled", s
		}
		next := subState{granted: true, cancelled: s.cancelled || in.kind == "cancel", version: s.version + 1}
		return out.status == http.StatusOK && out.version == next.version, next
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(jop), output.(jresult)
		return fmt.Sprintf("%s → %d %s v%d cancelled=%v", in.kind, out.status, out.code, out.version, out.cancelled)
	},
	DescribeState: func(state any) string {
		s := state.(subState)
		return fmt.Sprintf("granted=%v cancelled=%v v%d", s.granted, s.cancelled, s.version)
	},
}

// round creates a subscription and, for length, runs four partner
// clients, two readers and the tenant's admin against it, through either
// replica at random; it returns the history.
func (j *jepsen) round(t *testing.T, length time.Duration) []porcupine.Operation {
	t.Helper()
	j.rounds++
	if x := j.call(t, "PUT", j.path("/partners/%s/access", j.partner), j.adminKey, `{"role":"partner_operator","all_accounts":true}`, ""); x.status >= 300 {
		t.Fatalf("grant: %d %s", x.status, x.body)
	}
	x := j.do(t, "POST", j.path("/subscriptions"), j.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-11-01","term":{"type":"evergreen"},
		"items":[{"product_id":%q,"charge_id":%q,"quantity":1}]}`, j.shop.account, j.shop.product, j.shop.charge))
	wantStatus(t, x, http.StatusCreated)
	var sub struct {
		ID    string
		Items []struct{ ID string }
	}
	x.decode(t, &sub)
	r := &roundState{sub: sub.ID, item: sub.Items[0].ID}
	r.written.Store(j.positionOf(x))
	r.granted.Store(true)
	until := time.Now().Add(length)
	var wg sync.WaitGroup
	for client := range 7 {
		wg.Go(func() {
			for time.Now().Before(until) && !t.Failed() {
				j.step(t, r, client)
			}
		})
	}
	wg.Wait()
	return r.history
}

// roundState is what the clients of a round share: the subscription, the
// position of the last write answered, and the history.
type roundState struct {
	sub, item string
	written   atomic.Int64
	mu        sync.Mutex
	history   []porcupine.Operation
	granted   atomic.Bool // the admin client's own view, to alternate
}

// step makes one operation of client: clients 0 to 3 are the partner's,
// 4 and 5 read, 6 is the tenant's admin.
func (j *jepsen) step(t *testing.T, r *roundState, client int) {
	var (
		in   jop
		call func() exchange
	)
	switch {
	case client < 4 && rand.IntN(200) == 0:
		in, call = jop{"cancel"}, func() exchange {
			return j.call(t, "POST", j.path("/subscriptions/%s/cancel", r.sub), j.operatorKey, `{"policy":"end_of_term"}`, "")
		}
	case client < 4:
		body := fmt.Sprintf(`{"effective_date":"2026-12-01","changes":[{"type":"change_quantity","item_id":%q,"quantity":%d}]}`, r.item, 1+rand.IntN(9))
		in, call = jop{"amend"}, func() exchange {
			return j.call(t, "POST", j.path("/subscriptions/%s/amendments", r.sub), j.operatorKey, body, "")
		}
	case client < 6:
		in, call = jop{"read"}, func() exchange {
			min := strconv.FormatInt(r.written.Load(), 10) // after the call's time is taken
			return j.call(t, "GET", j.path("/subscriptions/%s", r.sub), j.adminKey, "", min)
		}
	default:
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		in = jop{"revoke"}
		call = func() exchange {
			return j.call(t, "DELETE", j.path("/partners/%s/access", j.partner), j.adminKey, "", "")
		}
		if !r.granted.Load() {
			in = jop{"grant"}
			call = func() exchange {
				return j.call(t, "PUT", j.path("/partners/%s/access", j.partner), j.adminKey, `{"role":"partner_operator","all_accounts":true}`, "")
			}
		}
	}
	begin := time.Since(j.start)
	x := call()
	// A write's position is published before its return time is taken,
	// and a read takes its call time before it loads the position: so a
	// read called after a write returned waits for that write.
	if p := j.positionOf(x); p > 0 {
		for w := r.written.Load(); p > w && !r.written.CompareAndSwap(w, p); w = r.written.Load() {
		}
	}
	end := time.Since(j.start)
	out, keep := j.result(t, in, x)
	if in.kind == "revoke" || in.kind == "grant" {
		r.granted.Store(in.kind == "grant")
	}
	if !keep {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history = append(r.history, porcupine.Operation{ClientId: client, Input: in, Call: int64(begin), Output: out, Return: int64(end)})
}

// result reads x as the output of in. A read the read models could not
// answer in time (503) is left out of the history: it did nothing. Any
// other 5xx, or a 409 for contention, fails the test.
func (j *jepsen) result(t *testing.T, in jop, x exchange) (jresult, bool) {
	out := jresult{status: x.status}
	j.count(in.kind, x.status)
	switch {
	case in.kind == "read" && x.status == http.StatusServiceUnavailable:
		return out, false
	case x.status >= 500 || x.status == http.StatusConflict:
		t.Errorf("%s: %d %s", in.kind, x.status, x.body)
		return out, false
	case x.status >= 400:
		var p problem
		_ = json.Unmarshal(x.body, &p)
		out.code = p.Code
		return out, true
	}
	if in.kind == "amend" || in.kind == "cancel" || in.kind == "read" {
		var s struct {
			Version uint64
			Status  string
		}
		if err := json.Unmarshal(x.body, &s); err != nil {
			t.Errorf("%s: %s: %v", in.kind, x.body, err)
		}
		out.version, out.cancelled = s.Version, s.Status != "active"
	}
	return out, true
}

// call sends a request to a replica at random, with Ledger-Min-Position
// min when it is not empty.
func (j *jepsen) call(t *testing.T, method, path, key, body, min string) exchange {
	replica := j.replicas[rand.IntN(len(j.replicas))]
	req, err := http.NewRequest(method, replica.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if min != "" {
		req.Header.Set(headerLedgerMinPostion, min)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return exchange{status: 599}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s: read: %v", method, path, err)
	}
	return exchange{status: resp.StatusCode, header: resp.Header, body: b}
}

func (j *jepsen) positionOf(x exchange) int64 {
	p, _ := strconv.ParseInt(x.header.Get(headerLedgerPosition), 10, 64)
	return p
}

func (j *jepsen) count(kind string, status int) {
	c, _ := j.tally.LoadOrStore(fmt.Sprintf("%s %d", kind, status), new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// counts says how many operations of each kind ended with each status.
func (j *jepsen) counts() string {
	var parts []string
	j.tally.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(parts, ", ")
}

// visualize writes porcupine's picture of a history that failed, and
// returns its path.
func (j *jepsen) visualize(info porcupine.LinearizationInfo) string {
	f, err := os.CreateTemp("", "ledger-history-*.html")
	if err != nil {
		return "no visualization: " + err.Error()
	}
	defer f.Close()
	if err := porcupine.Visualize(subscriptionModel, info, f); err != nil {
		return "no visualization: " + err.Error()
	}
	return f.Name()
}
