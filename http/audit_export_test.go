package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/audit"
	"ledger/auditexport"
	"ledger/eventstore"
	"ledger/projections"
)

func init() {
	// kin-openapi reads NDJSON as the string the document says it is.
	openapi3filter.RegisterBodyDecoder(mimeNDJSON, openapi3filter.PlainBodyDecoder)
}

// auditWorld is a tenant with a partner granted access to all its
// accounts, more usage events than one page of the export holds, from
// both, and an auditor.
type auditWorld struct {
	*api
	auditor string // key
	product string
	seat    string // the product's recurring charge
	meter   string // the product's usage charge
}

// Usage events of the tenant's admin and of the partner's admin in an
// auditWorld: together more than one export page (auditexport.PageSize).
const (
	worldTenantUsage  = 600
	worldPartnerUsage = 500
)

func newAuditWorld(t *testing.T) *auditWorld {
	t.Helper()
	w := &auditWorld{api: newAPI(t)}
	x := w.do(t, "POST", w.path("/products"), w.adminKey, `{"name":"Pro","sku":"PRO","charges":[
		{"name":"Seat","type":"recurring","price":"15","currency":"USD","billing_period":"month"},
		{"name":"Calls","type":"usage","price":"0.01","currency":"USD","unit":"call"}]}`)
	wantStatus(t, x, http.StatusCreated)
	var p struct {
		ID      string
		Charges []struct{ ID string }
	}
	x.decode(t, &p)
	w.product, w.seat, w.meter = p.ID, p.Charges[0].ID, p.Charges[1].ID
	x = w.do(t, "PUT", w.path("/partners/%s/access", w.partner), w.adminKey, `{"role":"partner_admin","all_accounts":true,"account_ids":[]}`)
	wantStatus(t, x, http.StatusCreated)
	w.recordUsage(t, w.adminKey, worldTenantUsage, "=HYPERLINK(\"http://evil.test\")")
	w.recordUsage(t, w.partnerKey, worldPartnerUsage, "")
	x = w.do(t, "POST", w.path("/users"), w.adminKey, `{"name":"Aud","role":"auditor"}`)
	wantStatus(t, x, http.StatusCreated)
	var u struct{ Key string }
	x.decode(t, &u)
	w.auditor = u.Key
	return w
}

// recordUsage creates, as key's user, an account subscribed to the
// metered product and records n usage records on it, with
// idempotencyKey if not empty.
func (w *auditWorld) recordUsage(t *testing.T, key string, n int, idempotencyKey string) {
	t.Helper()
	x := w.do(t, "POST", w.path("/accounts"), key, `{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`)
	wantStatus(t, x, http.StatusCreated)
	var acc struct{ ID string }
	x.decode(t, &acc)
	x = w.do(t, "POST", w.path("/subscriptions"), key, fmt.Sprintf(`{"account_id":%q,"start_date":"2026-01-01","term":{"type":"evergreen"},
		"items":[{"product_id":%q,"charge_id":%q,"quantity":1},{"product_id":%[2]q,"charge_id":%[4]q,"quantity":1}]}`, acc.ID, w.product, w.seat, w.meter))
	wantStatus(t, x, http.StatusCreated)
	var sub struct {
		ID    string
		Items []struct{ ID string }
	}
	x.decode(t, &sub)
	records := make([]string, n)
	for i := range records {
		records[i] = fmt.Sprintf(`{"id":%q,"subscription_id":%q,"item_id":%q,"quantity":"1","occurred_at":"2026-03-01T00:%02d:%02dZ"}`,
			uuid.NewString(), sub.ID, sub.Items[1].ID, i/60%60, i%60)
	}
	var headers []string
	if idempotencyKey != "" {
		headers = []string{"Idempotency-Key", idempotencyKey}
	}
	x = w.do(t, "POST", w.path("/usage"), key, `{"records":[`+strings.Join(records, ",")+`]}`, headers...)
	wantStatus(t, x, http.StatusOK)
}

// pages reads every page of the JSON audit log at query as key's user.
func (w *auditWorld) pages(t *testing.T, key, query string) []projections.AuditItem {
	t.Helper()
	var all []projections.AuditItem
	cursor := ""
	for {
		x := w.do(t, "GET", w.path("/audit/events?limit=500&%s&cursor=%s", query, url.QueryEscape(cursor)), key, "")
		wantStatus(t, x, http.StatusOK)
		var list projections.List[projections.AuditItem]
		x.decode(t, &list)
		all = append(all, list.Items...)
		if list.NextCursor == nil {
			return all
		}
		cursor = *list.NextCursor
	}
}

