package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
	"pgregory.net/rapid"

	"ledger/domain"
)

// limitedAPI is one route behind a limiter and an authentication that
// reads "Bearer user/partner" (uuids; partner may be empty) and refuses
// any other key, counting the keys it looked up.
type limitedAPI struct {
	e       *echo.Echo
	lim     *limiter
	lookups atomic.Int64
	handled atomic.Int64
}

func newLimitedAPI(t testing.TB, l RateLimits) *limitedAPI {
	t.Helper()
	a := &limitedAPI{e: echo.New()}
	s := &server{logger: slog.New(slog.DiscardHandler)}
	a.e.HTTPErrorHandler = s.errorHandler
	a.lim = newLimiter(l, prometheus.NewRegistry())
	auth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			a.lookups.Add(1)
			key, _ := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
			user, partner, _ := strings.Cut(key, "/")
			id, err := uuid.Parse(user)
			if err != nil {
				return domain.Unauthenticated()
			}
			p := domain.Principal{Type: domain.ActorTenantUser, ID: id}
			if partner != "" {
				p = domain.Principal{Type: domain.ActorPartnerUser, ID: id, PartnerID: uuid.MustParse(partner)}
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
	a.e.GET("/v1/x", func(c echo.Context) error {
		a.handled.Add(1)
		return c.NoContent(http.StatusNoContent)
	}, a.lim.around(auth))
	return a
}

// do sends a request with key from remote (host:port), with headers as
// name, value pairs, and returns the answer.
func (a *limitedAPI) do(t *testing.T, key, remote string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
	req.RemoteAddr = remote
	if key != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return rec
}

// statuses sends n requests as do does and counts the answers by status.
func (a *limitedAPI) statuses(t *testing.T, n int, key, remote string, headers ...string) map[int]int {
	t.Helper()
	got := map[int]int{}
	for range n {
		got[a.do(t, key, remote, headers...).Code]++
	}
	return got
}

// slow is a limit that refills too slowly to matter within a test.
func slow(burst int) Limit { return Limit{Rate: 0.001, Burst: burst} }

func TestRateLimitedAnswer(t *testing.T) {
	t.Parallel()
	a := newLimitedAPI(t, RateLimits{Key: Limit{Rate: 0.5, Burst: 1}})
	user := uuid.NewString()
	if rec := a.do(t, user, "192.0.2.1:1000"); rec.Code != http.StatusNoContent {
		t.Fatalf("first request: %d, want 204", rec.Code)
	}
	rec := a.do(t, user, "192.0.2.1:1000")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("second request: %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (a token every 2 s)", got)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %q: %v", rec.Body.String(), err)
	}
	if p.Code != "rate_limited" || p.Status != 429 || p.Type != "urn:ledger:problem:rate_limited" {
		t.Errorf("problem = %+v, want rate_limited 429", p)
	}
	if ct := rec.Header().Get(echo.HeaderContentType); ct != problemContentType {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := testutil.ToFloat64(a.lim.refused.WithLabelValues("key")); got != 1 {
		t.Errorf("rate_limited{limit=key} = %v, want 1", got)
	}
}

// sends are n requests with key, of which ok should be 204 and many 429.
type sends struct {
	key         string
	n, ok, many int
}

func TestRateLimitsPerKeyAndPartner(t *testing.T) {
	t.Parallel()
	partner, other := uuid.NewString(), uuid.NewString()
	u1, u2, u3 := uuid.NewString()+"/"+partner, uuid.NewString()+"/"+partner, uuid.NewString()+"/"+other
	tenantUser := uuid.NewString()
	tests := []struct {
		name   string
		limits RateLimits
		sends  []sends
	}{
		{"each key has its own bucket", RateLimits{Key: slow(3)},
			[]sends{{u1, 5, 3, 2}, {u2, 4, 3, 1}, {tenantUser, 3, 3, 0}}},
		{"a partner's keys share its bucket; other partners do not", RateLimits{Key: slow(10), Partner: slow(4)},
			[]sends{{u1, 3, 3, 0}, {u2, 3, 1, 2}, {u3, 4, 4, 0}, {tenantUser, 20, 10, 10}}},
		{"a key refused by its partner's bucket", RateLimits{Key: slow(2), Partner: slow(2)},
			[]sends{{u2, 2, 2, 0}, {u1, 3, 0, 3}}},
		{"no limits", RateLimits{}, []sends{{u1, 50, 50, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newLimitedAPI(t, tt.limits)
			for _, s := range tt.sends {
				got := a.statuses(t, s.n, s.key, "192.0.2.1:1000")
				if got[204] != s.ok || got[429] != s.many {
					t.Errorf("%d requests of %s: %v, want %d 204 and %d 429", s.n, s.key, got, s.ok, s.many)
				}
			}
		})
	}
}

// TestPartnerRefusalKeepsKeyTokens: a request its partner's bucket
// refuses takes nothing from its key's bucket.
func TestPartnerRefusalKeepsKeyTokens(t *testing.T) {
	t.Parallel()
	partner := uuid.NewString()
	u1, u2 := uuid.NewString()+"/"+partner, uuid.NewString()+"/"+partner
	a := newLimitedAPI(t, RateLimits{Key: slow(2), Partner: slow(2)})
	if got := a.statuses(t, 2, u2, "192.0.2.1:1"); got[204] != 2 {
		t.Fatalf("u2: %v, want 2 204", got)
	}
	if got := a.statuses(t, 3, u1, "192.0.2.1:1"); got[429] != 3 {
		t.Fatalf("u1 on an empty partner bucket: %v, want 3 429", got)
	}
	a.lim.partner.get(uuid.MustParse(partner), false).SetLimit(rate.Inf)
	if got := a.statuses(t, 3, u1, "192.0.2.1:1"); got[204] != 2 || got[429] != 1 {
		t.Errorf("u1 once its partner's bucket is unlimited: %v, want its own 2 tokens (2 204, 1 429)", got)
	}
}

func TestUnknownKeysLimitedPerAddressBeforeLookup(t *testing.T) {
	t.Parallel()
	a := newLimitedAPI(t, RateLimits{Key: slow(1000), UnknownKey: slow(5)})
	got := a.statuses(t, 20, "not-a-key", "198.51.100.7:4000")
	if got[401] != 5 || got[429] != 15 {
		t.Fatalf("20 unknown keys: %v, want 5 401 and 15 429", got)
	}
	if n := a.lookups.Load(); n != 5 {
		t.Errorf("%d keys looked up, want 5: a refused address is refused before the lookup", n)
	}
	if got := testutil.ToFloat64(a.lim.failed); got != 5 {
		t.Errorf("unknown_key_attempts = %v, want 5", got)
	}
	if got := testutil.ToFloat64(a.lim.refused.WithLabelValues("unknown_key")); got != 15 {
		t.Errorf("rate_limited{limit=unknown_key} = %v, want 15", got)
	}
	if rec := a.do(t, "not-a-key", "198.51.100.7:4001"); rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another address, and a known key from another, are not affected;
	// no key at all is 401 without a lookup's cost either way.
	if got := a.statuses(t, 5, "not-a-key", "198.51.100.8:4000"); got[401] != 5 {
		t.Errorf("another address: %v, want 5 401", got)
	}
	if got := a.statuses(t, 3, uuid.NewString(), "198.51.100.9:4000"); got[204] != 3 {
		t.Errorf("a known key from another address: %v, want 3 204", got)
	}
	if rec := a.do(t, "", "198.51.100.7:4000"); rec.Code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", rec.Code)
	}
}

func TestKnownKeysDoNotUseUnknownKeyAttempts(t *testing.T) {
	t.Parallel()
	a := newLimitedAPI(t, RateLimits{UnknownKey: slow(2)})
	if got := a.statuses(t, 50, uuid.NewString(), "203.0.113.5:1"); got[204] != 50 {
		t.Fatalf("50 known keys: %v, want 50 204", got)
	}
	if got := a.statuses(t, 3, "bad", "203.0.113.5:1"); got[401] != 2 || got[429] != 1 {
		t.Errorf("then 3 unknown keys: %v, want 2 401 and 1 429", got)
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header string
		sends        [][]string // remote, then header name, value pairs
		want429      int
	}{
		{"one IPv4 address", "", [][]string{{"192.0.2.1:1"}, {"192.0.2.1:2"}, {"192.0.2.1:3"}}, 1},
		{"IPv4 addresses apart", "", [][]string{{"192.0.2.1:1"}, {"192.0.2.2:1"}, {"192.0.2.3:1"}}, 0},
		{"one IPv6 /64", "", [][]string{{"[2001:db8:1:2::1]:1"}, {"[2001:db8:1:2::ffff]:1"}, {"[2001:db8:1:2:abcd::9]:1"}}, 1},
		{"IPv6 /64s apart", "", [][]string{{"[2001:db8:1:2::1]:1"}, {"[2001:db8:1:3::1]:1"}, {"[2001:db8:1:4::1]:1"}}, 0},
		{"X-Forwarded-For ignored unless configured", "",
			[][]string{{"192.0.2.1:1", "X-Forwarded-For", "203.0.113.1"}, {"192.0.2.1:1", "X-Forwarded-For", "203.0.113.2"}, {"192.0.2.1:1", "X-Forwarded-For", "203.0.113.3"}}, 1},
		{"X-Forwarded-For from a proxy when configured", "X-Forwarded-For",
			[][]string{{"10.0.0.1:1", "X-Forwarded-For", "203.0.113.1"}, {"10.0.0.1:1", "X-Forwarded-For", "203.0.113.2"}, {"10.0.0.1:1", "X-Forwarded-For", "203.0.113.3"}}, 0},
		{"X-Real-IP when configured", "X-Real-IP",
			[][]string{{"10.0.0.1:1", "X-Real-IP", "203.0.113.1"}, {"10.0.0.2:1", "X-Real-IP", "203.0.113.1"}, {"10.0.0.3:1", "X-Real-IP", "203.0.113.1"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newLimitedAPI(t, RateLimits{UnknownKey: slow(2), ClientIPHeader: tt.header})
			many := 0
			for _, s := range tt.sends {
				if a.do(t, "bad", s[0], s[1:]...).Code == http.StatusTooManyRequests {
					many++
				}
			}
			if many != tt.want429 {
				t.Errorf("%d answers 429, want %d", many, tt.want429)
			}
		})
	}
}

func TestBucketsBounded(t *testing.T) {
	t.Parallel()
	b := newBuckets[string](slow(1))
	b.max = 3
	for i := range 10 {
		if _, wait := b.reserve(strconv.Itoa(i), time.Now()); wait != 0 {
			t.Fatalf("new bucket %d refused", i)
		}
	}
	if n := b.len(); n != 3 {
		t.Fatalf("%d buckets kept, want 3", n)
	}
	if _, wait := b.reserve("9", time.Now()); wait == 0 {
		t.Error("the most recent bucket was dropped")
	}
	if _, wait := b.reserve("0", time.Now()); wait != 0 {
		t.Error("the oldest bucket was kept")
	}
}

func TestBucketsMetric(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	lim := newLimiter(RateLimits{Key: slow(1)}, reg)
	for range 4 {
		lim.key.reserve(uuid.New(), time.Now())
	}
	want := `
# HELP ledger_http_rate_limit_buckets Token buckets kept in this process, by limit (each bounded).
# TYPE ledger_http_rate_limit_buckets gauge
ledger_http_rate_limit_buckets{limit="key"} 4
ledger_http_rate_limit_buckets{limit="partner"} 0
ledger_http_rate_limit_buckets{limit="unknown_key"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ledger_http_rate_limit_buckets"); err != nil {
		t.Error(err)
	}
}

// TestRateLimitsAdmitExactlyTheBursts: with no time to refill, a request
// is admitted exactly when its key's bucket and its partner's both hold a
// token, and a refusal takes none from either.
func TestRateLimitsAdmitExactlyTheBursts(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		keyBurst := rapid.IntRange(1, 5).Draw(rt, "keyBurst")
		partnerBurst := rapid.IntRange(1, 8).Draw(rt, "partnerBurst")
		lim := newLimiter(RateLimits{Key: slow(keyBurst), Partner: slow(partnerBurst)}, nil)
		users := []domain.Principal{
			{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: uuid.New()},
			{Type: domain.ActorTenantUser, ID: uuid.New()},
		}
		for range 3 {
			users = append(users, domain.Principal{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: users[0].PartnerID})
		}
		keyUsed, partnerUsed := map[uuid.UUID]int{}, map[uuid.UUID]int{}
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
		for i, n := 0, rapid.IntRange(1, 60).Draw(rt, "requests"); i < n; i++ {
			p := rapid.SampledFrom(users).Draw(rt, "user")
			want := keyUsed[p.ID] < keyBurst && (p.PartnerID == uuid.Nil || partnerUsed[p.PartnerID] < partnerBurst)
			got := lim.allowPrincipal(c, p) == nil
			if got != want {
				rt.Fatalf("request %d of %v admitted %v, want %v (key used %d/%d, partner used %d/%d)",
					i, p.ID, got, want, keyUsed[p.ID], keyBurst, partnerUsed[p.PartnerID], partnerBurst)
			}
			if got {
				keyUsed[p.ID]++
				if p.PartnerID != uuid.Nil {
					partnerUsed[p.PartnerID]++
				}
			}
		}
	})
}

// BenchmarkLimiterAround is the limiter's cost on a request of a known
// key with the default limits, beside the same route without limits.
func BenchmarkLimiterAround(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits RateLimits
	}{
		{"off", RateLimits{}},
		{"defaults", RateLimits{Key: Limit{Rate: 10000, Burst: 20000}, Partner: Limit{Rate: 20000, Burst: 40000}, UnknownKey: Limit{Rate: 10, Burst: 100}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := newLimitedAPI(b, bc.limits)
			if bc.limits.Key.Rate > 0 { // never refuse: measure the admitted path
				a.lim.key.limit, a.lim.partner.limit = rate.Limit(1e12), rate.Limit(1e12)
			}
			key := uuid.NewString() + "/" + uuid.NewString()
			req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
			req.RemoteAddr = "192.0.2.1:1000"
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+key)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					a.e.ServeHTTP(rec, req)
					if rec.Code != http.StatusNoContent {
						b.Errorf("status %d", rec.Code)
						return
					}
				}
			})
		})
	}
}
