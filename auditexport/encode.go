package auditexport

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

// Encoder writes the events of an export in one format.
type Encoder interface {
	// Begin writes what comes before the first event.
	Begin() error
	// Write writes one event.
	Write(r Row) error
	// Flush hands what was written to the underlying writer.
	Flush() error
}

// NewEncoder returns the encoder of format (NDJSON or CSV) onto w; an
// unknown format is an error that wraps ErrFormat.
func NewEncoder(format string, w io.Writer) (Encoder, error) {
	switch format {
	case NDJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return ndjsonEncoder{enc}, nil
	case CSV:
		return csvEncoder{csv.NewWriter(w)}, nil
	}
	return nil, formatError(format)
}

// formatError is the error of an unknown format.
func formatError(format string) error {
	return fmt.Errorf("export audit: %w %q: want %s or %s", ErrFormat, format, NDJSON, CSV)
}

// Line is an NDJSON line: the event's audit item, as the JSON pages show
// it, with its leaf when it has one.
type Line struct {
	projections.AuditItem
	// Leaf is the event's leaf, omitted when it has none.
	Leaf *audit.Leaf `json:"leaf,omitempty"`
}

// ndjsonEncoder writes an event a Line.
type ndjsonEncoder struct{ enc *json.Encoder }

func (ndjsonEncoder) Begin() error { return nil }
func (ndjsonEncoder) Flush() error { return nil }

func (n ndjsonEncoder) Write(r Row) error {
	if err := n.enc.Encode(Line{AuditItem: r.Item, Leaf: r.Leaf}); err != nil {
		return fmt.Errorf("encode event at %d: %w", r.Item.Position, err)
	}
	return nil
}

// CSVHeader is the header row of the audit log as CSV.
var CSVHeader = []string{"position", "event_id", "stream", "version", "type", "occurred_at", "recorded_at",
	"actor_type", "actor_id", "actor_partner_id", "correlation_id", "causation_id", "request_id", "idempotency_key", "data"}

// csvEncoder writes an event a row, under CSVHeader.
type csvEncoder struct{ w *csv.Writer }

func (c csvEncoder) Begin() error { return c.w.Write(CSVHeader) }

func (c csvEncoder) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

func (c csvEncoder) Write(r Row) error {
	return c.w.Write(CSVRow(r.Item))
}

// CSVRow is it as a row of CSVHeader; text a spreadsheet would read as a
// formula is defused (csvText).
func CSVRow(it projections.AuditItem) []string {
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

// csvInstant is an instant as a CSV cell: UTC, RFC 3339 with nanoseconds.
func csvInstant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// csvOptional is an optional text cell.
func csvOptional(s *string) string {
	if s == nil {
		return ""
	}
	return csvText(*s)
}

// csvID is an optional id cell.
func csvID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}
