package http

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/audit"
	"ledger/projections"
)

// exportEncoder writes the events of an export in one format.
type exportEncoder interface {
	// begin writes what comes before the first event.
	begin() error
	// write writes one event.
	write(r exportRow) error
	// flush hands what was written to the underlying writer.
	flush() error
}

// newExportEncoder returns the encoder of format onto w.
func newExportEncoder(format string, w io.Writer) (exportEncoder, error) {
	switch format {
	case ExportNDJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return ndjsonEncoder{enc}, nil
	case ExportCSV:
		return csvEncoder{csv.NewWriter(w)}, nil
	}
	return nil, fmt.Errorf("audit export: unknown format %q: want %s or %s", format, ExportNDJSON, ExportCSV)
}

// ndjsonEncoder writes an event a line: its audit item, as the JSON
// pages show it, with its leaf when it has one.
type ndjsonEncoder struct{ enc *json.Encoder }

// ndjsonLine is an NDJSON line.
type ndjsonLine struct {
	projections.AuditItem
	Leaf *audit.Leaf `json:"leaf,omitempty"`
}

func (ndjsonEncoder) begin() error { return nil }
func (ndjsonEncoder) flush() error { return nil }

func (n ndjsonEncoder) write(r exportRow) error {
	if err := n.enc.Encode(ndjsonLine{AuditItem: r.Item, Leaf: r.leaf}); err != nil {
		return fmt.Errorf("encode event at %d: %w", r.Item.Position, err)
	}
	return nil
}

// AuditCSVHeader is the header row of the audit log as CSV.
var AuditCSVHeader = []string{"position", "event_id", "stream", "version", "type", "occurred_at", "recorded_at",
	"actor_type", "actor_id", "actor_partner_id", "correlation_id", "causation_id", "request_id", "idempotency_key", "data"}

// csvEncoder writes an event a row, under AuditCSVHeader.
type csvEncoder struct{ w *csv.Writer }

func (c csvEncoder) begin() error { return c.w.Write(AuditCSVHeader) }

func (c csvEncoder) flush() error {
	c.w.Flush()
	return c.w.Error()
}

func (c csvEncoder) write(r exportRow) error {
	return c.w.Write(auditCSVRow(r.Item))
}

// auditCSVRow is it as a row of AuditCSVHeader; text a spreadsheet would
// read as a formula is defused (csvText).
func auditCSVRow(it projections.AuditItem) []string {
	return []string{
		strconv.FormatInt(int64(it.Position), 10), it.EventID.String(), csvText(it.Stream),
		strconv.FormatUint(it.Version, 10), csvText(it.Type), csvInstant(it.OccurredAt), csvInstant(it.RecordedAt),
		csvText(it.Actor.Type), csvID(it.Actor.ID), csvID(it.Actor.PartnerID), csvOptional(it.CorrelationID),
		csvOptional(it.CausationID), csvOptional(it.RequestID), csvOptional(it.IdempotencyKey), csvText(string(it.Data)),
	}
}

// csvText defuses spreadsheet formula injection: a cell starting with
// =, +, -, @, a tab or a carriage return gets a leading apostrophe, so
// that a spreadsheet shows it as text rather than evaluating it.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvOptional(s *string) string {
	if s == nil {
		return ""
	}
	return csvText(*s)
}

func csvID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

func csvInstant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
