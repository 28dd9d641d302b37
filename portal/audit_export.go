package portal

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ledger/audit"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// The audit export, as GET …/audit/events streams it with Accept:
// text/csv or application/x-ndjson: the same rows, columns and lines.
// The API's encoder is unexported in package http, which imports the
// portal, so it is written again here over the same projections queries.

// Export formats of the audit log.
const (
	exportCSV    = "csv"
	exportNDJSON = "ndjson"
)

const (
	// auditExportPage is how many events each read of an export takes.
	auditExportPage = 1000
	// auditExportPageTimeout bounds the reads of one page.
	auditExportPageTimeout = 30 * time.Second
	// auditExportWriteWindow is how long the client has to take each page.
	auditExportWriteWindow = time.Minute
)

// auditCSVHeader is the header row of the audit log as CSV, the API's
// (http.AuditCSVHeader).
var auditCSVHeader = []string{"position", "event_id", "stream", "version", "type", "occurred_at", "recorded_at",
	"actor_type", "actor_id", "actor_partner_id", "correlation_id", "causation_id", "request_id", "idempotency_key", "data"}

// auditExporter reads an export page by page in constant memory, with the
// leaves of the NDJSON lines of events the viewer sees in full.
type auditExporter struct {
	pool   projections.Querier
	x      projections.AuditExport
	after  eventstore.Position
	leaves bool
}

// auditExportLine is an NDJSON line: the audit item, with its leaf.
type auditExportLine struct {
	projections.AuditItem
	Leaf *audit.Leaf `json:"leaf,omitempty"`
}

// auditExport streams the tenant's audit log, filtered as the page is,
// in format: every matching event, not paged, as the API's export. The
// first page is read before anything is sent, so that a refusal is still
// an error page; a failure later aborts the connection.
func (p *Portal) auditExport(format string) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		ctx := r.Context()
		req, ok := p.tenantRequest(w, r, c)
		if !ok {
			return
		}
		if _, err := p.cmds.AuthorizeRead(ctx, req, domain.PermAuditRead, "audit/events"); err != nil {
			p.refuse(w, r, c, err)
			return
		}
		viewer := auditViewerOf(c.principal)
		filter, err := auditFilterOf(auditQuery(r.URL.Query(), fixedPartner(viewer, uuid.Nil)))
		if err != nil {
			p.failAs(w, r, err, &c.principal) // a link edited by hand: the 400 page
			return
		}
		x, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AuditExport, error) {
			return projections.StartAuditExport(ctx, db, req.TenantID, viewer, filter)
		})
		if err != nil {
			p.refuse(w, r, c, err)
			return
		}
		e := &auditExporter{pool: p.pool, x: x, leaves: format == exportNDJSON && c.principal.Type == domain.ActorTenantUser}
		first, err := e.next(ctx)
		if err != nil {
			p.refuse(w, r, c, err)
			return
		}
		p.streamAudit(w, r, format, req.TenantID, first, e)
	}
}

// streamAudit sends 200 and the export: first, then every following page
// of e, flushed page by page.
func (p *Portal) streamAudit(w http.ResponseWriter, r *http.Request, format string, tenant uuid.UUID,
	first []auditExportLine, e *auditExporter) {
	mediaType := "text/csv"
	if format == exportNDJSON {
		mediaType = "application/x-ndjson"
	}
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s.%s"`, tenant, format))
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 64<<10)
	enc := newAuditEncoder(format, out)
	rc := http.NewResponseController(w)
	ctx := context.WithoutCancel(r.Context()) // each page has its own timeout (next)
	written := 0
	for rows := first; ; {
		for _, row := range rows {
			if err := enc.write(row); err != nil {
				p.exportCut(w, r, written, err)
			}
		}
		written += len(rows)
		_ = rc.SetWriteDeadline(time.Now().Add(auditExportWriteWindow)) // a writer without deadlines has none to move
		if err := flushAll(enc, out, rc); err != nil {
			p.exportCut(w, r, written, err)
		}
		if len(rows) == 0 {
			return
		}
		var err error
		if rows, err = e.next(ctx); err != nil {
			p.exportCut(w, r, written, err)
		}
	}
}

