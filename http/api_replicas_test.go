package http

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"ledger/commands"
)

// replica is a second server on a's database, with a service of its own
// and logger: what one replica keeps in memory the other does not see.
func (a *api) replica(logger *slog.Logger) *api {
	b := *a
	b.svc = commands.New(a.store, withBillingIndex(a.pool, a.store))
	b.srv = NewServer(Deps{DB: a.pool, Pool: a.pool, Commands: b.svc, Metrics: prometheus.NewRegistry(), Logger: logger})
	return &b
}

// A user removed on one replica is refused on the other at its very next
// request, on every write route, even when the request is wrong in other
// ways, although the replica keeps the user's state from before; and the
// write routes serve the other replica's writes.
func TestWritesAcrossReplicas(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelError}))
	a := newAPI(t).replica(logger)
	a.documentChecks = false
	b := a.replica(logger)
	admin := a.adminKey

	sh := stockShop(t, a)
	account := sh.accountBody
	subscribe := fmt.Sprintf(`{"account_id":%q,"start_date":"2026-11-01","term":{"type":"evergreen"},
		"items":[{"product_id":%q,"charge_id":%q,"quantity":1}]}`, sh.account, sh.product, sh.charge)
	x := a.do(t, "POST", a.path("/subscriptions"), admin, subscribe)
	wantStatus(t, x, http.StatusCreated)
	var sub struct {
		ID    string
		Items []struct{ ID string }
	}
	x.decode(t, &sub)
	amend := fmt.Sprintf(`{"effective_date":"2026-12-01","changes":[{"type":"change_quantity","item_id":%q,"quantity":2}]}`, sub.Items[0].ID)

	// The other replica amends: this one's next amendment decides on what
	// it wrote.
	wantStatus(t, b.do(t, "POST", a.path("/subscriptions/%s/amendments", sub.ID), admin, amend), http.StatusOK)
	x = a.do(t, "POST", a.path("/subscriptions/%s/amendments", sub.ID), admin, amend, "If-Match", `"2"`)
	wantStatus(t, x, http.StatusOK)
	if got := x.header.Get("ETag"); got != `"3"` {
		t.Fatalf("ETag %s after the other replica's amendment and this one's, want \"3\"", got)
	}

	routes := []struct{ method, path, body string }{
		{"POST", a.path("/products"), `{"name":"Lite","sku":"LITE","charges":[{"name":"Seat","type":"recurring","price":"9","currency":"USD","billing_period":"month"}]}`},
		{"POST", a.path("/accounts"), account},
		{"PUT", a.path("/accounts/%s/billing", sh.account), `{"contact_name":"Hank","email":"ap@globex.test"}`},
		{"POST", a.path("/subscriptions"), subscribe},
		{"POST", a.path("/subscriptions/%s/amendments", sub.ID), amend},
		{"POST", a.path("/subscriptions/%s/cancel", sub.ID), `{"policy":"end_of_term"}`},
		{"POST", a.path("/subscriptions/%s/amendments", sub.ID), `{"effective_date":"2026-12-01","changes":[],"unknown":1}`},
		{"POST", a.path("/subscriptions/%s/amendments", sub.ID), `{not json`},
	}
	for _, r := range routes {
		// A user this replica adds, and keeps, and the other removes.
		x := a.do(t, "POST", a.path("/users"), admin, `{"name":"Ops","role":"tenant_admin"}`)
		wantStatus(t, x, http.StatusCreated)
		var user struct{ ID, Key string }
		x.decode(t, &user)
		if user.Key == "" {
			t.Fatalf("no key in %s", x.body)
		}
		wantStatus(t, b.do(t, "DELETE", a.path("/users/%s", user.ID), admin, ""), http.StatusNoContent)
		if x := a.do(t, r.method, r.path, user.Key, r.body); x.status != http.StatusUnauthorized {
			t.Fatalf("%s %s by a user removed on the other replica: %d %s, want 401", r.method, r.path, x.status, x.body)
		}
	}
	if logs.Len() > 0 {
		t.Fatalf("errors logged: %s", logs.String())
	}
}

// syncWriter serializes the writes of the servers' loggers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestHotSubscriptionOverHTTP has 32 clients amend one subscription at
// once, without If-Match, through two replicas: every answer is 200, each
// with a version of its own, and the subscription's version rises by
// exactly 32.
func TestHotSubscriptionOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.documentChecks = false
	b := a.replica(nil)
	sh := stockShop(t, a)
	x := a.do(t, "POST", a.path("/subscriptions"), a.adminKey, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-11-01",
		"term":{"type":"evergreen"},"items":[{"product_id":%q,"charge_id":%q,"quantity":1}]}`, sh.account, sh.product, sh.charge))
	wantStatus(t, x, http.StatusCreated)
	var sub struct {
		ID      string
		Version uint64
		Items   []struct{ ID string }
	}
	x.decode(t, &sub)
	versions := make([]string, 32)
	var wg sync.WaitGroup
	for i := range versions {
		replica := []*api{a, b}[i%2]
		wg.Go(func() {
			body := fmt.Sprintf(`{"effective_date":"2026-12-01","changes":[{"type":"change_quantity","item_id":%q,"quantity":%d}]}`, sub.Items[0].ID, 2+i%3)
			req := httptest.NewRequest("POST", a.path("/subscriptions/%s/amendments", sub.ID), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+a.adminKey)
			rec := httptest.NewRecorder()
			replica.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("amendment %d: %d %s", i, rec.Code, rec.Body)
			}
			versions[i] = rec.Header().Get("ETag")
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, v := range versions {
		if seen[v] {
			t.Fatalf("two amendments answered version %s", v)
		}
		seen[v] = true
	}
	if want := fmt.Sprintf(`"%d"`, sub.Version+32); !seen[want] {
		t.Fatalf("no amendment answered version %s; got %v", want, versions)
	}
}

// shop is what the replica and linearizability tests set up: a product
// with a monthly seat charge, and an account.
type shop struct {
	product, charge, account string
	accountBody              string
}

// stockShop creates a's shop as its tenant's admin.
func stockShop(t *testing.T, a *api) shop {
	t.Helper()
	x := a.do(t, "POST", a.path("/products"), a.adminKey, `{"name":"Pro","sku":"PRO","charges":[
		{"name":"Seat","type":"recurring","price":"49","currency":"USD","billing_period":"month"}]}`)
	wantStatus(t, x, http.StatusCreated)
	var product struct {
		ID      string
		Charges []struct{ ID string }
	}
	x.decode(t, &product)
	sh := shop{product: product.ID, charge: product.Charges[0].ID,
		accountBody: `{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`}
	x = a.do(t, "POST", a.path("/accounts"), a.adminKey, sh.accountBody)
	wantStatus(t, x, http.StatusCreated)
	var acc struct{ ID string }
	x.decode(t, &acc)
	sh.account = acc.ID
	return sh
}
