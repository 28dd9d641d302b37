package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const defaultTestTimeout = 5 * time.Second

var errTestRefused = syscall.ECONNREFUSED

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the
// test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startFake(t *testing.T) (*fakeLedger, *httptest.Server) {
	t.Helper()
	f := newFakeLedger(t)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return f, srv
}

func testConfig(f *fakeLedger, url string, progress *syncBuffer) Config {
	return Config{URL: url, Key: f.key, TenantID: f.tenant, Clients: 4, Mix: Mix{OpCreate: 10, OpAmend: 50, OpUsage: 20, OpRead: 20},
		Accounts: 3, Pool: 2, Timeout: defaultTestTimeout, Progress: progress, Tick: 10 * time.Millisecond}
}

func TestRunRecordsWhatTheServerAnswered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mix  Mix
		// amended is how many subscriptions the fake sees amended: the 8
		// of the clients' pools, the hot one, or both.
		amended int
	}{
		{name: "own subscriptions", mix: Mix{OpCreate: 10, OpAmend: 50, OpUsage: 20, OpRead: 20}, amended: 8},
		{name: "hot only", mix: Mix{OpHot: 100}, amended: 1},
		{name: "hot and reads", mix: Mix{OpHot: 50, OpRead: 50}, amended: 1},
		{name: "all", mix: Mix{OpCreate: 10, OpAmend: 30, OpHot: 30, OpUsage: 10, OpRead: 20}, amended: 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := startFake(t)
			var progress syncBuffer
			cfg := testConfig(f, srv.URL, &progress)
			cfg.Mix, cfg.Requests = tc.mix, 400
			s, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkOperations(t, s, tc.mix, 400)
			checkAgainstFake(t, f, s, tc.mix)
			checkStreams(t, f, s, tc.mix, tc.amended, cfg.Clients)
			checkLatencies(t, s)
			if s.ProjectionLag.Samples < 1 || s.ProjectionLag.Projections["audit"].MaxSeconds != 0.125 {
				t.Errorf("projection lag %+v, want samples with audit at 0.125 s", s.ProjectionLag)
			}
			subs := "setup: 8 subscriptions (2 per client) in"
			if tc.mix[OpHot] > 0 {
				subs = "setup: 9 subscriptions (2 per client, and the hot one " + s.Setup.HotSubscription + ") in"
			}
			out := progress.String()
			for _, want := range []string{"setup: 1 product, 3 accounts", subs, "bench ", "400 requests", "req/s average"} {
				if !strings.Contains(out, want) {
					t.Errorf("progress lacks %q:\n%s", want, out)
				}
			}
			checkText(t, s, tc.mix)
		})
	}
}

// checkOperations checks that s has the n requests, each under an
// operation of mix.
func checkOperations(t *testing.T, s *Summary, mix Mix, n int64) {
	t.Helper()
	if s.Overall.Requests != n {
		t.Errorf("overall %d requests, want %d", s.Overall.Requests, n)
	}
	var sum int64
	for o := range numOps {
		got := s.Operations[o.String()].Requests
		if (got > 0) != (mix[o] > 0) || s.Mix[o.String()] != mix[o] {
			t.Errorf("%s: %d requests at weight %d, want some exactly when the weight %d is positive", o, got, s.Mix[o.String()], mix[o])
		}
		sum += got
	}
	if sum != n || len(s.Operations) != int(numOps) {
		t.Errorf("%d operations sum to %d requests, want %d and %d", len(s.Operations), sum, numOps, n)
	}
}

// checkAgainstFake compares what s recorded with what f answered.
func checkAgainstFake(t *testing.T, f *fakeLedger, s *Summary, mix Mix) {
	t.Helper()
	const amends, reads = "POST /v1/tenants/{t}/subscriptions/{s}/amendments", "GET /v1/tenants/{t}/subscriptions/{s}"
	amend, hot, read := s.Operations["amend"], s.Operations["hot"], s.Operations["read"]
	checkCount(t, "amendment 409s", errCount(amend, 409, "conflict")+errCount(hot, 409, "conflict"), f.count(amends+" 409"))
	checkCount(t, "amendment requests", amend.Requests+hot.Requests, f.count(amends+" 200")+f.count(amends+" 409"))
	checkCount(t, "read 503s", errCount(read, 503, "projection_lag"), f.count(reads+" 503"))
	checkCount(t, "read-your-writes 503s", s.ReadYourWrites.ProjectionLag, f.count(reads+" 503"))
	checkCount(t, "reads with min position", s.ReadYourWrites.Reads, read.Requests)
	checkCount(t, "creates", s.Operations["create"].Requests+int64(s.Setup.Subscriptions), f.count("POST /v1/tenants/{t}/subscriptions 201"))
	if (mix[OpAmend]+mix[OpHot] > 0 && f.count(amends+" 409") == 0) || (mix[OpRead] > 0 && f.count(reads+" 503") == 0) {
		t.Errorf("the fake answered no 409 or no 503: %v", f.answered)
	}
	if len(f.anomalies) > 0 {
		t.Errorf("the fake saw: %v", f.anomalies)
	}
}

