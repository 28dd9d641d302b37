package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/commands"
	"ledger/internal/pgtest"
	"ledger/projections"
)

// takeoverLimit is how soon after the kill of the replica holding the
// projections the other must apply events appended after the kill (it
// tries the locks every second); after takeoverGiveUp the test stops.
const (
	takeoverLimit  = 5 * time.Second
	takeoverGiveUp = 15 * time.Second
)

// failoverPlan is the load and the kills of one run.
type failoverPlan struct {
	clients int           // writers, each on a subscription of its own
	every   time.Duration // each writer's pace: one write per every
	steady  time.Duration // the load before each kill, and after the last
	kills   int           // kills of the replica holding the projections
}

var (
	shortFailover = failoverPlan{clients: 4, every: 50 * time.Millisecond, steady: 2 * time.Second, kills: 1}
	longFailover  = failoverPlan{clients: 8, every: 40 * time.Millisecond, steady: 10 * time.Second, kills: 6}
)

// TestFailoverTwoReplicas runs two replicas of `ledger serve` on one
// database and writers that send to both, as behind a load balancer. It
// kills (SIGKILL) the replica holding the projections' advisory locks
// and asserts that the other applies events appended after the kill
// within takeoverLimit, that the writers saw no error but on requests in
// flight on the killed replica, that every acknowledged write is in the
// log exactly once, and that `ledger projections verify` passes.
//
// LEDGER_FAILOVER_LONG=1 runs longFailover (scripts/bench-failover.sh):
// more writers, six kills back and forth, each replica killed started
// again after the takeover. Not parallel: the takeover is timed.
func TestFailoverTwoReplicas(t *testing.T) {
	plan := shortFailover
	if os.Getenv("LEDGER_FAILOVER_LONG") == "1" {
		plan = longFailover
	}
	// A cluster of its own: on the shared server, a long transaction of
	// any other test holds every reader of the log back (operations.md).
	cluster := pgtest.NewCluster(t)
	probe := cluster.Pool(t, "ledger")
	dbURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/ledger?sslmode=disable", cluster.Port)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	tenant := runBootstrap(t, env, "tenant", "Failover Inc")
	dataDir := t.TempDir() // one signing key and session key for both replicas
	a, b := newReplica(t, "ledger-a", dbURL, dataDir), newReplica(t, "ledger-b", dbURL, dataDir)
	a.start(t)
	holder(t, probe, a) // before b starts
	b.start(t)
	shop := openFaultShop(t, a.base, tenant, plan.clients)
	load := startFailoverLoad(shop, a, b, plan)
	defer load.stop()

	for i := range plan.kills {
		// A random part of a second: the kill falls anywhere between two of
		// the survivor's tries of the locks, not at the same point each time.
		time.Sleep(plan.steady + rand.N(time.Second))
		killed := holder(t, probe, a, b)
		survivor := map[*replica]*replica{a: b, b: a}[killed]
		k := load.kill(t, killed)
		k.takeover = waitCheckpoints(t, probe, headPosition(t, probe)+1, k.killedAt)
		if k.takeover > takeoverLimit {
			t.Errorf("kill %d of %s: %s took over in %s, want under %s", i+1, killed.name, survivor.name, k.takeover.Round(time.Millisecond), takeoverLimit)
		}
		if got := holder(t, probe, a, b); got != survivor {
			t.Errorf("kill %d of %s: %s holds the projections, want %s", i+1, killed.name, got.name, survivor.name)
		}
		if i+1 < plan.kills {
			killed.start(t)
		}
	}
	time.Sleep(plan.steady)
	load.stop()
	waitCheckpoints(t, probe, headPosition(t, probe), time.Now())
	for _, r := range []*replica{a, b} {
		r.srv.stop(t) // the one killed last is not started again
	}
	load.report(t, probe)
	checkExactlyOnce(t, probe, load)
	if out, err := runLedger(t, env, "projections", "verify"); err != nil {
		t.Errorf("ledger projections verify after the failover: %v\n%s", err, out)
	}
}

// replica is one of the two `ledger serve`s, at a fixed address as a load
// balancer knows it, started there again after a kill.
type replica struct {
	name string // its application_name in pg_stat_activity
	base string // http://, then the address it listens on
	env  []string
	srv  *server // the last process started; nil before the first
}

// newReplica is a replica on dbURL, which has a query already.
func newReplica(t *testing.T, name, dbURL, dataDir string) *replica {
	t.Helper()
	// 16 connections: 9 projections' locks, the listener and the requests.
	db := dbURL + "&application_name=" + name + "&pool_max_conns=16"
	return &replica{name: name, base: "http://" + freeAddr(t), env: []string{"LEDGER_DATABASE_URL=" + db, "LEDGER_DATA_DIR=" + dataDir, "LEDGER_LOG_LEVEL=warn"}}
}

