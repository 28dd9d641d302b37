package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name       string
		key        func() string
		tls        bool
		wantStatus int
		wantText   string
	}{
		{"good key", func() string { return e.adminKey }, false, http.StatusSeeOther, ""},
		{"good key over TLS", func() string { return e.adminKey }, true, http.StatusSeeOther, ""},
		{"unknown key", func() string { return e.adminKey + "x" }, false, http.StatusUnauthorized, "That API key was not accepted."},
		{"no key", func() string { return " " }, false, http.StatusUnprocessableEntity, "Paste an API key to sign in."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := e.browser()
			b.tls = tc.tls
			res := b.signIn(t, tc.key())
			if tc.wantStatus != http.StatusSeeOther {
				wantPage(t, res, tc.wantStatus, tc.wantText, `<label for="api_key">API key</label>`)
				if _, ok := b.cookies[sessionCookie]; ok {
					t.Fatal("a refused sign-in set a session cookie")
				}
				return
			}
			if res.StatusCode != tc.wantStatus || res.Header.Get("Location") != "/portal/" {
				t.Fatalf("sign in: %d to %q, want 303 to /portal/", res.StatusCode, res.Header.Get("Location"))
			}
			c := sessionCookieOf(t, res)
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/portal" || c.Secure != tc.tls {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/portal, Secure=%v", c, tc.tls)
			}
			if hashID(c.Value) == nil {
				t.Fatalf("session id is not 256 random bits in base64url")
			}
			if _, ok := b.cookies[signInCookie]; ok {
				t.Fatal("the sign-in cookie outlived the sign-in")
			}
			wantPage(t, b.get(t, "/portal/"), http.StatusOK, "Your tenant", e.tenant.String(), "Sign out")
		})
	}
}

func sessionCookieOf(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatal("no session cookie set")
	return nil
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		path  string
		token func(b *browser) string
	}{
		{"sign-out without a token", "/portal/sign-out", func(*browser) string { return "" }},
		{"sign-out with another token", "/portal/sign-out", func(*browser) string { return strings.Repeat("A", 43) }},
		{"sign-in with a token not of its cookie", "/portal/sign-in", func(*browser) string { return strings.Repeat("A", 43) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := e.browser()
			b.mustSignIn(t, e.adminKey)
			b.get(t, "/portal/sign-in") // a sign-in token in the jar, not the one posted
			res := b.do(t, http.MethodPost, tc.path, url.Values{csrfField: {tc.token(b)}, keyField: {e.adminKey}})
			wantPage(t, res, http.StatusForbidden, "csrf_token_invalid")
			wantPage(t, b.get(t, "/portal/"), http.StatusOK, "Sign out") // still signed in
		})
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.mustSignIn(t, e.adminKey)
	old := b.cookies[sessionCookie]
	home := wantPage(t, b.get(t, "/portal/"), http.StatusOK)
	token := csrfPattern.FindStringSubmatch(home)[1]
	res := b.do(t, http.MethodPost, "/portal/sign-out", url.Values{csrfField: {token}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/portal/sign-in" {
		t.Fatalf("sign out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Fatal("sign-out left the session cookie")
	}
	if n := e.sessionCount(t); n != 0 {
		t.Fatalf("%d sessions stored after sign-out, want 0", n)
	}
	b.cookies[sessionCookie] = old // a copy of the cookie taken before
	wantPage(t, b.get(t, "/portal/"), http.StatusUnauthorized, "Your session has ended.")
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// clicks are the waits before each request that is still served.
		clicks []time.Duration
		// last is the wait before the request that finds the session ended.
		last time.Duration
	}{
		{"idle", []time.Duration{29 * time.Minute, 29 * time.Minute}, IdleTimeout},
		{"absolute", repeat(25*time.Minute, 28), AbsoluteTimeout - 28*25*time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t) // a clock of its own
			b := e.browser()
			b.mustSignIn(t, e.adminKey)
			for _, wait := range tc.clicks {
				e.clock.advance(wait)
				wantPage(t, b.get(t, "/portal/"), http.StatusOK, "Sign out")
			}
			e.clock.advance(tc.last)
			wantPage(t, b.get(t, "/portal/"), http.StatusUnauthorized, "Your session has ended.")
			if _, ok := b.cookies[sessionCookie]; ok {
				t.Fatal("an ended session kept its cookie")
			}
			if n := e.sessionCount(t); n != 0 {
				t.Fatalf("%d sessions stored after expiry, want 0", n)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