// checkStreams checks which subscriptions f saw amended: amended of them,
// the hot one, when mix has hot, by all the clients, and none other
// amended to the quantity it had.
func checkStreams(t *testing.T, f *fakeLedger, s *Summary, mix Mix, amended, clients int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.amended) != amended {
		t.Errorf("%d subscriptions amended, want %d", len(f.amended), amended)
	}
	hot := s.Setup.HotSubscription
	if (hot != "") != (mix[OpHot] > 0) || s.Setup.Subscriptions != 8+min(mix[OpHot], 1) {
		t.Errorf("setup %+v with hot weighing %d", s.Setup, mix[OpHot])
	}
	if hot == "" {
		return
	}
	var n int64
	for _, c := range f.amended[hot] {
		n += int64(c)
	}
	checkCount(t, "hot amendments", s.Operations["hot"].OK, n)
	if len(f.amended[hot]) < clients {
		t.Errorf("the hot subscription amended by %d clients, want all %d", len(f.amended[hot]), clients)
	}
	for sub := range f.repeats {
		if sub != hot {
			t.Errorf("subscription %s, not the hot one, amended to the quantity it had", sub)
		}
	}
	if mix[OpRead] > 0 && f.reads[hot] == 0 {
		t.Errorf("no read of the hot subscription: %v", f.reads)
	}
}

// checkText checks that the text summary has a line for hot exactly when
// the mix has it.
func checkText(t *testing.T, s *Summary, mix Mix) {
	t.Helper()
	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	hasHot := false
	for line := range strings.Lines(text.String()) {
		if f := strings.Fields(line); len(f) == 10 && f[0] == "hot" {
			hasHot = true
		}
	}
	if hasHot != (mix[OpHot] > 0) {
		t.Errorf("hot line %t in the text summary with hot weighing %d:\n%s", hasHot, mix[OpHot], text.String())
	}
	t.Logf("summary:\n%s", text.String())
}

func TestSetupHotSubscription(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mix  Mix
		hot  bool
	}{
		{name: "default mix", mix: DefaultMix},
		{name: "hot weighs 0", mix: Mix{OpAmend: 1, OpHot: 0}},
		{name: "hot", mix: Mix{OpHot: 1, OpRead: 1}, hot: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := startFake(t)
			cfg := testConfig(f, srv.URL, &syncBuffer{})
			cfg.Mix = tc.mix
			a := newAPI(cfg)
			defer a.close()
			workers, sum, err := setup(t.Context(), a, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer disconnect(workers)
			hot := workers[0].world.hot
			checkCount(t, "subscriptions", sum.Subscriptions, f.count("POST /v1/tenants/{t}/subscriptions 201"))
			if (hot != nil) != tc.hot || sum.Subscriptions != 8+min(tc.mix[OpHot], 1) {
				t.Fatalf("hot subscription %+v, setup %+v; want one exactly when hot weighs more than 0", hot, sum)
			}
			if !tc.hot {
				return
			}
			f.mu.Lock()
			account := f.accountOf[hot.id]
			f.mu.Unlock()
			if sum.HotSubscription != hot.id || account != workers[0].world.accounts[0] {
				t.Errorf("hot subscription %s on account %s, setup says %s; want it on the first account %s",
					hot.id, account, sum.HotSubscription, workers[0].world.accounts[0])
			}
			checkReadAfterHot(t, f, workers[len(workers)-1])
		})
	}
}

// checkReadAfterHot checks that a read after w's hot amendment reads the
// hot subscription at the amendment's position.
func checkReadAfterHot(t *testing.T, f *fakeLedger, w *worker) {
	t.Helper()
	res := w.amendHot(t.Context())
	if res.op != OpHot || res.err != nil || !res.reply.ok() || res.reply.position == 0 {
		t.Fatalf("hot amendment %+v, want a success with a position", res)
	}
	if got := w.read(t.Context()); got.op != OpRead || !got.minPos {
		t.Fatalf("read %+v, want one with Ledger-Min-Position", got)
	}
	f.mu.Lock()
	got := f.lastRead
	f.mu.Unlock()
	if want := (readSeen{sub: w.world.hot.id, minPos: res.reply.position}); got != want {
		t.Errorf("read %+v after the hot amendment, want %+v", got, want)
	}
}

func checkCount[A, B int | int64](t *testing.T, what string, got A, want B) {
	t.Helper()
	if int64(got) != int64(want) {
		t.Errorf("%s: recorded %d, the server answered %d", what, got, want)
	}
}

func errCount(o OpSummary, status int, code string) int64 {
	for _, e := range o.Errors {
		if e.Status == status && e.Code == code {
			return e.Count
		}
	}
	return 0
}

