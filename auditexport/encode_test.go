package auditexport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/audit"
	"ledger/eventstore"
	"ledger/projections"
)

func TestExportCSVTextDefusesFormulas(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@A1": "'@A1", "\tx": "'\tx", "a=b": "a=b", "": ""} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
}

// row is the event at position i, with a leaf when leaf is set.
func row(i int, leaf bool) Row {
	key := "=HYPERLINK()"
	r := Row{AuditExportRow: projections.AuditExportRow{Item: projections.AuditItem{
		Position: eventstore.Position(i), EventID: uuid.New(), Stream: "s-1", Version: uint64(i), Type: "UsageRecorded",
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), IdempotencyKey: &key,
		Data: json.RawMessage(`{"a":"<b>"}`)}}}
	if leaf {
		r.Leaf = &audit.Leaf{ID: r.Item.EventID, Stream: r.Item.Stream, Version: r.Item.Version}
	}
	return r
}

func TestExportEncoders(t *testing.T) {
	t.Parallel()
	pages := [][]Row{{row(1, true), row(2, false)}, {row(3, false)}, nil}
	for _, format := range []string{NDJSON, CSV} {
		var buf bytes.Buffer
		enc, err := NewEncoder(format, &buf)
		if err != nil {
			t.Fatal(err)
		}
		next, flushes := 1, 0
		done, err := Copy(t.Context(), pages[0], func(context.Context) ([]Row, error) {
			next++
			return pages[next-1], nil
		}, enc, func(int64) error { flushes++; return nil })
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if err != nil || done != 3 || flushes != 3 {
			t.Fatalf("%s: %d events, %d flushes, %v; want 3, 3, nil", format, done, flushes, err)
		}
		switch format {
		case CSV:
			if len(lines) != 4 || lines[0] != strings.Join(CSVHeader, ",") ||
				!strings.Contains(lines[1], ",2026-01-02T02:04:05.000000006Z,") || !strings.Contains(lines[1], ",'=HYPERLINK(),") {
				t.Fatalf("CSV:\n%s", buf.String())
			}
		case NDJSON:
			var l Line
			if len(lines) != 3 || json.Unmarshal([]byte(lines[0]), &l) != nil || l.Leaf == nil ||
				strings.Contains(lines[1], `"leaf"`) || !strings.Contains(lines[0], `<b>`) {
				t.Fatalf("NDJSON:\n%s", buf.String())
			}
		}
	}
}

func TestExportEmptyCSVHasItsHeader(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc, _ := NewEncoder(CSV, &buf)
	if _, err := Copy(t.Context(), nil, nil, enc, func(int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(CSVHeader, ",") + "\n"; buf.String() != want {
		t.Fatalf("empty export %q, want %q", buf.String(), want)
	}
}

func TestExportStreamRefusesAnUnknownFormatBeforeSending(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	_, err := Stream(t.Context(), rec, "xml", uuid.New(), nil, nil)
	if !errors.Is(err, ErrFormat) || rec.Code != http.StatusOK || rec.Flushed || rec.Body.Len() != 0 {
		t.Fatalf("Stream(xml): %v, flushed %v, body %q; want ErrFormat and nothing sent", err, rec.Flushed, rec.Body)
	}
}

func TestExportStreamSendsThePagesSentBeforeAFailure(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	tenant := uuid.New()
	gone := errors.New("database gone")
	done, err := Stream(t.Context(), rec, CSV, tenant, []Row{row(1, false)}, func(context.Context) ([]Row, error) { return nil, gone })
	if !errors.Is(err, gone) || done != 1 || !rec.Flushed || strings.Count(rec.Body.String(), "\n") != 2 {
		t.Fatalf("Stream: %d events, %v, body %q; want 1 event flushed, then the failure", done, err, rec.Body)
	}
	if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename="audit-`+tenant.String()+`.csv"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
}

func TestAccessReviewRows(t *testing.T) {
	t.Parallel()
	p := projections.AccessReviewPartner{PartnerID: uuid.New(), Name: "@evil"}
	p.Refusals.Count = 2
	rows := AccessReviewRows(p)
	if len(rows) != 1 || len(rows[0]) != len(AccessReviewCSVHeader) || rows[0][1] != "'@evil" || rows[0][15] != "2" {
		t.Fatalf("rows of a partner without users: %q", rows)
	}
	var buf bytes.Buffer
	if err := WriteAccessReviewCSV(&buf, projections.AccessReview{Partners: []projections.AccessReviewPartner{p}}); err != nil ||
		!strings.HasPrefix(buf.String(), strings.Join(AccessReviewCSVHeader, ",")+"\n") || strings.Count(buf.String(), "\n") != 2 {
		t.Fatalf("CSV %q, %v", buf.String(), err)
	}
}
