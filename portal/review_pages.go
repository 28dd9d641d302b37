package portal

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"ledger/auditexport"
	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// reviewData is the access review page's.
type reviewData struct {
	Tenant uuid.UUID
	Review projections.AccessReview
}

// accessReview shows who can do what on the tenant and when they last
// acted, as GET /v1/tenants/{t}/reports/access-review answers the caller:
// per partner its grant, its users with their last action, and its
// refused attempts of the last 30 days; a partner user sees its own
// partner only.
func (p *Portal) accessReview(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	review, grant, err := p.readAccessReview(r.Context(), req)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	p.render(w, r, http.StatusOK, "access-review",
		p.tenantView(c, req.TenantID, grant, "Access review", reviewData{Tenant: req.TenantID, Review: review}))
}

// accessReviewCSV downloads the access review as the API's CSV: a row per
// partner and user (auditexport.WriteAccessReviewCSV).
func (p *Portal) accessReviewCSV(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	review, _, err := p.readAccessReview(r.Context(), req)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", auditexport.MediaCSV+"; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="access-review-%s.csv"`, req.TenantID))
	w.WriteHeader(http.StatusOK)
	if err := auditexport.WriteAccessReviewCSV(w, review); err != nil {
		p.logger.WarnContext(r.Context(), "portal access review cut short", "request_id", requestID(w), "error", err)
	}
}

// readAccessReview authorizes and reads the access review as the API
// does (auditexport.ReadAccessReview).
func (p *Portal) readAccessReview(ctx context.Context, req commands.Request) (projections.AccessReview, *domain.PartnerAccess, error) {
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermAuditRead, "reports/access-review")
	if err != nil {
		return projections.AccessReview{}, nil, err
	}
	review, err := auditexport.ReadAccessReview(ctx, p.pool, p.cmds, req.TenantID, req.Principal, p.now())
	return review, grant, err
}
