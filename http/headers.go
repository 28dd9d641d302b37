package http

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// headerLedgerRequestID carries the server's own id of every request:
// the request_id its events record and its log lines name.
const headerLedgerRequestID = "Ledger-Request-ID"

// maxClientRequestIDLen bounds a client's X-Request-ID (api.md,
// Conventions); an Idempotency-Key is bounded by the store's
// eventstore.MaxKeyLen.
const maxClientRequestIDLen = 128

// clientRequestIDKey is where a client's valid X-Request-ID is kept in
// the echo context.
const clientRequestIDKey = "ledger.client_request_id"

// codeRequestTimeout answers a request whose body did not arrive before
// the server's read deadline.
const codeRequestTimeout = "request_timeout"

// requestIDs gives every request an id of the server's own, sent back as
// Ledger-Request-ID and recorded as the request_id of its events. A
// client's X-Request-ID of 1..128 characters of [A-Za-z0-9._:-], sent
// once, is echoed as X-Request-ID and recorded as client_request_id;
// any other is dropped, neither echoed nor recorded, and X-Request-ID
// carries the server's id instead.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		own := uuid.NewString()
		h := c.Response().Header()
		h.Set(headerLedgerRequestID, own)
		sent := c.Request().Header.Values(echo.HeaderXRequestID)
		if len(sent) == 1 && validClientRequestID(sent[0]) {
			c.Set(clientRequestIDKey, sent[0])
			h.Set(echo.HeaderXRequestID, sent[0])
		} else {
			c.Request().Header.Del(echo.HeaderXRequestID)
			h.Set(echo.HeaderXRequestID, own)
		}
		return next(c)
	}
}

// clientRequestID is the client's valid X-Request-ID, empty when it sent
// none.
func clientRequestID(c echo.Context) string {
	id, _ := c.Get(clientRequestIDKey).(string)
	return id
}

func validClientRequestID(id string) bool {
	if id == "" || len(id) > maxClientRequestIDLen {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r))
	})
}

// checkHeaders refuses, before anything reads the store, a request with
// more than one Authorization header or an Idempotency-Key that is not
// one value of 1..255 printable ASCII characters.
func checkHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if len(h.Values(echo.HeaderAuthorization)) > 1 {
			return domain.Invalid(echo.HeaderAuthorization, "send one Authorization header")
		}
		keys := h.Values(headerIdempotencyKey)
		switch {
		case len(keys) > 1:
			return domain.Invalid(headerIdempotencyKey, "send one Idempotency-Key header")
		case len(keys) == 1 && !printableASCII(keys[0], eventstore.MaxKeyLen):
			return domain.Invalid(headerIdempotencyKey, "must be 1 to %d printable ASCII characters", eventstore.MaxKeyLen)
		}
		return next(c)
	}
}

// printableASCII reports whether s is 1..maxLen characters of 0x20..0x7E.
func printableASCII(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// noStore marks every response as not to be cached or sniffed: a
// response may carry a user's key.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderCacheControl, "no-store")
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		return next(c)
	}
}

// setLocation sets the Location of a 201: the URL of the resource body
// represents, which the request created.
func setLocation(c echo.Context, body any) {
	path := strings.TrimSuffix(c.Request().URL.EscapedPath(), "/")
	var id uuid.UUID
	switch v := body.(type) {
	case projections.AccessView:
		c.Response().Header().Set(echo.HeaderLocation, path)
		return
	case projections.AccountView:
		id = v.ID
	case projections.ProductView:
		id = v.ID
	case projections.SubscriptionView:
		id = v.ID
	case userView:
		id = v.ID
	case projections.BillRunView:
		id = v.ID
	default:
		return
	}
	c.Response().Header().Set(echo.HeaderLocation, path+"/"+id.String())
}

// limitBody refuses bodies over MaxBodyBytes with 413, and answers 408,
// closing the connection, when the body did not arrive before the
// server's read deadline (ReadTimeout).
func (s *server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > MaxBodyBytes {
			return echo.ErrStatusRequestEntityTooLarge
		}
		body := &deadlineBody{ReadCloser: req.Body}
		req.Body = http.MaxBytesReader(c.Response(), body, MaxBodyBytes)
		err := next(c)
		if !body.timedOut.Load() || c.Response().Committed {
			return err
		}
		c.Response().Header().Set(echo.HeaderConnection, "close")
		c.Response().Header().Set(echo.HeaderContentType, problemContentType)
		c.Response().WriteHeader(http.StatusRequestTimeout)
		p := newProblem(http.StatusRequestTimeout, codeRequestTimeout, "the request's body did not arrive in time", nil)
		if werr := jsonEncode(c.Response(), p); werr != nil {
			s.logger.WarnContext(req.Context(), "write problem", "request_id", requestID(c), "error", werr)
		}
		return nil
	}
}

// deadlineBody notes that reading a request's body hit the connection's
// read deadline.
type deadlineBody struct {
	io.ReadCloser
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut.Store(true)
	}
	return n, err
}
