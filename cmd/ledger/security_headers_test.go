package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The HTTP edge on a tenant with its catalog and accounts: headers
// checked before the store, bodies bounded in size and time, response
// headers, and Ledger-Min-Position beyond the log's head.

// edgeScenario is a tenant with its catalog and accounts, on a server of
// its own.
func edgeScenario(t *testing.T) *scenario {
	t.Helper()
	s := newScenario(t)
	s.buildCatalog(t)
	s.openAccounts(t)
	return s
}

func TestHeadersAreCheckedBeforeTheStore(t *testing.T) {
	t.Parallel()
	s := edgeScenario(t)
	client := &http.Client{Timeout: 30 * time.Second}
	url := s.api.base + s.tp("/accounts")
	body, err := json.Marshal(accountBody("Edge Case", map[string]any{"contact_name": "E", "email": "e@example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + s.admin.key
	tests := []struct {
		name   string
		header http.Header
		field  string
	}{
		{"non-UTF-8 idempotency key", http.Header{"Idempotency-Key": {"\xff"}}, "Idempotency-Key"},
		// net/http refuses control characters in any header itself: a 400, and no field.
		{"idempotency key with a control character", http.Header{"Idempotency-Key": {"a\x7fb"}}, ""},
		{"idempotency key of 256 characters", http.Header{"Idempotency-Key": {strings.Repeat("k", 256)}}, "Idempotency-Key"},
		{"two idempotency keys", http.Header{"Idempotency-Key": {"k-1", "k-2"}}, "Idempotency-Key"},
		{"two Authorization headers", http.Header{"Authorization": {auth, auth}}, "Authorization"},
		{"two Authorization headers, the second unknown", http.Header{"Authorization": {auth, "Bearer lk_nobody"}}, "Authorization"},
	}
	for _, tt := range tests {
		h := http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}}
		for name, values := range tt.header {
			h[name] = values
		}
		status, header, got := wireRequest(t, s.api.base, http.MethodPost, s.tp("/accounts"), h, body)
		var p problemJSON
		if err := json.Unmarshal(got, &p); status != http.StatusBadRequest ||
			tt.field != "" && (err != nil || len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", tt.name, status, got, tt.field)
		}
		if header.Get("Ledger-Position") != "" {
			t.Errorf("%s: refused with a Ledger-Position", tt.name)
		}
	}
	before := len(s.auditEvents(t, s.admin, "type=AccountCreated", 500))
	h := http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}, "Idempotency-Key": {strings.Repeat("~", 255)}}
	status, header, got := rawRequest(t, client, http.MethodPost, url, h, body)
	if status != http.StatusCreated {
		t.Fatalf("an idempotency key of 255 printable characters: %d %s, want 201", status, got)
	}
	pos, err := strconv.ParseUint(header.Get("Ledger-Position"), 10, 64)
	if err != nil {
		t.Fatalf("Ledger-Position %q: %v", header.Get("Ledger-Position"), err)
	}
	s.api.seen = max(s.api.seen, pos)
	if after := len(s.auditEvents(t, s.admin, "type=AccountCreated", 500)); after != before+1 {
		t.Errorf("%d AccountCreated events after the refusals and one creation, want %d", after, before+1)
	}
	s.requestIDsAreTheServers(t)
}

// requestIDsAreTheServers checks that an event's request_id and
// correlation_id are the server's own id of the request, and the
// client's valid X-Request-ID its client_request_id, echoed.
func (s *scenario) requestIDsAreTheServers(t *testing.T) {
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tt := range []struct{ sent, recorded string }{
		{"client.req-1:" + uuid.NewString()[:8], "same"},
		{"has space", ""},
		{strings.Repeat("x", 129), ""},
		{"émoji", ""},
	} {
		body, err := json.Marshal(s.subscriptionBody(s.accounts[2].ID, termed(12, true), orderLine{charge: "seat", qty: 1}))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Authorization": {"Bearer " + s.admin.key}, "Content-Type": {"application/json"}, "X-Request-ID": {tt.sent}}
		status, header, got := rawRequest(t, client, http.MethodPost, s.api.base+s.tp("/subscriptions"), h, body)
		if status != http.StatusCreated {
			t.Fatalf("create a subscription with X-Request-ID %q: %d %s", tt.sent, status, got)
		}
		own := header.Get("Ledger-Request-ID")
		if _, err := uuid.Parse(own); err != nil {
			t.Fatalf("Ledger-Request-ID %q is not the server's uuid", own)
		}
		wantEcho, wantClient := own, (*string)(nil)
		if tt.recorded != "" {
			wantEcho, wantClient = tt.sent, &tt.sent
		}
		if echoed := header.Get("X-Request-ID"); echoed != wantEcho {
			t.Errorf("sent X-Request-ID %.40q, got back %q, want %q", tt.sent, echoed, wantEcho)
		}
		var sub subscriptionJSON
		if err := json.Unmarshal(got, &sub); err != nil {
			t.Fatal(err)
		}
		var history struct {
			Items []struct {
				CorrelationID   *string `json:"correlation_id"`
				RequestID       *string `json:"request_id"`
				ClientRequestID *string `json:"client_request_id"`
			} `json:"items"`
		}
		loose(t, s.admin.get(t, s.tp("/subscriptions/%s/history", sub.ID)).want(t, 200), &history)
		if len(history.Items) != 1 {
			t.Fatalf("history of a new subscription: %d events", len(history.Items))
		}
		ev := history.Items[0]
		if deref(ev.RequestID) != own || deref(ev.CorrelationID) != own || deref(ev.ClientRequestID) != deref(wantClient) ||
			(ev.ClientRequestID == nil) != (wantClient == nil) {
			t.Errorf("sent X-Request-ID %.40q: the event records request_id %s, correlation_id %s, client_request_id %s; want %s, %s, %s",
				tt.sent, deref(ev.RequestID), deref(ev.CorrelationID), deref(ev.ClientRequestID), own, own, deref(wantClient))
		}
	}
}

