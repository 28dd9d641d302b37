package http

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// Partner access requests: a partner asks a tenant for access, the tenant
// approves it (narrowing only) or rejects it, and an undecided request
// expires. A request naming a tenant that does not exist is answered as
// any other and seen by its partner only.

// requestAccess handles POST /v1/partners/{p}/access-requests.
func (s *server) requestAccess(c echo.Context) error {
	partner, err := pathID(c, "partner_id")
	if err != nil {
		return err
	}
	req, err := command(c, uuid.Nil) // the command sets the tenant named, when it exists
	if err != nil {
		return err
	}
	var body commands.RequestAccess
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.RequestAccess(c.Request().Context(), req, partner, body)
	if err != nil {
		return err
	}
	view := projections.AccessRequestViewOf(out.State, s.now())
	c.Response().Header().Set(echo.HeaderLocation, "/v1/partners/"+partner.String()+"/access-requests/"+view.ID.String())
	return written(c, http.StatusCreated, out.Version, out.Position, view)
}

// listPartnerAccessRequests handles GET /v1/partners/{p}/access-requests,
// for any user of the partner.
func (s *server) listPartnerAccessRequests(c echo.Context) error {
	partner, p, err := s.partnerList(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.AccessRequestView], error) {
		return projections.ListPartnerAccessRequests(ctx, db, partner, p, s.now())
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// getPartnerAccessRequest handles GET
// /v1/partners/{p}/access-requests/{r}, the Location of a new request,
// for any user of the partner.
func (s *server) getPartnerAccessRequest(c echo.Context) error {
	partner, err := pathID(c, "partner_id")
	if err != nil {
		return err
	}
	id, err := pathID(c, "request_id")
	if err != nil {
		return err
	}
	if err := domain.AuthorizePartnerMember(principalOf(c), partner); err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.AccessRequestView, error) {
		return projections.GetPartnerAccessRequest(ctx, db, partner, id, s.now())
	})
	if err != nil {
		return err
	}
	return entity(c, view.Version, view)
}

// listTenantAccessRequests handles GET /v1/tenants/{t}/access-requests
// (partners.manage), with ?status= to filter.
func (s *server) listTenantAccessRequests(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	if err := s.commands.AuthorizeAccessRequestsRead(c.Request().Context(), req); err != nil {
		return err
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	status := domain.AccessRequestStatus(c.QueryParam("status"))
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.AccessRequestView], error) {
		return projections.ListTenantAccessRequests(ctx, db, req.TenantID, status, p, s.now())
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// approveAccessRequest handles POST
// /v1/tenants/{t}/access-requests/{r}/approve (partners.manage).
func (s *server) approveAccessRequest(c echo.Context) error {
	req, id, err := tenantCommandOn(c, "request_id")
	if err != nil {
		return err
	}
	var body commands.ApproveAccessRequest
	if err := bindOptional(c, &body); err != nil {
		return err
	}
	out, err := s.commands.ApproveAccessRequest(c.Request().Context(), req, id, body)
	if err != nil {
		return err
	}
	return written(c, http.StatusOK, out.Version, out.Position, projections.AccessRequestViewOf(out.State, s.now()))
}

// rejectAccessRequest handles POST
// /v1/tenants/{t}/access-requests/{r}/reject (partners.manage).
func (s *server) rejectAccessRequest(c echo.Context) error {
	req, id, err := tenantCommandOn(c, "request_id")
	if err != nil {
		return err
	}
	var body commands.RejectAccessRequest
	if err := bindOptional(c, &body); err != nil {
		return err
	}
	out, err := s.commands.RejectAccessRequest(c.Request().Context(), req, id, body)
	if err != nil {
		return err
	}
	return written(c, http.StatusOK, out.Version, out.Position, projections.AccessRequestViewOf(out.State, s.now()))
}

// bindOptional is bind for a body whose every field is optional: no body
// at all is {}.
func bindOptional(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	return bind(c, v)
}
