package http

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

func (s *server) createAccount(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	var body commands.CreateAccount
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.CreateAccount(c.Request().Context(), req, body)
	if err != nil {
		return err
	}
	return written(c, http.StatusCreated, out.Version, out.Position, projections.AccountViewOf(out.State))
}

func (s *server) updateBilling(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	account, err := pathID(c, "account_id")
	if err != nil {
		return err
	}
	var body commands.Billing
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.UpdateBilling(c.Request().Context(), req, account, body)
	if err != nil {
		return err
	}
	return written(c, http.StatusOK, out.Version, out.Position, projections.AccountViewOf(out.State))
}

func (s *server) listAccounts(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	req, grant, err := s.tenantRead(c, domain.PermAccountsRead, "accounts")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.AccountView], error) {
		return projections.ListAccounts(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), p)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getAccount(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	account, err := pathID(c, "account_id")
	if err != nil {
		return err
	}
	grant, err := s.commands.AuthorizeAccountRead(c.Request().Context(), req, account, domain.PermAccountsRead)
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.AccountView, error) {
		return projections.GetAccount(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), account)
	})
	if err != nil {
		return err
	}
	return entity(c, view.Version, view)
}

func (s *server) createProduct(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	var body commands.CreateProduct
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.CreateProduct(c.Request().Context(), req, body)
	if err != nil {
		return err
	}
	view, err := projections.ProductViewOf(out.State)
	if err != nil {
		return err
	}
	return written(c, http.StatusCreated, out.Version, out.Position, view)
}

func (s *server) listProducts(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	req, _, err := s.tenantRead(c, domain.PermCatalogRead, "products")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.ProductView], error) {
		return projections.ListProducts(ctx, db, req.TenantID, p)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getProduct(c echo.Context) error {
	product, err := pathID(c, "product_id")
	if err != nil {
		return err
	}
	req, _, err := s.tenantRead(c, domain.PermCatalogRead, "products/"+product.String())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.ProductView, error) {
		return projections.GetProduct(ctx, db, req.TenantID, product)
	})
	if err != nil {
		return err
	}
	return entity(c, view.Version, view)
}

// tenantRead is how a read of the path's tenant as a whole begins: it
// authorizes perm on it (resource names the read in the audit log, should
// it be refused), and waits for Ledger-Min-Position. It returns the
// caller's grant, from which the read's scope follows.
func (s *server) tenantRead(c echo.Context, perm domain.Permission, resource string) (commands.Request, *domain.PartnerAccess, error) {
	req, err := tenantCommand(c)
	if err != nil {
		return req, nil, err
	}
	grant, err := s.commands.AuthorizeRead(c.Request().Context(), req, perm, resource)
	if err != nil {
		return req, nil, err
	}
	return req, grant, s.caughtUp(c)
}
