package http

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// SignInRefuser is a portal that renders its own page for a sign-in
// refused by the rate limit; a portal that is not one gets a bare 429.
type SignInRefuser interface {
	// RefuseSignIn answers a sign-in refused for retryAfter.
	RefuseSignIn(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)
}

// ProblemPager is a portal that renders, as one of its own pages, a
// refusal the server answers before the portal sees the request (a body
// over the limit, a request timed out): an HTML page for a browser where
// the API would answer a problem document.
type ProblemPager interface {
	// RenderProblem answers r with the page of status and the API's code.
	RenderProblem(w http.ResponseWriter, r *http.Request, status int, code string)
}

// portalSignIn limits the portal's sign-ins on the API's budget of
// unknown keys per client address (RateLimits.UnknownKey): an address
// that has used it up is refused before the key is looked up, and a key
// the portal did not accept (401) takes a token, as a request with an
// unknown key does. One budget for both, so that guessing through the
// portal gains nothing over guessing through the API.
func (l *limiter) portalSignIn(portal http.Handler) echo.HandlerFunc {
	serve := echo.WrapHandler(portal)
	return func(c echo.Context) error {
		addr := l.addressOf(c)
		if wait := l.address.deficit(addr); wait > 0 {
			l.refused.WithLabelValues("unknown_key").Inc()
			if refuser, ok := portal.(SignInRefuser); ok {
				refuser.RefuseSignIn(c.Response(), c.Request(), wait)
				return nil
			}
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			return c.NoContent(http.StatusTooManyRequests)
		}
		err := serve(c)
		if c.Response().Status == http.StatusUnauthorized {
			l.failed.Inc()
			l.address.take(addr)
		}
		return err
	}
}
