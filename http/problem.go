package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/internal/dberr"
	"ledger/projections"
)

// problemContentType is the media type of every error response.
const problemContentType = "application/problem+json"

// Codes the HTTP layer adds to the domain's.
const (
	codeBadRequest       = "bad_request"
	codeMethodNotAllowed = "method_not_allowed"
	codeTooLarge         = "payload_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeProjectionLag    = "projection_lag"
	codeReadModelStale   = "read_model_stale"
	codeTimeout          = "timeout"
	codeRateLimited      = "rate_limited"
	codeInternal         = "internal"
)

// problem is an error response as api.md shows it (RFC 9457).
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Code   string              `json:"code"`
	Errors []domain.FieldError `json:"errors,omitempty"`
}

// statusOfKind maps each kind of domain refusal to its status: the one
// table from errors to HTTP.
var statusOfKind = []struct {
	kind   error
	status int
}{
	{domain.ErrInvalid, http.StatusBadRequest},
	{domain.ErrUnauthenticated, http.StatusUnauthorized},
	{domain.ErrForbidden, http.StatusForbidden},
	{domain.ErrNotFound, http.StatusNotFound},
	{domain.ErrConflict, http.StatusConflict},
	{domain.ErrPrecondition, http.StatusPreconditionFailed},
	{domain.ErrRule, http.StatusUnprocessableEntity},
	{projections.ErrLagging, http.StatusServiceUnavailable},
}

// titles name each status in problems.
var titles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Unauthenticated",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "Not found",
	http.StatusMethodNotAllowed:      "Method not allowed",
	http.StatusConflict:              "Conflict",
	http.StatusPreconditionFailed:    "Precondition failed",
	http.StatusRequestEntityTooLarge: "Payload too large",
	http.StatusUnsupportedMediaType:  "Unsupported media type",
	http.StatusUnprocessableEntity:   "Unprocessable",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusInternalServerError:   "Internal server error",
	http.StatusServiceUnavailable:    "Service unavailable",
}

// codeDatabaseUnavailable answers a request the database could not serve
// because it was unreachable: an outage, never a bug.
const codeDatabaseUnavailable = "database_unavailable"

// problemOf turns any error a handler returned into the problem sent.
// Errors it does not know become a bare 500: their text never leaves.
func problemOf(err error) (p problem, known bool) {
	if errors.Is(err, domain.ErrNotFound) {
		return notFoundProblem(), true
	}
	var derr *domain.Error
	if errors.As(err, &derr) {
		for _, k := range statusOfKind {
			if errors.Is(derr, k.kind) {
				return newProblem(k.status, derr.Code, derr.Message, derr.Fields), true
			}
		}
	}
	var stale *projections.StaleError
	if errors.As(err, &stale) {
		return newProblem(http.StatusServiceUnavailable, codeReadModelStale, staleDetail(stale), nil), true
	}
	if errors.Is(err, domain.ErrUnreadableEvent) {
		// Logged (known is false): an operator must upcast or park it.
		return newProblem(http.StatusServiceUnavailable, codeReadModelStale,
			"an event of this resource's stream cannot be read by this version of the ledger", nil), false
	}
	if errors.Is(err, errRateLimited) {
		return newProblem(http.StatusTooManyRequests, codeRateLimited, "too many requests; retry after Retry-After seconds", nil), true
	}
	if errors.Is(err, projections.ErrLagging) {
		return newProblem(http.StatusServiceUnavailable, codeProjectionLag,
			"the read models have not reached the requested position yet", nil), true
	}
	if dberr.Unavailable(err) {
		return newProblem(http.StatusServiceUnavailable, codeDatabaseUnavailable, "the database is unreachable; retry later", nil), true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newProblem(http.StatusServiceUnavailable, codeTimeout, "the request took too long", nil), true
	}
	var herr *echo.HTTPError
	if errors.As(err, &herr) {
		return echoProblem(herr)
	}
	return newProblem(http.StatusInternalServerError, codeInternal, "", nil), false
}

// staleDetail says which stream's events the read model lacks, or, for a
// list or report, that some of the tenant's do.
func staleDetail(e *projections.StaleError) string {
	if e.Stream == "" {
		return "the read model lacks events of this tenant that it could not apply; they are parked until the streams are rebuilt"
	}
	return "the read model lacks events of stream " + e.Stream + " that it could not apply; they are parked until the stream is rebuilt"
}

// echoProblem turns echo's own errors (no route, body too large,
// middleware refusals) into problems.
func echoProblem(herr *echo.HTTPError) (problem, bool) {
	code := map[int]string{
		http.StatusBadRequest:            codeBadRequest,
		http.StatusUnauthorized:          domain.CodeUnauthenticated,
		http.StatusNotFound:              domain.CodeNotFound,
		http.StatusMethodNotAllowed:      codeMethodNotAllowed,
		http.StatusRequestEntityTooLarge: codeTooLarge,
		http.StatusUnsupportedMediaType:  codeUnsupportedMedia,
		http.StatusServiceUnavailable:    codeTimeout,
	}[herr.Code]
	if code == "" {
		return newProblem(http.StatusInternalServerError, codeInternal, "", nil), false
	}
	if herr.Code == http.StatusNotFound {
		return notFoundProblem(), true
	}
	detail := ""
	if msg, ok := herr.Message.(string); ok && herr.Code != http.StatusServiceUnavailable {
		detail = msg
	}
	return newProblem(herr.Code, code, detail, nil), true
}

// notFoundProblem is the one 404 body, whatever the cause (absent, out
// of the caller's scope, another tenant's, no such route), so that a 404
// never tells what exists: the domain's message naming what was not
// found never reaches the response.
func notFoundProblem() problem {
	return newProblem(http.StatusNotFound, domain.CodeNotFound, http.StatusText(http.StatusNotFound), nil)
}

func newProblem(status int, code, detail string, fields []domain.FieldError) problem {
	title := titles[status]
	if title == "" {
		title = http.StatusText(status)
	}
	return problem{Type: "urn:ledger:problem:" + code, Title: title, Status: status, Detail: detail, Code: code, Errors: fields}
}

// errorHandler is echo's one error handler: it sends the problem of err,
// and logs what it does not know with the request id.
func (s *server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p, known := problemOf(err)
	if !known {
		s.logger.ErrorContext(c.Request().Context(), "request failed", "request_id", requestID(c),
			"method", c.Request().Method, "route", c.Path(), "error", err)
	}
	if p.Status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
	}
	if p.Status == http.StatusServiceUnavailable || p.Code == domain.CodeConcurrencyConflict {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	if s.portalPages != nil && isPortalPath(c.Request().URL.Path) {
		s.portalPages.RenderProblem(c.Response(), c.Request(), p.Status, p.Code)
		return
	}
	c.Response().Header().Set(echo.HeaderContentType, problemContentType)
	c.Response().WriteHeader(p.Status)
	if c.Request().Method == http.MethodHead {
		return
	}
	if werr := jsonEncode(c.Response(), p); werr != nil {
		s.logger.WarnContext(c.Request().Context(), "write problem", "request_id", requestID(c), "error", werr)
	}
}

// isPortalPath reports whether path is one of the portal's, whose
// refusals are pages, not problem documents.
func isPortalPath(path string) bool {
	return path == "/portal" || strings.HasPrefix(path, "/portal/")
}
