package http

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// signInPortal stands in for the portal in a test of the limiter: a
// sign-in with the key "good" lands (303), any other is not accepted
// (401); a refused sign-in renders the portal's own 429.
type signInPortal struct {
	signIns, refusals atomic.Int64
}

func (p *signInPortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.signIns.Add(1)
	if r.PostFormValue("api_key") == "good" {
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusUnauthorized)
}

func (p *signInPortal) RefuseSignIn(w http.ResponseWriter, _ *http.Request, retryAfter time.Duration) {
	p.refusals.Add(1)
	w.Header().Set("Retry-After", retryAfter.Round(time.Second).String())
	w.WriteHeader(http.StatusTooManyRequests)
}

// signIn posts key to the portal's sign-in from remote.
func (a *limitedAPI) signIn(t *testing.T, key, remote string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/portal/sign-in", strings.NewReader(url.Values{"api_key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return rec.Code
}

func TestPortalSignInsShareTheUnknownKeyBudget(t *testing.T) {
	t.Parallel()
	a := newLimitedAPI(t, RateLimits{Key: slow(1000), UnknownKey: slow(4)})
	portal := &signInPortal{}
	a.e.POST("/portal/sign-in", a.lim.portalSignIn(portal))
	const attacker, other = "203.0.113.9:5000", "203.0.113.10:5000"

	if got := a.signIn(t, "good", attacker); got != http.StatusSeeOther {
		t.Fatalf("a good key: %d, want 303", got)
	}
	for i := range 2 {
		if got := a.signIn(t, "guess", attacker); got != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d, want 401", i, got)
		}
	}
	if got := a.statuses(t, 2, "not-a-key", attacker); got[401] != 2 {
		t.Fatalf("two unknown API keys from the same address: %v, want two 401: the budget has 4", got)
	}
	for _, key := range []string{"guess", "good"} {
		if got := a.signIn(t, key, attacker); got != http.StatusTooManyRequests {
			t.Errorf("sign-in with %q after 4 keys refused: %d, want 429", key, got)
		}
	}
	if got := a.do(t, "not-a-key", attacker).Code; got != http.StatusTooManyRequests {
		t.Errorf("an API request after the portal's refusals: %d, want 429", got)
	}
	if n := portal.signIns.Load(); n != 3 {
		t.Errorf("the portal saw %d sign-ins, want 3: a refused address is refused before its key is looked up", n)
	}
	if n := portal.refusals.Load(); n != 2 {
		t.Errorf("the portal rendered %d refusals, want 2", n)
	}
	if got := a.signIn(t, "good", other); got != http.StatusSeeOther {
		t.Errorf("another address: %d, want 303", got)
	}
}
