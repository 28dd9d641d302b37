package portal

import (
	"net/http"

	"github.com/google/uuid"

	"ledger/auditexport"
	"ledger/domain"
)

// auditExport streams the tenant's audit log, filtered as the page is,
// in format: every matching event, not paged, as the API's export
// (auditexport). The first page is read before anything is sent, so that
// a refusal is still an error page; a failure later aborts the
// connection.
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
		x, err := auditexport.Start(ctx, p.pool, auditexport.Options{Tenant: req.TenantID, Viewer: viewer, Filter: filter,
			Format: format, Leaves: c.principal.Type == domain.ActorTenantUser})
		if err != nil {
			p.refuse(w, r, c, err)
			return
		}
		first, err := x.Next(ctx)
		if err != nil {
			p.refuse(w, r, c, err)
			return
		}
		written, err := auditexport.Stream(ctx, w, format, req.TenantID, first, x.Next)
		if err != nil {
			p.exportCut(w, r, written, err)
		}
	}
}

// exportCut ends an export that failed after its status was sent: it
// logs why and aborts the connection, so that the browser sees a
// truncated download, never one that looks complete.
func (p *Portal) exportCut(w http.ResponseWriter, r *http.Request, written int64, err error) {
	p.logger.WarnContext(r.Context(), "portal audit export cut short", "request_id", requestID(w),
		"events_written", written, "error", err)
	panic(http.ErrAbortHandler)
}