// flushAll hands what enc and out hold to the connection.
func flushAll(enc *auditEncoder, out *bufio.Writer, rc *http.ResponseController) error {
	if err := enc.flush(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// exportCut ends an export that failed after its status was sent: it
// logs why and aborts the connection, so that the browser sees a
// truncated download, never one that looks complete.
func (p *Portal) exportCut(w http.ResponseWriter, r *http.Request, written int, err error) {
	p.logger.WarnContext(r.Context(), "portal audit export cut short", "request_id", requestID(w),
		"events_written", written, "error", err)
	panic(http.ErrAbortHandler)
}

// auditEncoder writes the events of an export in one format: NDJSON, a
// line an event, or CSV, a row an event under auditCSVHeader.
type auditEncoder struct {
	json   *json.Encoder
	csv    *csv.Writer
	header bool
}

// newAuditEncoder is the encoder of format onto w.
func newAuditEncoder(format string, w io.Writer) *auditEncoder {
	if format == exportNDJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return &auditEncoder{json: enc}
	}
	return &auditEncoder{csv: csv.NewWriter(w)}
}

// write writes one event (after the CSV header).
func (e *auditEncoder) write(l auditExportLine) error {
	if e.json != nil {
		if err := e.json.Encode(l); err != nil {
			return fmt.Errorf("encode event at %d: %w", l.Position, err)
		}
		return nil
	}
	if err := e.writeHeader(); err != nil {
		return err
	}
	return e.csv.Write(auditCSVRow(l.AuditItem))
}

// writeHeader writes the CSV header once.
func (e *auditEncoder) writeHeader() error {
	if e.header {
		return nil
	}
	e.header = true
	return e.csv.Write(auditCSVHeader)
}

// flush hands what was written to the underlying writer; a CSV export
// has its header even when no event matches.
func (e *auditEncoder) flush() error {
	if e.csv == nil {
		return nil
	}
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.csv.Flush()
	return e.csv.Error()
}

// next reads the next page of the export, empty at the end.
func (e *auditExporter) next(ctx context.Context) ([]auditExportLine, error) {
	ctx, cancel := context.WithTimeout(ctx, auditExportPageTimeout)
	defer cancel()
	page, err := e.x.Next(ctx, e.pool, e.after, auditExportPage)
	if err != nil || len(page) == 0 {
		return nil, err
	}
	e.after = page[len(page)-1].Item.Position
	lines := make([]auditExportLine, len(page))
	var wanted []eventstore.Position
	for i, r := range page {
		lines[i].AuditItem = r.Item
		if e.leaves && r.InFull {
			wanted = append(wanted, r.Item.Position)
		}
	}
	if len(wanted) == 0 {
		return lines, nil
	}
	recorded, err := projections.RecordedEvents(ctx, e.pool, wanted)
	if err != nil {
		return nil, err
	}
	for i, j := 0, 0; i < len(lines) && j < len(recorded); i++ {
		if lines[i].Position == recorded[j].Position {
			r := recorded[j]
			lines[i].Leaf = &audit.Leaf{ID: r.ID, Stream: r.Stream, Version: r.Version, Type: r.Type,
				SchemaVersion: r.SchemaVersion, Data: r.Data, Metadata: r.Metadata, RecordedAt: r.RecordedAt}
			j++
		}
	}
	return lines, nil
}

// auditCSVRow is it as a row of auditCSVHeader, as the API writes it;
// text a spreadsheet would read as a formula is defused.
func auditCSVRow(it projections.AuditItem) []string {
	return []string{
		strconv.FormatInt(int64(it.Position), 10), it.EventID.String(), auditCSVText(it.Stream),
		strconv.FormatUint(it.Version, 10), auditCSVText(it.Type), auditCSVInstant(it.OccurredAt), auditCSVInstant(it.RecordedAt),
		auditCSVText(it.Actor.Type), auditCSVID(it.Actor.ID), auditCSVID(it.Actor.PartnerID), auditCSVOptional(it.CorrelationID),
		auditCSVOptional(it.CausationID), auditCSVOptional(it.RequestID), auditCSVOptional(it.IdempotencyKey), auditCSVText(string(it.Data)),
	}
}

// auditCSVText defuses spreadsheet formula injection: a cell starting with
// =, +, -, @, a tab or a carriage return gets a leading apostrophe.
func auditCSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditCSVOptional is an optional text cell.
func auditCSVOptional(s *string) string {
	if s == nil {
		return ""
	}
	return auditCSVText(*s)
}

// auditCSVID is an optional id cell.
func auditCSVID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// auditCSVInstant is an instant cell, as the API writes it.
func auditCSVInstant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
