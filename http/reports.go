package http

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

func (s *server) recordUsage(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	var body commands.RecordUsage
	if err := bindWith(c, &body, domain.RequestOptions{DecimalStrings: true}); err != nil {
		return err
	}
	out, err := s.commands.RecordUsage(c.Request().Context(), req, body)
	if err != nil {
		return invalidRecords(err)
	}
	return written(c, http.StatusOK, 0, out.Position, usageRecordedView{Accepted: out.Accepted, Duplicates: out.Duplicates})
}

// usageRecordedView is the answer to a usage post.
type usageRecordedView struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

func (s *server) usageSummary(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	sub, err := queryID(c, "subscription_id")
	if err != nil {
		return err
	}
	if sub == nil {
		return domain.Invalid("subscription_id", "is required")
	}
	from, err := queryDate(c, "from")
	if err != nil {
		return err
	}
	to, err := queryDate(c, "to")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	grant, err := s.commands.AuthorizeSubscriptionRead(ctx, req, *sub, domain.PermUsageRead)
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	lines, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) ([]projections.UsageLine, error) {
		return projections.UsageSummary(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), *sub, from, to)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Items []projections.UsageLine `json:"items"`
	}{lines})
}

func (s *server) mrrReport(c echo.Context) error {
	groupBy := c.QueryParam("group_by")
	switch groupBy {
	case "":
		groupBy = projections.MRRGroupNone
	case projections.MRRGroupNone, projections.MRRGroupPartner, projections.MRRGroupProduct, projections.MRRGroupAccount:
	default:
		return domain.Invalid("group_by", "must be none, partner, product or account")
	}
	req, grant, err := s.tenantRead(c, domain.PermRevenueRead, "reports/mrr")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.MRRView, error) {
		return projections.MRRReport(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), groupBy, s.today())
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

func (s *server) auditEvents(c echo.Context) error {
	if format := exportFormat(c); format != "" {
		return s.exportAuditEvents(c, format)
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	filter, err := auditFilter(c)
	if err != nil {
		return err
	}
	req, _, err := s.tenantRead(c, domain.PermAuditRead, "audit/events")
	if err != nil {
		return err
	}
	viewer := projections.AuditViewer{OwnPartnerOnly: domain.AuditScopeOwnPartnerOnly(req.Principal), PartnerID: req.Principal.PartnerID}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.AuditItem], error) {
		return projections.AuditEvents(ctx, db, req.TenantID, viewer, filter, p)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func auditFilter(c echo.Context) (projections.AuditFilter, error) {
	f := projections.AuditFilter{Type: c.QueryParam("type")}
	var err error
	for name, dst := range map[string]**uuid.UUID{
		"partner_id": &f.PartnerID, "actor_id": &f.ActorID, "account_id": &f.AccountID, "subscription_id": &f.SubscriptionID,
	} {
		if *dst, err = queryID(c, name); err != nil {
			return f, err
		}
	}
	if f.From, err = queryInstant(c, "from"); err != nil {
		return f, err
	}
	f.To, err = queryInstant(c, "to")
	return f, err
}

// queryDate reads an optional YYYY-MM-DD query parameter.
func queryDate(c echo.Context, name string) (*domain.Date, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	d, err := domain.ParseDate(name, s)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// queryInstant reads an optional RFC 3339 query parameter.
func queryInstant(c echo.Context, name string) (*time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, domain.Invalid(name, "must be an RFC 3339 instant, such as 2026-01-31T12:00:00Z")
	}
	return &t, nil
}

// mrrMovementsReport answers the MRR movements of the months from ?from=
// to ?to= (YYYY-MM), over the subscriptions in the caller's scope.
func (s *server) mrrMovementsReport(c echo.Context) error {
	groupBy := c.QueryParam("group_by")
	switch groupBy {
	case "", projections.MRRGroupNone, projections.MRRGroupPartner:
	default:
		return domain.Invalid("group_by", "must be none or partner")
	}
	from, to := c.QueryParam("from"), c.QueryParam("to")
	for _, name := range []string{"from", "to"} {
		if c.QueryParam(name) == "" {
			return domain.Invalid(name, "is required: a month as YYYY-MM")
		}
	}
	req, grant, err := s.tenantRead(c, domain.PermRevenueRead, "reports/mrr-movements")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.MRRMovementsView, error) {
		return projections.MRRMovements(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), groupBy, from, to)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// revenueReport answers the revenue invoiced to the accounts in the
// caller's scope, by issue date from ?from= to ?to= (both inclusive).
func (s *server) revenueReport(c echo.Context) error {
	groupBy := c.QueryParam("group_by")
	switch groupBy {
	case "", projections.MRRGroupNone, projections.MRRGroupPartner, projections.MRRGroupProduct, projections.MRRGroupAccount:
	default:
		return domain.Invalid("group_by", "must be none, partner, product or account")
	}
	from, to, err := dateRange(c)
	if err != nil {
		return err
	}
	req, grant, err := s.tenantRead(c, domain.PermRevenueRead, "reports/revenue")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.RevenueView, error) {
		return projections.RevenueReport(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), groupBy, from, to)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}
