package main

import (
	"encoding/base64"
	"net/url"
	"testing"
	"time"
)

// TestAsOfAndCursorEdges holds the edges of ?as_of= and of cursors
// through the real binary: an instant before the subscription's first
// event is 404, Go's zero instant included (it once meant now); an
// instant in the future answers the current state, as nothing is recorded
// there yet; and a position cursor
// beyond the largest bigint is 400, where it once wrapped negative and
// listed the audit log from its start.
func TestAsOfAndCursorEdges(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	s := newShop(t, newAPIClient(srv.base), env, "Acme Edges")
	var sub struct {
		CreatedAt string `json:"created_at"`
		Version   int    `json:"version"`
	}
	current := s.admin.get(t, s.path("/subscriptions/"+s.subscription))
	s.decode(t, current, 200, &sub)
	created, err := time.Parse(time.RFC3339Nano, sub.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // so that now is after the subscription was recorded
	for _, tc := range []struct {
		asOf   string
		status int
		code   string
	}{
		{"0001-01-01T00:00:00Z", 404, "not_found"},
		{"0000-01-01T00:00:00Z", 404, "not_found"},
		{"1970-01-01T00:00:00Z", 404, "not_found"},
		{created.Add(-time.Second).Format(time.RFC3339Nano), 404, "not_found"},
		{"2026-13-01T00:00:00Z", 400, "validation_failed"},
		{time.Now().UTC().Format(time.RFC3339Nano), 200, ""},
		{time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano), 200, ""},
		{"9999-12-31T23:59:59Z", 200, ""},
	} {
		r := s.admin.get(t, s.path("/subscriptions/"+s.subscription+"?as_of="+url.QueryEscape(tc.asOf)))
		if tc.status != 200 {
			r.problem(t, tc.status, tc.code)
			continue
		}
		r.want(t, 200).wantETag(t, sub.Version)
		if tc.asOf > time.Now().UTC().Format(time.RFC3339Nano) && string(r.Body) != string(current.Body) {
			t.Errorf("as of %s, the future: %s; want the current state %s", tc.asOf, r.Body, current.Body)
		}
	}

	cursor := func(key string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(key))) }
	var page listJSON[auditItemJSON]
	s.decode(t, s.admin.get(t, s.path("/audit/events?limit=1")), 200, &page)
	if page.NextCursor == nil {
		t.Fatal("the audit log of a shop has one page")
	}
	s.admin.get(t, s.path("/audit/events?limit=1&cursor="+url.QueryEscape(*page.NextCursor))).want(t, 200)
	s.admin.get(t, s.path("/audit/events?cursor="+cursor("9223372036854775807"))).want(t, 200)
	for _, path := range []string{
		"/audit/events?cursor=" + cursor("9223372036854775808"), // 2^63
		"/audit/events?cursor=" + cursor("18446744073709551615"),
		"/audit/events?cursor=" + cursor("-1"),
		"/subscriptions?cursor=" + cursor("9223372036854775808"),
		"/accounts?cursor=" + cursor("9223372036854775808"),
	} {
		s.admin.get(t, s.path(path)).problem(t, 400, "validation_failed")
	}
}
