package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The rate limits (issue 12), through the real binary with limits small
// enough to reach: a revoked partner's flood is answered 403 or 429 and
// grows the tenant's audit log by a bounded number of events; unknown
// keys from one address are refused before their lookup once the
// address's attempts are used up.

// rateLimitEnv are the limits the test's server runs with: a partner's
// two users together reach their partner's bucket before their own.
var rateLimitEnv = []string{
	"LEDGER_RATE_LIMIT=40/s,60",
	"LEDGER_PARTNER_RATE_LIMIT=20/s,40",
	"LEDGER_UNKNOWN_KEY_RATE_LIMIT=0.5/s,10",
}

// startServerWith runs "ledger serve" against dbURL with env on top, as
// startServerLogging does at level warn.
func startServerWith(t *testing.T, dbURL string, env ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	cmd, _, stderr := ledgerCmd(t, append([]string{"LEDGER_HTTP_ADDR=" + addr, "LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}, env...), "serve")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ledger serve: %v", err)
	}
	srv := &server{base: "http://" + addr, cmd: cmd, exited: make(chan error, 1), stderr: stderr}
	go func() { srv.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if logs := srv.stop(t); t.Failed() {
			t.Logf("the server's log:\n%s", logs)
		}
	})
	waitHealthy(t, srv.base+"/healthz", srv.exited, stderr)
	return srv
}

func TestSecurityRateLimits(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServerWith(t, dbURL, rateLimitEnv...)
	s := &scenario{api: newAPIClient(srv.base), server: srv, env: []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}}
	a := runBootstrap(t, s.env, "tenant", "Acme Cloud")
	s.tenant = a.ID.String()
	s.admin = s.tenantUser("tenant admin", a.AdminUserID.String(), a.AdminKey)
	var acct accountJSON
	s.admin.post(t, s.tp("/accounts"), accountBody("Globex", map[string]any{"contact_name": "Hank", "email": "hank@globex.example"})).
		wantJSON(t, 201, &acct)
	p := runBootstrap(t, s.env, "partner", "Northwind Resellers")
	s.partner = p.ID.String()
	s.partnerAdmin = s.partnerUser("partner admin", p.AdminUserID.String(), p.AdminKey)
	var op newUserJSON
	s.partnerAdmin.post(t, "/v1/partners/"+s.partner+"/users", map[string]any{"name": "Olga Operator", "role": "partner_operator"}).
		wantJSON(t, 201, &op)
	s.operator = s.partnerUser("partner operator", op.ID, op.Key)
	access := s.tp("/partners/%s/access", s.partner)
	s.admin.put(t, access, map[string]any{"role": "partner_operator", "all_accounts": false, "account_ids": []string{acct.ID}}).want(t, 201)
	s.admin.delete(t, access).want(t, 200)

	runSteps(t, []step{
		{name: "revoked partner's flood", run: func(t *testing.T) { revokedPartnerFlood(t, s, dbURL, acct.ID) }},
		{name: "unknown keys per address", run: func(t *testing.T) { unknownKeysPerAddress(t, s) }},
	})
}

// revokedPartnerFlood sends 1,000 requests as the revoked partner's two
// users, 16 at a time, reads and writes on an account that was in scope.
func revokedPartnerFlood(t *testing.T, s *scenario, dbURL, account string) {
	deniedBefore := deniedEvents(t, s, dbURL)
	before := scrape(t, s.server.base)
	read := s.tp("/accounts/%s", account)
	write := s.tp("/accounts/%s/billing", account)
	billing := []byte(`{"contact_name":"Mallory","email":"mallory@northwind.example"}`)
	callers := []*caller{s.partnerAdmin, s.operator}

	const total, workers = 1000, 16
	answers := make(chan floodAnswer, total)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for i := w; i < total; i += workers {
				c := callers[i%len(callers)]
				if i%3 == 0 {
					answers <- send(client, http.MethodPut, s.api.base+write, c.key, billing)
				} else {
					answers <- send(client, http.MethodGet, s.api.base+read, c.key, nil)
				}
			}
		})
	}
	wg.Wait()
	close(answers)
	took := time.Since(start)

	byStatus := map[int]int{}
	for ans := range answers {
		byStatus[ans.status]++
		switch {
		case ans.err != nil:
			t.Fatalf("flood request: %v", ans.err)
		case ans.status == http.StatusForbidden && ans.code != "partner_access_revoked":
			t.Errorf("403 %s, want partner_access_revoked", ans.code)
		case ans.status == http.StatusTooManyRequests:
			if secs, err := strconv.Atoi(ans.retryAfter); err != nil || secs < 1 || ans.code != "rate_limited" {
				t.Errorf("429 %s with Retry-After %q, want rate_limited and a whole number of seconds from 1", ans.code, ans.retryAfter)
			}
		case ans.status != http.StatusForbidden:
			t.Errorf("flood answer %d %s, want only 403 and 429", ans.status, ans.code)
		}
	}
	t.Logf("%d requests in %s: %v", total, took.Round(time.Millisecond), byStatus)
	if took > 30*time.Second {
		t.Errorf("the flood took %s, want a few seconds", took)
	}
	// 40 tokens at once and 20 a second: the partner's bucket admits
	// only so many, whatever the flood's pace.
	if maxAdmitted := 40 + int(20*took.Seconds()) + 2; byStatus[403] == 0 || byStatus[403] > maxAdmitted {
		t.Errorf("%d answers 403, want from 1 to %d (the partner's bucket over %s)", byStatus[403], maxAdmitted, took)
	}
	after := scrape(t, s.server.base)
	if got := after[`ledger_http_rate_limited_total{limit="partner"}`] - before[`ledger_http_rate_limited_total{limit="partner"}`] +
		after[`ledger_http_rate_limited_total{limit="key"}`] - before[`ledger_http_rate_limited_total{limit="key"}`]; int(got) != byStatus[429] {
		t.Errorf("ledger_http_rate_limited_total grew by %v for key and partner, want the %d answers 429", got, byStatus[429])
	}
	if after[`ledger_http_rate_limited_total{limit="partner"}`] == 0 {
		t.Error("no request refused by the partner's bucket, which the two users share")
	}

	// Repeated identical refusals are recorded once with a count: the two
	// users' two refusals each, a few times over, whatever the flood's size.
	denied := deniedEvents(t, s, dbURL)
	grown := len(denied) - len(deniedBefore)
	const bound = 16
	if grown < 1 || grown > bound {
		t.Errorf("the tenant's audit log grew by %d AccessDenied events for %d refused requests, want from 1 to %d", grown, byStatus[403], bound)
	}
	for _, e := range denied[len(deniedBefore):] {
		if e.Actor.Type != "partner_user" || deref(e.Actor.PartnerID) != s.partner {
			t.Errorf("AccessDenied of %+v, want the partner's users", e.Actor)
		}
	}
	// How often: the AccessDenied events and the counts of their repeats
	// never make more refusals than were answered.
	repeated := 0
	for _, e := range auditEventsOf(t, s, dbURL, "AccessDeniedRepeated") {
		var d struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil || d.Count < 1 {
			t.Errorf("AccessDeniedRepeated %s: count %d (%v), want a positive count", e.Data, d.Count, err)
		}
		repeated += d.Count
	}
	t.Logf("recorded: %d AccessDenied and %d repeats, for %d answers 403", grown, repeated, byStatus[403])
	if grown+repeated > byStatus[403] {
		t.Errorf("the audit log records %d refusals (%d AccessDenied, %d repeats), more than the %d answered 403",
			grown+repeated, grown, repeated, byStatus[403])
	}
}