// exportLine is an NDJSON line as a client reads it.
type exportLine struct {
	projections.AuditItem
	Leaf *audit.Leaf `json:"leaf"`
}

// ndjson reads the NDJSON export at query as key's user.
func (w *auditWorld) ndjson(t *testing.T, key, query string) []exportLine {
	t.Helper()
	x := w.do(t, "GET", w.path("/audit/events?%s", query), key, "", "Accept", mimeNDJSON)
	wantStatus(t, x, http.StatusOK)
	if ct := x.header.Get("Content-Type"); !strings.HasPrefix(ct, mimeNDJSON) {
		t.Fatalf("Content-Type = %q, want %s", ct, mimeNDJSON)
	}
	var lines []exportLine
	sc := bufio.NewScanner(bytes.NewReader(x.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d %s: %v", len(lines)+1, sc.Bytes(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// csvRows reads the CSV export at query as key's user, header first.
func (w *auditWorld) csvRows(t *testing.T, key, query string) [][]string {
	t.Helper()
	x := w.do(t, "GET", w.path("/audit/events?%s", query), key, "", "Accept", "text/csv")
	wantStatus(t, x, http.StatusOK)
	if ct := x.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("Content-Type = %q, want text/csv", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(x.body)).ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v", err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], auditexport.CSVHeader) {
		t.Fatalf("CSV header = %v, want %v", rows[:min(len(rows), 1)], auditexport.CSVHeader)
	}
	return rows
}

func TestAuditExportListsWhatThePagesList(t *testing.T) {
	t.Parallel()
	w := newAuditWorld(t)
	past, future := url.QueryEscape("2000-01-01T00:00:00Z"), url.QueryEscape("2099-01-01T00:00:00Z")
	for _, tc := range []struct {
		name, who, query string
		leaves           bool
		atLeast          int
	}{
		{"everything, to the auditor", "auditor", "", true, worldTenantUsage + worldPartnerUsage},
		{"a partner's actions", "auditor", "partner_id=" + w.partner.String(), true, worldPartnerUsage},
		{"usage in a range", "auditor", "type=UsageRecorded&from=" + past + "&to=" + future, true, worldTenantUsage + worldPartnerUsage},
		{"nothing", "auditor", "from=" + future, true, 0},
		{"to the partner's admin, its own actions", "partner", "", false, worldPartnerUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := map[string]string{"auditor": w.auditor, "partner": w.partnerKey}[tc.who]
			want := w.pages(t, key, tc.query)
			if len(want) < tc.atLeast {
				t.Fatalf("the pages list %d events, want at least %d", len(want), tc.atLeast)
			}
			lines := w.ndjson(t, key, tc.query)
			if len(lines) != len(want) {
				t.Fatalf("NDJSON has %d lines, the pages %d events", len(lines), len(want))
			}
			for i, l := range lines {
				got, _ := json.Marshal(l.AuditItem)
				exp, _ := json.Marshal(want[i])
				if !bytes.Equal(got, exp) {
					t.Fatalf("line %d = %s, want %s", i+1, got, exp)
				}
				if (l.Leaf != nil) != tc.leaves {
					t.Fatalf("line %d has a leaf: %v, want %v", i+1, l.Leaf != nil, tc.leaves)
				}
				if tc.who == "partner" && (l.Actor.PartnerID == nil || *l.Actor.PartnerID != w.partner) {
					t.Fatalf("line %d, to the partner, is another's action: %+v", i+1, l.Actor)
				}
			}
			rows := w.csvRows(t, key, tc.query)
			if len(rows)-1 != len(want) {
				t.Fatalf("CSV has %d rows, the pages %d events", len(rows)-1, len(want))
			}
			for i, row := range rows[1:] {
				if row[0] != strconv.FormatUint(uint64(want[i].Position), 10) || row[1] != want[i].EventID.String() {
					t.Fatalf("CSV row %d = %v, want position %d, event %s", i+1, row[:2], want[i].Position, want[i].EventID)
				}
			}
		})
	}
}

func TestAuditExportLeavesHashTheStoredEvents(t *testing.T) {
	t.Parallel()
	w := newAuditWorld(t)
	lines := w.ndjson(t, w.auditor, "")
	if len(lines) <= auditexport.PageSize {
		t.Fatalf("%d lines: the world must hold more than one page", len(lines))
	}
	for i, l := range lines {
		if i > 0 && l.Position <= lines[i-1].Position {
			t.Fatalf("line %d at position %d follows %d", i+1, l.Position, lines[i-1].Position)
		}
		var (
			stored         audit.Leaf
			data, metadata string
		)
		err := w.pool.QueryRow(t.Context(), `SELECT event_id, stream, version, type, schema_version, data::text, metadata::text, recorded_at
FROM events WHERE position = $1`, int64(l.Position)).Scan(&stored.ID, &stored.Stream, &stored.Version, &stored.Type,
			&stored.SchemaVersion, &data, &metadata, &stored.RecordedAt)
		if err != nil {
			t.Fatalf("read event at %d: %v", l.Position, err)
		}
		stored.Data, stored.Metadata = json.RawMessage(data), json.RawMessage(metadata)
		want, err := stored.LeafHash()
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Leaf.LeafHash()
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if !bytes.Equal(got, want) || l.Leaf.ID != l.EventID {
			t.Fatalf("line %d: leaf %x of event %s, want %x of %s", i+1, got, l.Leaf.ID, want, l.EventID)
		}
	}
}

func TestAuditExportCSVDefusesFormulas(t *testing.T) {
	t.Parallel()
	w := newAuditWorld(t)
	rows := w.csvRows(t, w.auditor, "type=UsageRecorded")
	col := slices.Index(auditexport.CSVHeader, "idempotency_key")
	keyed := 0
	for _, row := range rows[1:] {
		if row[col] == "" {
			continue
		}
		keyed++
		if want := `'=HYPERLINK("http://evil.test")`; row[col] != want {
			t.Fatalf("idempotency_key cell = %q, want %q", row[col], want)
		}
	}
	if keyed != worldTenantUsage {
		t.Fatalf("%d rows carry the idempotency key, want %d", keyed, worldTenantUsage)
	}
}

func TestExportFormatNegotiation(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]string{
		"":                                      "",
		"*/*":                                   "",
		"application/json":                      "",
		"application/x-ndjson":                  auditexport.NDJSON,
		"text/csv":                              auditexport.CSV,
		"text/csv; charset=utf-8":               auditexport.CSV,
		"text/csv;q=0":                          "",
		"application/json, text/csv":            "",
		"text/csv, application/json":            auditexport.CSV,
		"application/json;q=0.5, text/csv":      auditexport.CSV,
		"application/x-ndjson;q=0.9, text/csv":  auditexport.CSV,
		"application/x-ndjson, text/csv;q=0.1":  auditexport.NDJSON,
		"text/html, application/x-ndjson;q=0.2": auditexport.NDJSON,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept", accept)
		if got := exportFormat(echo.New().NewContext(req, httptest.NewRecorder())); got != want {
			t.Errorf("Accept %q: format %q, want %q", accept, got, want)
		}
	}
}