func TestBodiesAreBoundedInSizeAndTime(t *testing.T) {
	t.Parallel()
	s := edgeScenario(t)
	client := &http.Client{Timeout: 30 * time.Second}
	url := s.api.base + s.tp("/accounts")
	account, err := json.Marshal(accountBody("Padded", map[string]any{"contact_name": "P", "email": "p@example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Authorization": {"Bearer " + s.admin.key}, "Content-Type": {"application/json"}}
	for _, tt := range []struct {
		size   int
		status int
	}{{1 << 20, http.StatusCreated}, {1<<20 + 1, http.StatusRequestEntityTooLarge}} {
		body := append(bytes.Repeat([]byte(" "), tt.size-len(account)), account...)
		if status, _, got := rawRequest(t, client, http.MethodPost, url, h, body); status != tt.status {
			t.Errorf("a body of %d bytes: %d %.200s, want %d", tt.size, status, got, tt.status)
		}
	}
	s.slowBodyIsCut(t)
}

// slowBodyIsCut trickles a body, a byte every half second, and wants 408
// once the server's read deadline (15 s from the request's start) passes.
func (s *scenario) slowBodyIsCut(t *testing.T) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.api.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: 1000\r\n\r\n{", s.tp("/accounts"), s.admin.key)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	})
	defer wg.Wait()
	defer close(done)
	if err := conn.SetReadDeadline(time.Now().Add(45 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("a trickling body: no answer after %s: %v", took, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(got), `"code":"request_timeout"`) {
		t.Errorf("a trickling body: %d %s after %s, want 408 request_timeout", resp.StatusCode, got, took)
	}
	if took < 14*time.Second || took > 25*time.Second {
		t.Errorf("a trickling body was answered after %s, want at the 15 s read deadline", took)
	}
	t.Logf("a trickling body answered %d after %s", resp.StatusCode, took)
}

func TestResponsesCarryLocationAndNoStore(t *testing.T) {
	t.Parallel()
	s := edgeScenario(t)
	var created struct {
		ID string `json:"id"`
	}
	wantLocation := func(what string, r *reply, want string) {
		t.Helper()
		if got := r.Header.Get("Location"); got != want {
			t.Errorf("%s: Location %q, want %q", what, got, want)
		}
	}
	r := s.admin.post(t, s.tp("/accounts"), accountBody("Located", map[string]any{"contact_name": "L", "email": "l@example.com"}))
	loose(t, r.want(t, 201), &created)
	wantLocation("new account", r, s.tp("/accounts/%s", created.ID))
	s.admin.get(t, r.Header.Get("Location")).want(t, 200)

	r = s.admin.post(t, s.tp("/products"), map[string]any{"name": "Located", "sku": "LOC-1",
		"charges": []map[string]any{{"name": "Seat", "type": "recurring", "price": "1.00", "currency": "USD", "billing_period": "month"}}})
	loose(t, r.want(t, 201), &created)
	wantLocation("new product", r, s.tp("/products/%s", created.ID))
	s.admin.get(t, r.Header.Get("Location")).want(t, 200)

	r = s.admin.post(t, s.tp("/subscriptions"), s.subscriptionBody(s.accounts[0].ID, termed(12, true), orderLine{charge: "seat", qty: 2}))
	loose(t, r.want(t, 201), &created)
	wantLocation("new subscription", r, s.tp("/subscriptions/%s", created.ID))
	s.admin.get(t, r.Header.Get("Location")).want(t, 200)

	r = s.admin.post(t, s.tp("/users"), map[string]any{"name": "Lou Located", "role": "finance"})
	loose(t, r.want(t, 201), &created)
	wantLocation("new tenant user", r, s.tp("/users/%s", created.ID))

	partner := runBootstrap(t, s.env, "partner", "Located Partners")
	grant := s.tp("/partners/%s/access", partner.ID)
	r = s.admin.put(t, grant, map[string]any{"role": "partner_admin", "all_accounts": true}).want(t, 201)
	wantLocation("new grant", r, grant)
	s.admin.get(t, grant).want(t, 200)
	r = s.admin.put(t, grant, map[string]any{"role": "partner_viewer", "all_accounts": true}).want(t, 200)
	wantLocation("changed grant", r, "")

	partnerAdmin := s.partnerUser("located partner admin", partner.AdminUserID.String(), partner.AdminKey)
	r = partnerAdmin.post(t, "/v1/partners/"+partner.ID.String()+"/users", map[string]any{"name": "Pat", "role": "partner_viewer"})
	loose(t, r.want(t, 201), &created)
	wantLocation("new partner user", r, "/v1/partners/"+partner.ID.String()+"/users/"+created.ID)

	for _, r := range []*reply{
		s.admin.get(t, s.tp("/accounts")),
		s.admin.get(t, s.tp("/accounts/%s", uuid.NewString())),
		(&caller{api: s.api, name: "anonymous"}).get(t, s.tp("/accounts")),
		s.admin.post(t, s.tp("/users"), map[string]any{"name": "Kim Key", "role": "finance"}),
	} {
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d with Cache-Control %q and X-Content-Type-Options %q, want no-store and nosniff",
				r.req, r.Status, r.Header.Get("Cache-Control"), r.Header.Get("X-Content-Type-Options"))
		}
	}
}

var headInDetail = regexp.MustCompile(`head, (\d+)`)

func TestMinPositionBeyondTheHeadAnswersAtOnce(t *testing.T) {
	t.Parallel()
	s := edgeScenario(t)
	seen := s.api.seen
	path := s.tp("/accounts")
	const callers = 300
	type answer struct {
		status int
		body   []byte
		took   time.Duration
	}
	answers := make(chan answer, callers)
	// At most 16 at once, so that the shared Postgres keeps connections for
	// the other tests' servers.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 16}}
	var wg sync.WaitGroup
	for i := range callers {
		pos := "18446744073709551615"
		if i%2 == 1 {
			pos = strconv.FormatUint(seen+1000, 10)
		}
		h := http.Header{"Authorization": {"Bearer " + s.admin.key}, "Ledger-Min-Position": {pos}}
		wg.Go(func() {
			start := time.Now()
			status, _, body := rawRequest(t, client, http.MethodGet, s.api.base+path, h, nil)
			answers <- answer{status, body, time.Since(start)}
		})
	}
	wg.Wait()
	close(answers)
	var slowest time.Duration
	for a := range answers {
		slowest = max(slowest, a.took)
		var p problemJSON
		if err := json.Unmarshal(a.body, &p); a.status != http.StatusUnprocessableEntity || err != nil || p.Code != "position_beyond_head" {
			t.Fatalf("GET with Ledger-Min-Position beyond the head: %d %s, want 422 position_beyond_head", a.status, a.body)
		}
		m := headInDetail.FindStringSubmatch(p.Detail)
		if head, err := strconv.ParseUint(deref(lastOf(m)), 10, 64); m == nil || err != nil || head < seen || head >= seen+1000 {
			t.Fatalf("detail %q does not name the log's head (at least %d)", p.Detail, seen)
		}
	}
	if slowest > 5*time.Second {
		t.Errorf("the slowest of %d refusals took %s: they waited instead of answering at once", callers, slowest)
	}
	t.Logf("%d requests beyond the head answered 422, the slowest in %s", callers, slowest)
	s.admin.get(t, path, "Ledger-Min-Position", strconv.FormatUint(seen, 10)).want(t, 200)
	s.positionNotYetProjected(t)
}

// positionNotYetProjected holds the accounts read model locked against
// writes, writes, and reads at the write's position: the log has it, a
// read model not, so the read waits 5 s and answers 503 projection_lag.
// A table lock takes no transaction id, so the shared cluster's horizon,
// and the other tests' projections, do not wait for it (a row lock would
// hold them all back for those 5 s).
func (s *scenario) positionNotYetProjected(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, strings.TrimPrefix(s.env[0], "LEDGER_DATABASE_URL="))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `LOCK TABLE readmodel.accounts IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	var xidFree bool
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id_if_assigned() IS NULL`).Scan(&xidFree); err != nil || !xidFree {
		t.Fatalf("lock the accounts read model without a transaction id: %v (no id: %v)", err, xidFree)
	}
	w := s.admin.post(t, s.tp("/accounts"), accountBody("Lagging", map[string]any{"contact_name": "L", "email": "l@example.com"})).want(t, 201)
	at := strconv.FormatUint(w.position(t), 10)
	began := time.Now()
	r := s.admin.get(t, s.tp("/accounts"), "Ledger-Min-Position", at)
	r.problem(t, 503, "projection_lag")
	if took := time.Since(began); took < 4*time.Second || took > 10*time.Second {
		t.Errorf("a position not yet projected was refused after %s, want after the 5 s wait", took)
	}
	if after, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || after < 1 {
		t.Errorf("Retry-After %q, want a number of seconds", r.Header.Get("Retry-After"))
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	s.admin.get(t, s.tp("/accounts"), "Ledger-Min-Position", at).want(t, 200)
}

// loose decodes the parts of r's body that v names.
func loose(t *testing.T, r *reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decode %T: %v", r.req, v, err)
	}
}

func lastOf(xs []string) *string {
	if len(xs) == 0 {
		return nil
	}
	return &xs[len(xs)-1]
}
