package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"ledger/audit"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// Export formats of the audit log.
const (
	// ExportNDJSON is one JSON audit item a line.
	ExportNDJSON = "ndjson"
	// ExportCSV is one CSV row an event, under a header row.
	ExportCSV = "csv"
)

// Media types of the audit export.
const (
	mimeNDJSON    = "application/x-ndjson"
	mimeExportCSV = "text/csv"
)

const (
	// exportPage is how many events each read of an export takes.
	exportPage = 1000
	// exportPageTimeout bounds the reads of one page once the stream is
	// under way, when the request's own timeout no longer applies.
	exportPageTimeout = 30 * time.Second
	// exportWriteWindow is how long the client has to take each page:
	// the connection's write deadline moves on by it at every page.
	exportWriteWindow = time.Minute
	// exportBuffer is the size of the buffer between the encoder and the
	// connection.
	exportBuffer = 64 << 10
)

// AuditExportOptions say what an export of a tenant's audit log reads
// and how it writes it.
type AuditExportOptions struct {
	Tenant uuid.UUID
	Viewer projections.AuditViewer
	Filter projections.AuditFilter
	// Format is ExportNDJSON or ExportCSV.
	Format string
	// Leaves adds to each NDJSON line of an event that Viewer sees in full
	// a leaf field: the event as its leaf in the tenant's Merkle tree
	// commits to it (audit.Leaf), read from the event log, so that the
	// export can be checked against a signed checkpoint offline.
	Leaves bool
	// Progress, when set, is called after each page with the events
	// written so far and the export's total.
	Progress func(done, total int64)
}

// ExportAudit writes to w every event of the tenant's audit log that
// opts select, as opts.Viewer may see them, ascending by position, in
// constant memory, and returns how many it wrote. It is what
// `ledger audit export` runs; GET …/audit/events streams the same.
func ExportAudit(ctx context.Context, pool *pgxpool.Pool, w io.Writer, opts AuditExportOptions) (int64, error) {
	enc, err := newExportEncoder(opts.Format, w)
	if err != nil {
		return 0, err
	}
	x, err := startAuditExporter(ctx, pool, opts)
	if err != nil {
		return 0, err
	}
	first, err := x.next(ctx)
	if err != nil {
		return 0, err
	}
	return copyPages(ctx, first, x.next, enc, x.progress)
}

// auditExporter reads an export page by page, with the leaves of the
// events it is to show them with.
type auditExporter struct {
	pool  *pgxpool.Pool
	opts  AuditExportOptions
	x     projections.AuditExport
	after eventstore.Position
	total int64
}

// exportRow is one event of an export, with its leaf when it is shown.
type exportRow struct {
	projections.AuditExportRow
	leaf *audit.Leaf
}

// startAuditExporter fixes the export's end (and counts it, for a
// progress bar) in one snapshot of the read models.
func startAuditExporter(ctx context.Context, pool *pgxpool.Pool, opts AuditExportOptions) (*auditExporter, error) {
	type started struct {
		x     projections.AuditExport
		total int64
	}
	s, err := projections.Snapshot(ctx, pool, func(db projections.Querier) (started, error) {
		x, err := projections.StartAuditExport(ctx, db, opts.Tenant, opts.Viewer, opts.Filter)
		if err != nil || opts.Progress == nil {
			return started{x: x}, err
		}
		total, err := x.Count(ctx, db)
		return started{x: x, total: total}, err
	})
	if err != nil {
		return nil, err
	}
	return &auditExporter{pool: pool, opts: opts, x: s.x, total: s.total}, nil
}

// next reads the next page, empty at the end.
func (e *auditExporter) next(ctx context.Context) ([]exportRow, error) {
	ctx, cancel := context.WithTimeout(ctx, exportPageTimeout)
	defer cancel()
	page, err := e.x.Next(ctx, e.pool, e.after, exportPage)
	if err != nil || len(page) == 0 {
		return nil, err
	}
	e.after = page[len(page)-1].Item.Position
	rows := make([]exportRow, len(page))
	var wanted []eventstore.Position
	for i, r := range page {
		rows[i].AuditExportRow = r
		if e.opts.Leaves && e.opts.Format == ExportNDJSON && r.InFull {
			wanted = append(wanted, r.Item.Position)
		}
	}
	if len(wanted) == 0 {
		return rows, nil
	}
	recorded, err := projections.RecordedEvents(ctx, e.pool, wanted)
	if err != nil {
		return nil, err
	}
	for i, j := 0, 0; i < len(rows) && j < len(recorded); i++ {
		if rows[i].Item.Position == recorded[j].Position {
			rows[i].leaf = leafOf(recorded[j])
			j++
		}
	}
	return rows, nil
}

// leafOf is the leaf of a recorded event.
func leafOf(r projections.RecordedEvent) *audit.Leaf {
	return &audit.Leaf{ID: r.ID, Stream: r.Stream, Version: r.Version, Type: r.Type, SchemaVersion: r.SchemaVersion,
		Data: r.Data, Metadata: r.Metadata, RecordedAt: r.RecordedAt}
}

