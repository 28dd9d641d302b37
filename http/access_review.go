package http

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"ledger/auditexport"
	"ledger/domain"
)

// accessReview answers who can do what on the tenant and when they last
// acted (GET …/reports/access-review, audit.read): per partner, its
// grant, its users with their last action, and its refused attempts of
// the last 30 days; with Accept: text/csv, a row per partner and user. A
// partner's user sees only its own partner (auditexport.ReadAccessReview).
func (s *server) accessReview(c echo.Context) error {
	csvWanted := exportFormat(c) == auditexport.CSV
	req, _, err := s.tenantRead(c, domain.PermAuditRead, "reports/access-review")
	if err != nil {
		return err
	}
	review, err := auditexport.ReadAccessReview(c.Request().Context(), s.pool, s.commands, req.TenantID, req.Principal, s.now())
	if err != nil {
		return err
	}
	if !csvWanted {
		return c.JSON(http.StatusOK, review)
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, mimeExportCSV+"; charset=utf-8")
	res.WriteHeader(http.StatusOK)
	return auditexport.WriteAccessReviewCSV(res, review)
}
