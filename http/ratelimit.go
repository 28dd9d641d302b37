package http

import (
	"container/list"
	"errors"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"ledger/domain"
)

// errRateLimited refuses a request that found its token bucket empty:
// 429 rate_limited, with Retry-After set by the limiter.
var errRateLimited = errors.New("rate limited")

// maxBuckets bounds the buckets each limit keeps; the least recently used
// is dropped first.
const maxBuckets = 100_000

// Limit is a token bucket: Rate tokens a second, up to Burst at once. A
// zero Rate is no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// RateLimits are the API's token buckets, kept in each process: N
// replicas allow N times the rates.
type RateLimits struct {
	// Key limits the requests of each API key (its user).
	Key Limit
	// Partner limits the requests of all of a partner's keys together.
	Partner Limit
	// UnknownKey limits, per client address, the requests whose key
	// names no active user; it is checked before the key is looked up.
	UnknownKey Limit
	// ClientIPHeader names the header that carries the client's address
	// when a proxy sets it: "X-Forwarded-For" or "X-Real-IP". Empty: the
	// connection's remote address.
	ClientIPHeader string
}

// limiter applies RateLimits around authentication.
type limiter struct {
	key, partner *buckets[uuid.UUID]
	address      *buckets[string]
	clientIP     echo.IPExtractor
	refused      *prometheus.CounterVec
	failed       prometheus.Counter
}

// newLimiter returns the limiter of l, its metrics registered on reg
// when reg is set.
func newLimiter(l RateLimits, reg *prometheus.Registry) *limiter {
	lim := &limiter{
		key: newBuckets[uuid.UUID](l.Key), partner: newBuckets[uuid.UUID](l.Partner), address: newBuckets[string](l.UnknownKey),
		clientIP: echo.ExtractIPDirect(),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledger_http_rate_limited_total",
			Help: "Requests refused 429 rate_limited, by the limit they exceeded: key, partner or unknown_key (per client address, before any database read).",
		}, []string{"limit"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ledger_http_unknown_key_attempts_total",
			Help: "Requests whose API key authentication refused (unknown, malformed or of a removed user); those refused 429 before it are not counted.",
		}),
	}
	switch strings.ToLower(l.ClientIPHeader) {
	case "x-forwarded-for":
		lim.clientIP = echo.ExtractIPFromXFFHeader()
	case "x-real-ip":
		lim.clientIP = echo.ExtractIPFromRealIPHeader()
	}
	for _, name := range []string{"key", "partner", "unknown_key"} {
		lim.refused.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(lim.refused, lim.failed, lim.gauge())
	}
	return lim
}

// gauge reports how many buckets each limit keeps.
func (l *limiter) gauge() prometheus.Collector {
	desc := prometheus.NewDesc("ledger_http_rate_limit_buckets",
		"Token buckets kept in this process, by limit (each bounded).", []string{"limit"}, nil)
	return collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		for name, n := range map[string]int{"key": l.key.len(), "partner": l.partner.len(), "unknown_key": l.address.len()} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), name)
		}
	}}
}

// around returns auth with the limits around it: a client address that
// has used up its unknown-key attempts is refused before auth looks the
// key up; a key that auth recognised is charged to its user's bucket and
// its partner's before the handler runs.
func (l *limiter) around(auth echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		inner := auth(func(c echo.Context) error {
			if err := l.allowPrincipal(c, principalOf(c)); err != nil {
				return err
			}
			return next(c)
		})
		return func(c echo.Context) error {
			if c.Request().Header.Get(echo.HeaderAuthorization) == "" {
				return inner(c)
			}
			addr := l.addressOf(c)
			if wait := l.address.deficit(addr); wait > 0 {
				return l.refuse(c, "unknown_key", wait)
			}
			err := inner(c)
			if principalOf(c).Type == "" && errors.Is(err, domain.ErrUnauthenticated) {
				l.failed.Inc()
				l.address.take(addr)
			}
			return err
		}
	}
}

// allowPrincipal takes a token from p's bucket and from its partner's,
// or neither when either is empty.
func (l *limiter) allowPrincipal(c echo.Context, p domain.Principal) error {
	if p.Type == "" {
		return nil
	}
	now := time.Now()
	byKey, wait := l.key.reserve(p.ID, now)
	if wait > 0 {
		return l.refuse(c, "key", wait)
	}
	if p.PartnerID == uuid.Nil {
		return nil
	}
	if _, wait := l.partner.reserve(p.PartnerID, now); wait > 0 {
		if byKey != nil {
			byKey.CancelAt(now)
		}
		return l.refuse(c, "partner", wait)
	}
	return nil
}

// refuse answers 429 with the whole seconds until a token is back.
func (l *limiter) refuse(c echo.Context, limit string, wait time.Duration) error {
	l.refused.WithLabelValues(limit).Inc()
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	return errRateLimited
}

// addressOf is the client's address as the limits count it: an IPv4
// address, or an IPv6 address's /64, which one host usually holds whole.
func (l *limiter) addressOf(c echo.Context) string {
	ip := l.clientIP(c.Request())
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if host, _, splitErr := net.SplitHostPort(ip); splitErr == nil {
			return host
		}
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// buckets are the token buckets of one limit, by name, at most
// maxBuckets of them, least recently used dropped first: a bucket idle
// for Burst/Rate seconds is full, no different from a new one.
type buckets[K comparable] struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	order *list.List // of *bucket[K], most recently used first
	byKey map[K]*list.Element
}

type bucket[K comparable] struct {
	name K
	lim  *rate.Limiter
}

func newBuckets[K comparable](l Limit) *buckets[K] {
	b := &buckets[K]{limit: rate.Limit(l.Rate), burst: max(l.Burst, 1), max: maxBuckets, order: list.New(), byKey: map[K]*list.Element{}}
	if l.Rate <= 0 {
		b.limit = rate.Inf
	}
	return b
}

// get returns name's bucket, made when missing, or nil when the limit
// is off.
func (b *buckets[K]) get(name K, create bool) *rate.Limiter {
	if b.limit == rate.Inf {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.byKey[name]; ok {
		b.order.MoveToFront(e)
		return e.Value.(*bucket[K]).lim
	}
	if !create {
		return nil
	}
	if b.order.Len() >= b.max {
		oldest := b.order.Back()
		b.order.Remove(oldest)
		delete(b.byKey, oldest.Value.(*bucket[K]).name)
	}
	lim := rate.NewLimiter(b.limit, b.burst)
	b.byKey[name] = b.order.PushFront(&bucket[K]{name: name, lim: lim})
	return lim
}

func (b *buckets[K]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.order.Len()
}

// reserve takes a token from name's bucket and returns the reservation,
// or, when the bucket is empty, takes none and returns how long until a
// token is back.
func (b *buckets[K]) reserve(name K, now time.Time) (*rate.Reservation, time.Duration) {
	lim := b.get(name, true)
	if lim == nil {
		return nil, 0
	}
	r := lim.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return nil, wait
	}
	return r, 0
}

// deficit is how long until name's bucket holds a whole token again: 0
// when it holds one, or has none kept (a new bucket is full).
func (b *buckets[K]) deficit(name K) time.Duration {
	lim := b.get(name, false)
	if lim == nil {
		return 0
	}
	tokens := lim.Tokens()
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(b.limit) * float64(time.Second))
}

// take takes a token from name's bucket if it holds one.
func (b *buckets[K]) take(name K) {
	if lim := b.get(name, true); lim != nil {
		lim.Allow()
	}
}

// collectorFunc is a collector of one description whose metrics a
// function makes at each scrape.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f.collect(ch) }
