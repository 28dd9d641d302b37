// Package auditexport writes a tenant's audit log as CSV or NDJSON,
// streamed page by page in constant memory, and its access review as
// CSV: the one implementation that the API (GET …/audit/events,
// GET …/reports/access-review), the portal's downloads and
// `ledger audit export` share, so that each writes the same bytes.
package auditexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/audit"
	"ledger/eventstore"
	"ledger/projections"
)

// Export formats of the audit log.
const (
	// NDJSON is one JSON audit item a line.
	NDJSON = "ndjson"
	// CSV is one CSV row an event, under CSVHeader.
	CSV = "csv"
)

const (
	// PageSize is how many events each read of an export takes.
	PageSize = 1000
	// PageTimeout bounds the reads of one page once the stream is under
	// way, when the request's own timeout no longer applies.
	PageTimeout = 30 * time.Second
)

// ErrFormat is the error of a format that is neither NDJSON nor CSV.
var ErrFormat = errors.New("unknown export format")

// Options say what an export of a tenant's audit log reads and how it
// writes it.
type Options struct {
	// Tenant is the tenant whose audit log is exported.
	Tenant uuid.UUID
	// Viewer is who the events are shown to.
	Viewer projections.AuditViewer
	// Filter selects the events.
	Filter projections.AuditFilter
	// Format is NDJSON or CSV.
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

// Row is one event of an export, with its leaf when it is shown.
type Row struct {
	projections.AuditExportRow
	// Leaf is the event's leaf, or nil.
	Leaf *audit.Leaf
}

// PageSource reads the next page of an export, empty at the end.
type PageSource func(ctx context.Context) ([]Row, error)

// Export writes to w every event of the tenant's audit log that opts
// select, as opts.Viewer may see them, ascending by position, in
// constant memory, and returns how many it wrote. It is what
// `ledger audit export` runs; GET …/audit/events streams the same.
func Export(ctx context.Context, pool *pgxpool.Pool, w io.Writer, opts Options) (int64, error) {
	enc, err := NewEncoder(opts.Format, w)
	if err != nil {
		return 0, err
	}
	x, err := Start(ctx, pool, opts)
	if err != nil {
		return 0, err
	}
	first, err := x.Next(ctx)
	if err != nil {
		return 0, err
	}
	return Copy(ctx, first, x.Next, enc, x.progress)
}

// Exporter reads an export page by page, with the leaves of the events
// it is to show them with.
type Exporter struct {
	pool  *pgxpool.Pool
	opts  Options
	x     projections.AuditExport
	after eventstore.Position
	total int64
}

// Start fixes the export's end (and counts it, when opts.Progress is
// set) in one snapshot of the read models. Reading no page yet, it lets
// a handler read the first one (Next) before it sends a status.
func Start(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Exporter, error) {
	if opts.Format != NDJSON && opts.Format != CSV {
		return nil, formatError(opts.Format)
	}
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
		return nil, fmt.Errorf("start audit export: %w", err)
	}
	return &Exporter{pool: pool, opts: opts, x: s.x, total: s.total}, nil
}

// Next reads the next page, empty at the end, within PageTimeout.
func (e *Exporter) Next(ctx context.Context) ([]Row, error) {
	ctx, cancel := context.WithTimeout(ctx, PageTimeout)
	defer cancel()
	page, err := e.x.Next(ctx, e.pool, e.after, PageSize)
	if err != nil || len(page) == 0 {
		return nil, wrapPage(err)
	}
	e.after = page[len(page)-1].Item.Position
	rows := make([]Row, len(page))
	var wanted []eventstore.Position
	for i, r := range page {
		rows[i].AuditExportRow = r
		if e.opts.Leaves && e.opts.Format == NDJSON && r.InFull {
			wanted = append(wanted, r.Item.Position)
		}
	}
	if len(wanted) == 0 {
		return rows, nil
	}
	recorded, err := projections.RecordedEvents(ctx, e.pool, wanted)
	if err != nil {
		return nil, wrapPage(err)
	}
	for i, j := 0, 0; i < len(rows) && j < len(recorded); i++ {
		if rows[i].Item.Position == recorded[j].Position {
			rows[i].Leaf = leafOf(recorded[j])
			j++
		}
	}
	return rows, nil
}

// wrapPage says which read failed, if one did.
func wrapPage(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("read audit export page: %w", err)
}

// leafOf is the leaf of a recorded event.
func leafOf(r projections.RecordedEvent) *audit.Leaf {
	return &audit.Leaf{ID: r.ID, Stream: r.Stream, Version: r.Version, Type: r.Type, SchemaVersion: r.SchemaVersion,
		Data: r.Data, Metadata: r.Metadata, RecordedAt: r.RecordedAt}
}

// progress reports done to the export's Progress, if any.
func (e *Exporter) progress(done int64) error {
	if e.opts.Progress != nil {
		e.opts.Progress(done, max(e.total, done))
	}
	return nil
}

// Copy encodes rows, then every following page of next, calling flushed
// after each page with the events written so far, until the export ends
// or fails; it returns how many events it wrote.
func Copy(ctx context.Context, rows []Row, next PageSource, enc Encoder, flushed func(done int64) error) (int64, error) {
	var done int64
	if err := enc.Begin(); err != nil {
		return 0, err
	}
	for {
		for _, r := range rows {
			if err := enc.Write(r); err != nil {
				return done, err
			}
		}
		if err := enc.Flush(); err != nil {
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