func checkLatencies(t *testing.T, s *Summary) {
	t.Helper()
	for name, o := range s.Operations {
		l := o.LatencyMS
		if o.Requests > 0 && (l.P50 < 1 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max) {
			t.Errorf("%s latency %+v: want 1 ms ≤ p50 ≤ p90 ≤ p99 ≤ max (the fake sleeps 1 ms)", name, l)
		}
	}
}

func TestRunForADurationWithWarmupShowsProgress(t *testing.T) {
	t.Parallel()
	f, srv := startFake(t)
	var progress syncBuffer
	cfg := testConfig(f, srv.URL, &progress)
	cfg.Duration, cfg.Warmup, cfg.Tick = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	start := time.Now()
	s, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %s", took)
	}
	if s.ElapsedSeconds < 0.3 || s.ElapsedSeconds > 2 || s.Overall.Requests == 0 { // the phase's deadline counts from its own start
		t.Errorf("measured %d requests over %.3f s, want some over at least 0.3 s", s.Overall.Requests, s.ElapsedSeconds)
	}
	if s.ProjectionLag.Samples < 3 {
		t.Errorf("%d lag samples over 0.3 s at 50 ms, want at least 3", s.ProjectionLag.Samples)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	var warm, bench int
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "warmup "):
			warm++
		case strings.HasPrefix(l, "bench "):
			bench++
		}
		if strings.Contains(l, "\r") {
			t.Errorf("a carriage return in plain progress: %q", l)
		}
	}
	if warm < 2 || bench < 4 {
		t.Errorf("%d warmup and %d bench progress lines, want at least 2 and 4:\n%s", warm, bench, progress.String())
	}
}

func TestRunOnATerminalRewritesOneLine(t *testing.T) {
	t.Parallel()
	f, srv := startFake(t)
	var progress syncBuffer
	cfg := testConfig(f, srv.URL, &progress)
	cfg.Duration, cfg.Terminal = 100*time.Millisecond, true
	if _, err := Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	bench := out[strings.Index(out, "\rbench"):]
	if strings.Count(bench, "\n") != 1 || !strings.HasSuffix(bench, "\n") || strings.Count(bench, "\r") < 2 || !strings.Contains(bench, "\x1b[K") {
		t.Errorf("terminal progress %q: want lines rewritten with \\r, one newline at the end", bench)
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(nil)
		url := srv.URL
		srv.Close()
		_, err := Run(t.Context(), Config{URL: url, Key: "k", TenantID: "t", Clients: 1, Requests: 1, Accounts: 1, Pool: 1, Timeout: time.Second})
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("err %v, want ErrUnreachable", err)
		}
	})
	t.Run("setup refused", func(t *testing.T) {
		t.Parallel()
		f, srv := startFake(t)
		cfg := testConfig(f, srv.URL, &syncBuffer{})
		cfg.Key, cfg.Requests = "lk_wrong", 10
		_, err := Run(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "setup: create product: HTTP 401 unauthenticated") {
			t.Errorf("err %v, want the product's 401 unauthenticated", err)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		t.Parallel()
		_, err := Run(t.Context(), Config{URL: "localhost:8080", Clients: 0, Timeout: time.Second})
		for _, want := range []string{"invalid url", "key", "at least 1", "duration"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err %v, want it to mention %q", err, want)
			}
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		f, srv := startFake(t)
		cfg := testConfig(f, srv.URL, &syncBuffer{})
		cfg.Duration = 20 * time.Second
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		s, err := Run(ctx, cfg)
		if !errors.Is(err, context.Canceled) || s == nil || !strings.HasPrefix(s.Aborted, "interrupted") {
			t.Fatalf("err %v, summary %+v; want context.Canceled with the summary", err, s)
		}
		if s.Overall.OK == 0 || s.ElapsedSeconds > 5 {
			t.Errorf("overall %+v over %.1f s: want what was measured until the interruption", s.Overall, s.ElapsedSeconds)
		}
	})
	t.Run("server dies during the run", func(t *testing.T) {
		t.Parallel()
		f, srv := startFake(t)
		cfg := testConfig(f, srv.URL, &syncBuffer{})
		cfg.Duration = 20 * time.Second
		time.AfterFunc(200*time.Millisecond, func() { f.mu.Lock(); f.dead = true; f.mu.Unlock() })
		start := time.Now()
		s, err := Run(t.Context(), cfg)
		if !errors.Is(err, ErrUnreachable) || s == nil || !strings.Contains(s.Aborted, "no response") {
			t.Fatalf("err %v, summary %+v; want ErrUnreachable with the summary", err, s)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("stopped after %s, want soon after the server died", took)
		}
		if errCount(s.Overall, 0, "connection_reset") == 0 || s.Overall.OK == 0 {
			t.Errorf("overall %+v: want successes, then connection_reset errors", s.Overall)
		}
	})
}