// TestAuditExportFailureAbortsTheStream checks what a client sees of an
// export that fails after its status was sent: the rows sent so far, then
// a transfer that ends in error, never a body that looks complete.
func TestAuditExportFailureAbortsTheStream(t *testing.T) {
	t.Parallel()
	for _, format := range []string{auditexport.NDJSON, auditexport.CSV} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			s := &server{logger: slog.New(slog.DiscardHandler)}
			sent := []uuid.UUID{uuid.New(), uuid.New()}
			row := func(i int) auditexport.Row {
				return auditexport.Row{AuditExportRow: projections.AuditExportRow{Item: projections.AuditItem{
					Position: eventstore.Position(i + 1), EventID: sent[i], Type: "UsageRecorded", Data: json.RawMessage(`{}`)}}}
			}
			failing := func(context.Context) ([]auditexport.Row, error) { return nil, errors.New("database gone") }
			e := echo.New()
			e.GET("/", func(c echo.Context) error {
				return s.streamExport(c, format, uuid.New(), []auditexport.Row{row(0), row(1)}, failing)
			})
			srv := httptest.NewServer(e)
			defer srv.Close()
			res, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("status %d, read error %v: want 200 and an unexpected EOF", res.StatusCode, err)
			}
			if !bytes.Contains(body, []byte(sent[1].String())) {
				t.Fatalf("body %q lacks the rows sent before the failure", body)
			}
		})
	}
}
