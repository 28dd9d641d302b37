// Package loadgen is the HTTP load generator behind "ledger bench http":
// concurrent clients that create and amend subscriptions, record usage
// and read their own writes against a running server, with live
// progress, exact latency percentiles by operation, the projections' lag
// sampled from GET /metrics, and a summary as text or JSON.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a run.
const (
	DefaultURL      = "http://127.0.0.1:8080"
	DefaultClients  = 32
	DefaultDuration = 30 * time.Second
	DefaultAccounts = 10
	DefaultPool     = 16
	DefaultWarmup   = 3 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// ErrUnreachable is returned when the server does not answer: before the
// run, or when every request fails without a response for a while.
var ErrUnreachable = errors.New("server unreachable")

// Config is one run.
type Config struct {
	// URL is the server's base URL.
	URL string
	// Key is a tenant admin's API key, and TenantID that tenant.
	Key, TenantID string
	// Clients is how many requests are in flight at once, one per client.
	Clients int
	// Duration bounds the measured run, unless Requests is set.
	Duration time.Duration
	// Requests, when positive, is how many requests the measured run makes.
	Requests int64
	// Mix weighs the operations.
	Mix Mix
	// Accounts is how many customer accounts setup creates.
	Accounts int
	// Pool is how many subscriptions setup creates for each client.
	Pool int
	// Warmup is run before the measured run, unrecorded.
	Warmup time.Duration
	// Timeout bounds each request.
	Timeout time.Duration
	// Progress receives setup notes and the live progress; nil discards.
	Progress io.Writer
	// Terminal makes the progress one line that rewrites itself.
	Terminal bool
	// Tick is the interval of progress lines and lag samples; 0 is 1 s.
	Tick time.Duration
}

func (c Config) withDefaults() Config {
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.Mix.total() == 0 {
		c.Mix = DefaultMix
	}
	return c
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	var errs []error
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("invalid url %q: want http://host:port", c.URL))
	}
	if c.Key == "" || c.TenantID == "" {
		errs = append(errs, errors.New("a tenant admin key and its tenant id are required"))
	}
	if c.Clients < 1 || c.Accounts < 1 || c.Pool < 1 {
		errs = append(errs, errors.New("clients, accounts and subscriptions per client must be at least 1"))
	}
	if c.Requests <= 0 && c.Duration <= 0 {
		errs = append(errs, errors.New("give a positive duration or number of requests"))
	}
	if c.Timeout <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("the timeout must be positive and the warmup not negative"))
	}
	return errors.Join(errs...)
}

// Run checks that the server answers, sets up the tenant's data, warms up,
// then runs the measured load and summarizes it. When the run stops early
// (the server stops answering, or ctx ends) it returns the summary of
// what was measured with the error.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := newAPI(cfg)
	defer a.close()
	if err := a.ping(ctx); err != nil {
		return nil, err
	}
	workers, setupSum, err := setup(ctx, a, cfg, cfg.Progress)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	defer disconnect(workers)
	s := &Summary{URL: cfg.URL, Clients: cfg.Clients, Mix: cfg.Mix.asMap(), Accounts: cfg.Accounts, Pool: cfg.Pool,
		WarmupSeconds: cfg.Warmup.Seconds(), Setup: setupSum}
	if cfg.Warmup > 0 {
		p := &phase{label: "warmup", duration: cfg.Warmup}
		if _, err := p.run(ctx, cfg, workers); err != nil {
			s.Aborted = err.Error()
			return s, err
		}
	}
	p := &phase{label: "bench", record: true, duration: cfg.Duration}
	if cfg.Requests > 0 {
		p.duration, p.limited = 0, true
		p.tickets.Store(cfg.Requests)
	}
	sampler := newLagSampler(a)
	elapsed, err := p.run(ctx, cfg, workers, sampler)
	recs := make([]*recorder, len(workers))
	for i, w := range workers {
		recs[i] = w.rec
	}
	s.fillResults(recs, elapsed)
	s.ProjectionLag = sampler.summary()
	if err != nil {
		s.Aborted = err.Error()
	}
	return s, err
}

// phase is one stretch of load: the warmup or the measured run. It runs
// for duration, or, when limited, until its tickets are spent; its
// deadline is set as it starts, from the same clock reading as the time
// it reports, so a phase of duration d never reports less than d.
type phase struct {
	label    string
	record   bool
	duration time.Duration
	deadline time.Time
	limited  bool
	tickets  atomic.Int64
	counts   live
	failing  atomic.Int64 // requests in a row without a response
}

// run runs every worker until the phase ends, with progress and the
// samplers alongside, and returns how long the load ran.
func (p *phase) run(ctx context.Context, cfg Config, workers []*worker, samplers ...*lagSampler) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	side, stopSide := context.WithCancel(ctx)
	var sideWG sync.WaitGroup
	sideWG.Go(func() { newProgress(cfg.Progress, cfg.Terminal, p.label, &p.counts).run(side, cfg.Tick) })
	for _, s := range samplers {
		sideWG.Go(func() { s.run(side, cfg.Tick) })
	}
	abortAfter := int64(max(2*cfg.Clients, 20))
	start := time.Now()
	p.deadline = start.Add(p.duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { p.work(ctx, w, abortAfter, cancel) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopSide()
	sideWG.Wait()
	for _, s := range samplers {
		s.sample(ctx) // the lag as the load stops
	}
	err := context.Cause(ctx)
	if errors.Is(err, context.Canceled) {
		err = fmt.Errorf("interrupted: %w", err)
	}
	return elapsed, err
}

// work runs w's requests until the phase ends. A request cut off because
// the phase was stopped is not recorded. When abortAfter requests in a
// row fail to connect (timeouts aside: a slow server still answers), the
// phase stops with ErrUnreachable.
func (p *phase) work(ctx context.Context, w *worker, abortAfter int64, abort context.CancelCauseFunc) {
	for p.next(ctx) {
		res := w.do(ctx)
		if ctx.Err() != nil {
			return
		}
		p.counts.done.Add(1)
		if res.failed() {
			p.counts.failed.Add(1)
		}
		if res.reply.status == 0 && transportCode(res.err) != "timeout" {
			if n := p.failing.Add(1); n >= abortAfter {
				abort(fmt.Errorf("%w: %d requests in a row got no response, the last: %w", ErrUnreachable, n, res.err))
			}
		} else {
			p.failing.Store(0)
		}
		if p.record {
			w.rec.add(res)
		}
	}
}

// next reports whether another request is due.
func (p *phase) next(ctx context.Context) bool {
	switch {
	case ctx.Err() != nil:
		return false
	case p.limited:
		return p.tickets.Add(-1) >= 0
	default:
		return time.Now().Before(p.deadline)
	}
}
