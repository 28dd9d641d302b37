package http

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// userView is a new user as api.md shows it. Key is shown this once; a
// replayed request has none to show, as only its hash was kept.
type userView struct {
	ID   uuid.UUID   `json:"id"`
	Name string      `json:"name"`
	Role domain.Role `json:"role"`
	Key  string      `json:"key,omitempty"`
}

func userViewOf(out commands.UserAdded) userView {
	return userView{ID: out.State.ID, Name: out.State.Name, Role: out.State.Role, Key: out.Key}
}

func (s *server) addTenantUser(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	var body commands.AddUser
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.AddTenantUser(c.Request().Context(), req, body)
	if err != nil {
		return err
	}
	return written(c, http.StatusCreated, 0, out.Position, userViewOf(out))
}

func (s *server) removeTenantUser(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	user, err := pathID(c, "user_id")
	if err != nil {
		return err
	}
	out, err := s.commands.RemoveTenantUser(c.Request().Context(), req, user)
	if err != nil {
		return err
	}
	return written(c, http.StatusNoContent, 0, out.Position, nil)
}

func (s *server) addPartnerUser(c echo.Context) error {
	partner, err := pathID(c, "partner_id")
	if err != nil {
		return err
	}
	req, err := command(c, uuid.Nil)
	if err != nil {
		return err
	}
	var body commands.AddUser
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.AddPartnerUser(c.Request().Context(), req, partner, body)
	if err != nil {
		return err
	}
	return written(c, http.StatusCreated, 0, out.Position, userViewOf(out))
}

func (s *server) removePartnerUser(c echo.Context) error {
	partner, err := pathID(c, "partner_id")
	if err != nil {
		return err
	}
	user, err := pathID(c, "user_id")
	if err != nil {
		return err
	}
	req, err := command(c, uuid.Nil)
	if err != nil {
		return err
	}
	out, err := s.commands.RemovePartnerUser(c.Request().Context(), req, partner, user)
	if err != nil {
		return err
	}
	return written(c, http.StatusNoContent, 0, out.Position, nil)
}

// partnerList authorizes a list of the path's partner's own, for any
// user of it, and reads the page asked for once Ledger-Min-Position is
// reached.
func (s *server) partnerList(c echo.Context) (uuid.UUID, projections.Page, error) {
	partner, err := pathID(c, "partner_id")
	if err != nil {
		return partner, projections.Page{}, err
	}
	if err := domain.AuthorizePartnerMember(principalOf(c), partner); err != nil {
		return partner, projections.Page{}, err
	}
	p, err := page(c)
	if err != nil {
		return partner, p, err
	}
	return partner, p, s.caughtUp(c)
}

// listPartnerTenants lists a partner's grants, for any user of it.
func (s *server) listPartnerTenants(c echo.Context) error {
	partner, p, err := s.partnerList(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.AccessView], error) {
		return projections.ListPartnerTenants(ctx, db, partner, p, s.now())
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) putAccess(c echo.Context) error {
	req, partner, err := accessCommand(c)
	if err != nil {
		return err
	}
	var body commands.PutAccess
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.PutPartnerAccess(c.Request().Context(), req, partner, body)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
	}
	return written(c, status, out.Version, out.Position, projections.AccessViewOf(out.State, s.now()))
}

func (s *server) revokeAccess(c echo.Context) error {
	req, partner, err := accessCommand(c)
	if err != nil {
		return err
	}
	out, err := s.commands.RevokePartnerAccess(c.Request().Context(), req, partner, "")
	if err != nil {
		return err
	}
	return written(c, http.StatusOK, out.Version, out.Position, projections.AccessViewOf(out.State, s.now()))
}

func (s *server) getAccess(c echo.Context) error {
	req, partner, err := accessCommand(c)
	if err != nil {
		return err
	}
	if err := s.commands.AuthorizeAccessRead(c.Request().Context(), req, partner); err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.AccessView, error) {
		return projections.GetPartnerAccess(ctx, db, req.TenantID, partner, s.now())
	})
	if err != nil {
		return err
	}
	return entity(c, view.Version, view)
}

func (s *server) listAccess(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	if err := s.commands.AuthorizeAccessRead(c.Request().Context(), req, uuid.Nil); err != nil {
		return err
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.AccessView], error) {
		return projections.ListPartnerAccess(ctx, db, req.TenantID, p, s.now())
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// accessCommand is the request on the tenant and partner of an access
// route.
func accessCommand(c echo.Context) (commands.Request, uuid.UUID, error) {
	req, err := tenantCommand(c)
	if err != nil {
		return req, uuid.Nil, err
	}
	partner, err := pathID(c, "partner_id")
	return req, partner, err
}