// deniedEvents reads the tenant's AccessDenied events as its admin.
func deniedEvents(t *testing.T, s *scenario, dbURL string) []auditItemJSON {
	t.Helper()
	return auditEventsOf(t, s, dbURL, "AccessDenied")
}

// auditEventsOf reads the tenant's audit events of type as its admin,
// once the read models hold every event appended so far.
func auditEventsOf(t *testing.T, s *scenario, dbURL, typ string) []auditItemJSON {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(t.Context())
	var head uint64
	if err := conn.QueryRow(t.Context(), `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		t.Fatalf("read the log's head: %v", err)
	}
	var all []auditItemJSON
	cursor := ""
	for range 100 {
		var page listJSON[auditItemJSON]
		s.admin.get(t, s.tp("/audit/events?type=%s&limit=500%s", typ, cursor), "Ledger-Min-Position", strconv.FormatUint(head, 10)).
			wantJSON(t, 200, &page)
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		cursor = "&cursor=" + *page.NextCursor
	}
	t.Fatalf("more than 100 pages of %s events", typ)
	return nil
}

// unknownKeysPerAddress sends keys that name no user from this test's one
// address: the first ten are looked up and refused 401; the rest are 429
// before any lookup, which the metrics count.
func unknownKeysPerAddress(t *testing.T, s *scenario) {
	before := scrape(t, s.server.base)
	client := &http.Client{Timeout: 10 * time.Second}
	byStatus := map[int]int{}
	start := time.Now()
	const total = 60
	for i := range total {
		// Well formed, naming the tenant and its admin, with a wrong
		// secret: only a read of the tenant's stream can refuse it.
		key := s.admin.key[:len(s.admin.key)-4] + fmt.Sprintf("%04d", i)
		ans := send(client, http.MethodGet, s.api.base+s.tp("/accounts"), key, nil)
		if ans.err != nil {
			t.Fatalf("unknown key: %v", ans.err)
		}
		byStatus[ans.status]++
		if ans.status == http.StatusTooManyRequests && (ans.code != "rate_limited" || ans.retryAfter == "") {
			t.Errorf("429 %s with Retry-After %q, want rate_limited with Retry-After", ans.code, ans.retryAfter)
		}
	}
	took := time.Since(start)
	refill := int(0.5*took.Seconds()) + 1
	if byStatus[401] < 10 || byStatus[401] > 10+refill || byStatus[401]+byStatus[429] != total {
		t.Errorf("%d unknown keys in %s: %v, want 10 to %d answers 401 and the rest 429", total, took, byStatus, 10+refill)
	}
	after := scrape(t, s.server.base)
	if got := after["ledger_http_unknown_key_attempts_total"] - before["ledger_http_unknown_key_attempts_total"]; int(got) != byStatus[401] {
		t.Errorf("keys looked up and unknown: %v, want the %d answers 401 (the 429s were not looked up)", got, byStatus[401])
	}
	if got := after[`ledger_http_rate_limited_total{limit="unknown_key"}`] - before[`ledger_http_rate_limited_total{limit="unknown_key"}`]; int(got) != byStatus[429] {
		t.Errorf("rate_limited_total{limit=unknown_key} grew by %v, want the %d answers 429", got, byStatus[429])
	}
}

// floodAnswer is what a flood request got back.
type floodAnswer struct {
	status           int
	code, retryAfter string
	err              error
}

// send sends one request with key and reads its status, problem code and
// Retry-After.
func send(client *http.Client, method, url, key string, body []byte) floodAnswer {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return floodAnswer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return floodAnswer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return floodAnswer{err: err}
	}
	var p problemJSON
	_ = json.Unmarshal(raw, &p)
	return floodAnswer{status: resp.StatusCode, code: p.Code, retryAfter: resp.Header.Get("Retry-After")}
}

// scrape reads the server's metrics without labels or with labels, by
// their series as /metrics writes them.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