// pageSource reads the next page of an export, empty at the end.
type pageSource func(ctx context.Context) ([]exportRow, error)

// copyPages encodes rows, then every following page of next, calling
// flushed after each page with the events written so far, until the
// export ends or fails; it returns how many events it wrote.
func copyPages(ctx context.Context, rows []exportRow, next pageSource, enc exportEncoder, flushed func(done int64) error) (int64, error) {
	var done int64
	if err := enc.begin(); err != nil {
		return 0, err
	}
	for {
		for _, r := range rows {
			if err := enc.write(r); err != nil {
				return done, err
			}
		}
		if err := enc.flush(); err != nil {
			return done, err
		}
		done += int64(len(rows))
		if err := flushed(done); err != nil {
			return done, err
		}
		if len(rows) == 0 {
			return done, nil
		}
		var err error
		if rows, err = next(ctx); err != nil {
			return done, err
		}
	}
}

// progress reports done to the export's Progress, if any.
func (e *auditExporter) progress(done int64) error {
	if e.opts.Progress != nil {
		e.opts.Progress(done, max(e.total, done))
	}
	return nil
}

// exportAuditEvents streams the audit log in format (GET …/audit/events
// with Accept: application/x-ndjson or text/csv): every matching event,
// not paged (limit and cursor are ignored). The first page is read
// before anything is sent, so that a refusal is still a problem; a
// failure later aborts the connection (exportCut).
func (s *server) exportAuditEvents(c echo.Context, format string) error {
	filter, err := auditFilter(c)
	if err != nil {
		return err
	}
	req, _, err := s.tenantRead(c, domain.PermAuditRead, "audit/events")
	if err != nil {
		return err
	}
	p := req.Principal
	opts := AuditExportOptions{
		Tenant: req.TenantID, Filter: filter, Format: format,
		Viewer: projections.AuditViewer{OwnPartnerOnly: domain.AuditScopeOwnPartnerOnly(p), PartnerID: p.PartnerID},
		Leaves: p.Type == domain.ActorTenantUser || p.Type == domain.ActorOperator || p.Type == domain.ActorSystem,
	}
	ctx := c.Request().Context()
	x, err := startAuditExporter(ctx, s.pool, opts)
	if err != nil {
		return err
	}
	first, err := x.next(ctx)
	if err != nil {
		return err
	}
	return s.streamExport(c, format, req.TenantID, first, x.next)
}

// streamExport sends 200 and the export in format: first, then the pages
// of next. A failure after the status is sent aborts the connection
// (exportCut).
func (s *server) streamExport(c echo.Context, format string, tenant uuid.UUID, first []exportRow, next pageSource) error {
	res := c.Response()
	out := bufio.NewWriterSize(res, exportBuffer)
	enc, err := newExportEncoder(format, out)
	if err != nil {
		return err
	}
	res.Header().Set(echo.HeaderContentType, exportMediaType(format)+"; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="audit-%s.%s"`, tenant, format))
	res.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(res)
	flushed := func(int64) error {
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow)) // a writer without deadlines has none to move
		if err := out.Flush(); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	// The stream outlives the request's timeout: each page has its own
	// (auditExporter.next), and the write deadline moves on by page.
	if done, err := copyPages(context.WithoutCancel(c.Request().Context()), first, next, enc, flushed); err != nil {
		s.exportCut(c, done, err)
	}
	return nil
}

// exportCut ends an export that failed after its status was sent: it
// logs why, then aborts the connection, so that the client sees a
// truncated transfer (an incomplete chunked body), never an export that
// looks complete. No problem can follow a 200 already sent.
func (s *server) exportCut(c echo.Context, written int64, err error) {
	s.logger.WarnContext(c.Request().Context(), "audit export cut short", "request_id", requestID(c),
		"route", c.Path(), "events_written", written, "error", err)
	panic(http.ErrAbortHandler)
}

// exportMediaType is the media type of an export format.
func exportMediaType(format string) string {
	if format == ExportCSV {
		return mimeExportCSV
	}
	return mimeNDJSON
}

// exportFormat is the export format that the request's Accept asks for,
// or "" for the JSON pages: of application/json, application/x-ndjson and
// text/csv, the one with the highest quality, the first named on a tie;
// */* and no Accept are JSON.
func exportFormat(c echo.Context) string {
	formats := map[string]string{mimeNDJSON: ExportNDJSON, mimeExportCSV: ExportCSV, echo.MIMEApplicationJSON: ""}
	best, bestQ := "", 0.0
	for _, r := range strings.Split(c.Request().Header.Get(echo.HeaderAccept), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
		format, known := formats[mt]
		if err != nil || !known {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		if q > bestQ {
			best, bestQ = format, q
		}
	}
	return best
}
