package http

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/auditexport"
	"ledger/domain"
	"ledger/projections"
)

// Media types of the audit export.
const (
	mimeNDJSON    = auditexport.MediaNDJSON
	mimeExportCSV = auditexport.MediaCSV
)

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
	opts := auditexport.Options{
		Tenant: req.TenantID, Filter: filter, Format: format,
		Viewer: projections.AuditViewer{OwnPartnerOnly: domain.AuditScopeOwnPartnerOnly(p), PartnerID: p.PartnerID},
		Leaves: p.Type == domain.ActorTenantUser || p.Type == domain.ActorOperator || p.Type == domain.ActorSystem,
	}
	ctx := c.Request().Context()
	x, err := auditexport.Start(ctx, s.pool, opts)
	if err != nil {
		return err
	}
	first, err := x.Next(ctx)
	if err != nil {
		return err
	}
	return s.streamExport(c, format, req.TenantID, first, x.Next)
}

// streamExport sends 200 and the export in format: first, then the pages
// of next (auditexport.Stream). A failure after the status is sent
// aborts the connection (exportCut).
func (s *server) streamExport(c echo.Context, format string, tenant uuid.UUID, first []auditexport.Row, next auditexport.PageSource) error {
	done, err := auditexport.Stream(c.Request().Context(), c.Response(), format, tenant, first, next)
	if errors.Is(err, auditexport.ErrFormat) {
		return err // nothing was sent yet
	}
	if err != nil {
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

// exportFormat is the export format that the request's Accept asks for,
// or "" for the JSON pages: of application/json, application/x-ndjson and
// text/csv, the one with the highest quality, the first named on a tie;
// */* and no Accept are JSON.
func exportFormat(c echo.Context) string {
	formats := map[string]string{mimeNDJSON: auditexport.NDJSON, mimeExportCSV: auditexport.CSV, echo.MIMEApplicationJSON: ""}
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
