package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

func (s *server) createSubscription(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	var body commands.CreateSubscription
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := s.commands.CreateSubscription(c.Request().Context(), req, body)
	if err != nil {
		return err
	}
	return s.subscriptionWritten(c, http.StatusCreated, out)
}

func (s *server) amendSubscription(c echo.Context) error {
	req, id, err := subscriptionCommand(c)
	if err != nil {
		return err
	}
	preview, err := queryPreview(c)
	if err != nil {
		return err
	}
	var body commands.AmendSubscription
	if err := bind(c, &body); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if preview {
		p, err := s.commands.PreviewAmendment(ctx, req, id, body)
		if err != nil {
			return err
		}
		return s.previewed(c, p)
	}
	out, err := s.commands.AmendSubscription(ctx, req, id, body)
	if err != nil {
		return err
	}
	return s.subscriptionWritten(c, http.StatusOK, out)
}

func (s *server) cancelSubscription(c echo.Context) error {
	req, id, err := subscriptionCommand(c)
	if err != nil {
		return err
	}
	preview, err := queryPreview(c)
	if err != nil {
		return err
	}
	var body commands.CancelSubscription
	if err := bind(c, &body); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if preview {
		p, err := s.commands.PreviewCancellation(ctx, req, id, body)
		if err != nil {
			return err
		}
		return s.previewed(c, p)
	}
	out, err := s.commands.CancelSubscription(ctx, req, id, body)
	if err != nil {
		return err
	}
	return s.subscriptionWritten(c, http.StatusOK, out)
}

// withdrawScheduledChange withdraws a scheduled change of a subscription
// before it takes effect.
func (s *server) withdrawScheduledChange(c echo.Context) error {
	req, id, err := subscriptionCommand(c)
	if err != nil {
		return err
	}
	change, err := pathID(c, "change_id")
	if err != nil {
		return err
	}
	out, err := s.commands.WithdrawScheduledChange(c.Request().Context(), req, id, change)
	if err != nil {
		return err
	}
	return s.subscriptionWritten(c, http.StatusOK, out)
}

func (s *server) subscriptionWritten(c echo.Context, status int, out commands.Outcome[domain.Subscription]) error {
	view, err := projections.SubscriptionViewOf(out.State, s.today())
	if err != nil {
		return err
	}
	return written(c, status, out.Version, out.Position, view)
}

// subscriptionPreview is the answer to an amendment or a cancellation
// with ?preview=true: the subscription as the change would leave it, and
// what the change would add to the periods already invoiced.
type subscriptionPreview struct {
	projections.SubscriptionView
	Proration projections.ProrationView `json:"proration"`
}

// previewed answers a preview: 200, with no ETag, as the subscription in
// the body is one that does not exist yet, and with the Ledger-Position
// of the state the preview was decided on, as any mutation that changed
// nothing gives.
func (s *server) previewed(c echo.Context, p commands.Preview) error {
	view, err := projections.SubscriptionViewOf(p.Subscription, s.today())
	if err != nil {
		return err
	}
	proration, err := projections.ProrationViewOf(p.Subscription.Currency, p.Proration, p.Total)
	if err != nil {
		return err
	}
	c.Response().Header().Set(headerLedgerPosition, strconv.FormatUint(uint64(p.Position), 10))
	return c.JSON(http.StatusOK, subscriptionPreview{SubscriptionView: view, Proration: proration})
}

// queryPreview reads ?preview=: true or false (the default).
func queryPreview(c echo.Context) (bool, error) {
	switch c.QueryParam("preview") {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, domain.Invalid("preview", "must be true or false")
}

func (s *server) listSubscriptions(c echo.Context) error {
	req, err := tenantCommand(c)
	if err != nil {
		return err
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	filter := projections.SubscriptionFilter{Status: c.QueryParam("status")}
	if filter.AccountID, err = queryID(c, "account_id"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var grant *domain.PartnerAccess
	if filter.AccountID != nil {
		grant, err = s.commands.AuthorizeAccountRead(ctx, req, *filter.AccountID, domain.PermSubscriptionsRead)
	} else {
		grant, err = s.commands.AuthorizeRead(ctx, req, domain.PermSubscriptionsRead, "subscriptions")
	}
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	list, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.List[projections.SubscriptionView], error) {
		return projections.ListSubscriptions(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), filter, p, s.today())
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// asOf reads ?as_of=: an RFC 3339 instant, given as the commands read it,
// where the zero instant means now. An instant after now (the clock of the
// store, which records events, not the clock of reads) means now: the
// future is not recorded, so the state as of then is the current state.
// The zero instant itself is given as the instant just before it: nothing
// was recorded before either, so the subscription did not exist yet.
func asOf(raw string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339Nano, raw)
	switch {
	case err != nil:
		return time.Time{}, domain.Invalid("as_of", "must be an RFC 3339 instant, such as 2026-01-31T12:00:00Z")
	case at.After(time.Now()):
		return time.Time{}, nil
	case at.IsZero():
		return at.Add(-time.Microsecond), nil
	}
	return at, nil
}

// getSubscription answers from the read model, or with ?as_of= from the
// subscription rebuilt from its events recorded up to that instant.
func (s *server) getSubscription(c echo.Context) error {
	req, id, err := subscriptionCommand(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if raw := c.QueryParam("as_of"); raw != "" {
		at, err := asOf(raw)
		if err != nil {
			return err
		}
		out, err := s.commands.Subscription(ctx, req, id, at)
		if err != nil {
			return err
		}
		day := domain.DateOf(at)
		if at.IsZero() {
			day = s.today()
		}
		view, err := projections.SubscriptionViewOf(out.State, day)
		if err != nil {
			return err
		}
		return entity(c, out.Version, view)
	}
	grant, err := s.commands.AuthorizeSubscriptionRead(ctx, req, id, domain.PermSubscriptionsRead)
	if err != nil {
		return err
	}
	if err := s.caughtUp(c); err != nil {
		return err
	}
	view, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.SubscriptionView, error) {
		return projections.GetSubscription(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id, s.today())
	})
	if err != nil {
		return err
	}
	return entity(c, view.Version, view)
}

// subscriptionHistory lists a subscription's events, from the event log.
func (s *server) subscriptionHistory(c echo.Context) error {
	req, id, err := subscriptionCommand(c)
	if err != nil {
		return err
	}
	events, err := s.commands.SubscriptionHistory(c.Request().Context(), req, id)
	if err != nil {
		return err
	}
	items := make([]projections.AuditItem, len(events))
	for i, e := range events {
		if items[i], err = projections.AuditItemOf(e); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, struct {
		Items []projections.AuditItem `json:"items"`
	}{items})
}

func subscriptionCommand(c echo.Context) (commands.Request, uuid.UUID, error) {
	req, err := tenantCommand(c)
	if err != nil {
		return req, uuid.Nil, err
	}
	id, err := pathID(c, "subscription_id")
	return req, id, err
}

// today is the date of reads: subscriptions' status and MRR are those of
// today, in UTC.
func (s *server) today() domain.Date { return domain.DateOf(s.now().UTC()) }