// start runs `ledger serve` at r's address and waits until it is healthy;
// when the test ends it is stopped with SIGTERM, unless it was killed.
func (r *replica) start(t *testing.T) {
	t.Helper()
	cmd, _, stderr := ledgerCmd(t, slices.Concat(r.env, []string{"LEDGER_HTTP_ADDR=" + strings.TrimPrefix(r.base, "http://")}), "serve")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", r.name, err)
	}
	srv := &server{base: r.base, cmd: cmd, exited: make(chan error, 1), stderr: stderr}
	go func() { srv.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if logs := srv.stop(t); t.Failed() {
			t.Logf("the log of %s (pid %d):\n%s", r.name, cmd.Process.Pid, logs)
		}
	})
	waitHealthy(t, srv.base+"/healthz", srv.exited, stderr)
	r.srv = srv
}

// projectionLockKeys are the advisory locks of the projections, keyed as
// the runner keys them (projections.lockKey).
func projectionLockKeys() []int64 {
	var keys []int64
	for _, p := range projections.All() {
		h := fnv.New64a()
		fmt.Fprintf(h, "ledger projection %s", p.Name())
		keys = append(keys, int64(h.Sum64()))
	}
	return keys
}

// holder returns the replica whose sessions hold every projection's
// advisory lock, waiting up to 10 s for one of replicas to.
func holder(t *testing.T, probe *pgxpool.Pool, replicas ...*replica) *replica {
	t.Helper()
	keys := projectionLockKeys()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var name string
		err := probe.QueryRow(context.Background(), `SELECT coalesce((SELECT a.application_name
			FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
			  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($1)
			GROUP BY a.application_name HAVING count(*) = cardinality($1)), '')`, keys).Scan(&name)
		for _, r := range replicas {
			if r.name == name {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica holds the %d projections' locks 10 s on (last error: %v)", len(keys), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func headPosition(t *testing.T, probe *pgxpool.Pool) int64 {
	t.Helper()
	var head int64
	if err := probe.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		t.Fatalf("read the log's head: %v", err)
	}
	return head
}

// waitCheckpoints waits until every projection's checkpoint is at least
// position and returns the time since since; it stops the test when that
// is over takeoverGiveUp.
func waitCheckpoints(t *testing.T, probe *pgxpool.Pool, position int64, since time.Time) time.Duration {
	t.Helper()
	for {
		var behind []string
		rows, err := probe.Query(context.Background(), `SELECT name || ' at ' || position FROM readmodel.checkpoints
			WHERE position < $1 ORDER BY name`, position)
		if err == nil {
			behind, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		took := time.Since(since)
		if err == nil && len(behind) == 0 {
			return took
		}
		if took > takeoverGiveUp {
			t.Fatalf("%s on, projections are still before position %d: %v (last error: %v)", takeoverGiveUp, position, behind, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failoverLoad is the writers: each alternates amendments of its
// subscription's seats and usage records, and sends each write to the
// replicas in turn, as a load balancer would (see deliver).
type failoverLoad struct {
	plan     failoverPlan
	shop     *faultShop
	replicas [2]*replica
	client   *http.Client
	began    time.Time // the first write
	ended    time.Time // the last answer
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	acks    [][]failoverAck // by writer, in the order written
	kills   []*failoverKill
	refused atomic.Int64 // requests to a replica down, refused a connection, sent to the other
	errs    []string     // answers no client should see; the first 20
	nErrs   int
}

// failoverAck is a write acknowledged with a 2xx.
type failoverAck struct {
	amended   bool
	value     string // the seats amended to, or the usage record's id
	position  uint64 // the Ledger-Position answered
	started   time.Time
	latency   time.Duration // from the first try to the answer, retries included
	cut       *failoverKill // the kill that cut it short, when it was sent again to the other replica
	requestID string        // the X-Request-ID of the try answered
}

// failoverKill is one kill of the replica holding the projections.
type failoverKill struct {
	replica          *replica
	killedAt, diedAt time.Time // SIGKILL sent; the process reaped (zero until then)
	takeover         time.Duration
	inFlight         int // requests sent to the replica before it was gone, and failed
}

// failoverWrite is one write to deliver, with its Idempotency-Key.
type failoverWrite struct {
	path, key string
	body      []byte
	ack       failoverAck
}

func startFailoverLoad(shop *faultShop, a, b *replica, plan failoverPlan) *failoverLoad {
	l := &failoverLoad{plan: plan, shop: shop, replicas: [2]*replica{a, b}, began: time.Now(), done: make(chan struct{}),
		acks:   make([][]failoverAck, plan.clients),
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: plan.clients}}}
	for c := range plan.clients {
		l.wg.Go(func() { l.write(c) })
	}
	return l
}

// stop ends the writers and waits for their last answers.
func (l *failoverLoad) stop() {
	l.once.Do(func() { close(l.done); l.wg.Wait(); l.ended = time.Now() })
}

func (l *failoverLoad) write(c int) {
	tick := time.NewTicker(l.plan.every)
	defer tick.Stop()
	for n := 2; ; n++ {
		l.deliver(c, l.newWrite(c, n), (c+n)%2)
		select {
		case <-l.done:
			return
		case <-tick.C:
		}
	}
}

func (l *failoverLoad) newWrite(c, n int) failoverWrite {
	s := l.shop.subs[c]
	w := failoverWrite{key: fmt.Sprintf("failover-%d-%d", c, n), ack: failoverAck{amended: n%2 == 0}}
	var body map[string]any
	if w.ack.amended {
		w.path, w.ack.value = l.shop.path("/subscriptions/%s/amendments", s.id), strconv.Itoa(n)
		body = map[string]any{"effective_date": time.Now().UTC().Format(time.DateOnly),
			"changes": []map[string]any{{"type": "change_quantity", "item_id": s.seat, "quantity": n}}}
	} else {
		w.path, w.ack.value = l.shop.path("/usage"), uuid.NewString()
		body = map[string]any{"records": []map[string]any{{"id": w.ack.value, "subscription_id": s.id, "item_id": s.storage,
			"quantity": 1, "occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)}}}
	}
	w.body, _ = json.Marshal(body)
	return w
}

// deliver sends w to replicas[first], then, when a replica was killed
// with w in flight or refuses the connection, to the other, with the same
// Idempotency-Key, until w is answered. A 2xx is kept; any other answer,
// and any other failure, is an error.
func (l *failoverLoad) deliver(c int, w failoverWrite, first int) {
	w.ack.started = time.Now()
	for try, target := 0, first; try < 10; try, target = try+1, 1-target {
		r := l.replicas[target]
		sent := time.Now()
		requestID := fmt.Sprintf("%s.%d", w.key, try)
		status, pos, raw, err := l.post(r, w, requestID)
		switch {
		case err == nil && status/100 == 2 && pos > 0:
			w.ack.position, w.ack.latency, w.ack.requestID = pos, time.Since(w.ack.started), requestID
			l.mu.Lock()
			l.acks[c] = append(l.acks[c], w.ack)
			l.mu.Unlock()
			return
		case err == nil:
			l.fail("POST %s on %s: %d %s (Ledger-Position %d)", w.path, r.name, status, raw, pos)
			return
		case l.cutByKill(r, sent, &w.ack):
		case errors.Is(err, syscall.ECONNREFUSED):
			l.refused.Add(1)
		default:
			l.fail("POST %s on %s: %v", w.path, r.name, err)
		}
		if try > 0 {
			time.Sleep(backoff)
		}
	}
	l.fail("POST %s: no replica answered in 10 tries", w.path)
}

func (l *failoverLoad) post(r *replica, w failoverWrite, requestID string) (status int, position uint64, body []byte, err error) {
	req, err := http.NewRequest(http.MethodPost, r.base+w.path, bytes.NewReader(w.body))
	if err != nil {
		return 0, 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.shop.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", w.key)
	req.Header.Set("X-Request-ID", requestID)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(resp.Body); err != nil {
		return 0, 0, nil, err
	}
	position, _ = strconv.ParseUint(resp.Header.Get("Ledger-Position"), 10, 64)
	return resp.StatusCode, position, body, nil
}

// cutByKill says whether a failed request sent to r at sent was in flight
// at a kill of r (sent before the process was reaped), counts it and keeps
// the kill in ack. Refused counts too: Go's transport sends a request with
// an Idempotency-Key lost on a kept-alive connection again by itself, to
// the same replica.
func (l *failoverLoad) cutByKill(r *replica, sent time.Time, ack *failoverAck) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range slices.Backward(l.kills) {
		if k.replica == r && (k.diedAt.IsZero() || !sent.After(k.diedAt)) {
			k.inFlight++
			ack.cut = k
			return true
		}
	}
	return false
}

// kill sends SIGKILL to r's process and waits until it is reaped.
func (l *failoverLoad) kill(t *testing.T, r *replica) *failoverKill {
	t.Helper()
	k := &failoverKill{replica: r, killedAt: time.Now()}
	l.mu.Lock()
	l.kills = append(l.kills, k)
	l.mu.Unlock()
	if err := r.srv.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", r.name, err)
	}
	<-r.srv.exited
	r.srv.stopped, r.srv.logs = true, r.srv.stderr.String()
	l.mu.Lock()
	k.diedAt = time.Now()
	l.mu.Unlock()
	return k
}

func (l *failoverLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nErrs++; len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

// window returns the writes started in [from, to) and acknowledged: how
// many a second, how many were sent again after a kill, their p99 latency.
func (l *failoverLoad) window(from, to time.Time) (perSecond float64, retried int, p99 time.Duration) {
	var latencies []time.Duration
	for _, a := range slices.Concat(l.acks...) {
		if !a.started.Before(from) && a.started.Before(to) {
			latencies = append(latencies, a.latency)
			if a.cut != nil {
				retried++
			}
		}
	}
	if len(latencies) == 0 {
		return 0, 0, 0
	}
	slices.Sort(latencies)
	return float64(len(latencies)) / to.Sub(from).Seconds(), retried, latencies[(len(latencies)*99-1)/100]
}

// report logs each kill's figures and the run's, and fails t on every
// error a writer saw. Around a kill is from 1 s before it to 1 s after
// the takeover.
func (l *failoverLoad) report(t *testing.T, probe *pgxpool.Pool) {
	t.Helper()
	landed := map[*failoverKill]int{} // writes cut short that the try cut short had appended
	for _, a := range slices.Concat(l.acks...) {
		if a.cut == nil {
			continue
		}
		var appendedBy string
		err := probe.QueryRow(context.Background(), `SELECT metadata->>'client_request_id' FROM events WHERE position = $1`, int64(a.position)).Scan(&appendedBy)
		if err != nil {
			t.Fatalf("read the event at %d: %v", a.position, err)
		}
		if appendedBy != a.requestID {
			landed[a.cut]++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s %-9s %9s %9s %7s %9s %8s\n", "kill", "replica", "takeover", "in flight", "landed", "writes/s", "p99")
	for i, k := range l.kills {
		rate, _, p99 := l.window(k.killedAt.Add(-time.Second), k.killedAt.Add(k.takeover+time.Second))
		fmt.Fprintf(&b, "%-4d %-9s %9s %9d %7d %9.0f %8s\n", i+1, k.replica.name, k.takeover.Round(time.Millisecond), k.inFlight, landed[k], rate, p99.Round(time.Millisecond))
	}
	rate, retried, p99 := l.window(l.began, l.ended)
	fmt.Fprintf(&b, "run  %d writers, %s: %d writes acknowledged (%d sent again after a kill), %d connections refused and sent to the other replica, %d errors; %.0f writes/s, p99 %s",
		l.plan.clients, l.ended.Sub(l.began).Round(time.Second), len(slices.Concat(l.acks...)), retried, l.refused.Load(), l.nErrs, rate, p99.Round(time.Millisecond))
	t.Logf("failover (landed: in flight, appended by the killed replica, answered again by the other; writes/s and p99 from 1 s before each kill to 1 s after its takeover):\n%s", b.String())
	if l.nErrs > 0 {
		t.Errorf("%d errors beyond the requests in flight on a killed replica; the first %d:\n%s", l.nErrs, len(l.errs), strings.Join(l.errs, "\n"))
	}
}

// checkExactlyOnce checks that the log holds, for each writer's
// subscription, exactly the amendments and usage records acknowledged, in
// order, each once and at the position answered.
func checkExactlyOnce(t *testing.T, probe *pgxpool.Pool, l *failoverLoad) {
	t.Helper()
	tenant := uuid.MustParse(l.shop.tenant)
	for c, s := range l.shop.subs {
		var want []string
		for _, a := range l.acks[c] {
			want = append(want, fmt.Sprintf("%s at %d", a.value, a.position))
		}
		sub := uuid.MustParse(s.id)
		rows, err := probe.Query(context.Background(), `SELECT coalesce(data->>'record_id', data->'changes'->0->>'quantity') || ' at ' || position
			FROM events WHERE stream IN ($1, $2) AND type IN ('SubscriptionAmended', 'UsageRecorded') ORDER BY position`,
			commands.SubscriptionStream(tenant, sub), commands.UsageStream(tenant, sub))
		if err != nil {
			t.Fatalf("read the log of subscription %s: %v", s.id, err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read the log of subscription %s: %v", s.id, err)
		}
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		if len(got) != len(want) || i < len(got) {
			t.Errorf("subscription %s: %d writes in the log, %d acknowledged; from #%d on, the log has %q, the acknowledged %q",
				s.id, len(got), len(want), i+1, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
		}
	}
}
