package portal

import (
	"bytes"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// TestKeyNeverLeaks walks the portal with several keys, a refused one
// among them, and then looks for every key in every response (status
// line, headers, cookies, redirects, body), in every log line, and in the
// sessions table; and for every session id in the logs.
func TestKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fixture(t)
	keys := []string{e.adminKey, f.viewerKey, e.partnerKey, e.adminKey + "x"}
	var sessionIDs []string
	for _, key := range keys {
		b := e.browser()
		res := b.signIn(t, key)
		if c, ok := b.cookies[sessionCookie]; ok {
			sessionIDs = append(sessionIDs, c.Value)
		} else if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("sign-in: %d", res.StatusCode)
		}
		for _, path := range []string{"/portal/", "/portal/tenants/" + e.tenant.String() + "/subscriptions",
			"/portal/tenants/" + e.tenant.String() + "/subscriptions/" + f.inScope, "/portal/nowhere"} {
			b.get(t, path)
		}
	}
	e.api(t, "DELETE", "/v1/tenants/"+e.tenant.String()+"/partners/"+e.partner.String()+"/access", e.adminKey, "", http.StatusOK)
	vb := e.browser()
	vb.mustSignIn(t, f.viewerKey)
	vb.get(t, "/portal/tenants/"+e.tenant.String()+"/subscriptions") // refused: the session ends

	e.mu.Lock()
	seen := e.seen
	e.mu.Unlock()
	for _, res := range seen {
		body := []byte(bodyOf(t, res))
		dump, err := httputil.DumpResponse(res, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			if bytes.Contains(body, []byte(key)) || bytes.Contains(dump, []byte(key)) {
				t.Fatalf("a key is in a response:\n%s", dump)
			}
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"path":"/portal/sign-in"`) {
		t.Fatalf("the logger captured no request: %s", logs)
	}
	for _, secret := range append(keys, sessionIDs...) {
		if strings.Contains(logs, secret) {
			t.Fatalf("a key or session id is in the logs")
		}
	}
	rows, err := e.pool.Query(t.Context(), `SELECT sealed_key FROM portal_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sealed []byte
		if err := rows.Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			if bytes.Contains(sealed, []byte(key)) {
				t.Fatal("a key is stored in the clear")
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
