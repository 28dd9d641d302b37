package http

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// Headers of api.md's protocol.
const (
	headerETag             = "ETag"
	headerIfMatch          = "If-Match"
	headerIdempotencyKey   = "Idempotency-Key"
	headerLedgerPosition   = "Ledger-Position"
	headerLedgerMinPostion = "Ledger-Min-Position"
	headerRetryAfter       = "Retry-After"
)

// minPositionWait is how long a read waits for the read models to reach
// Ledger-Min-Position before answering 503.
const minPositionWait = 5 * time.Second

// retryAfterSeconds is the Retry-After of every 503, and of a 409 for a
// contended resource.
const retryAfterSeconds = 1

// principalKey is where the authenticated principal is kept in the echo
// context.
const principalKey = "ledger.principal"

// apiKeyKey is where a write's API key is kept in the echo context, for
// its command to authenticate (see server.credential).
const apiKeyKey = "ledger.api_key"

func principalOf(c echo.Context) domain.Principal {
	p, _ := c.Get(principalKey).(domain.Principal)
	return p
}

// requestID is the server's own id of the request, as the request-id
// middleware set it on the response (see headers.go).
func requestID(c echo.Context) string {
	return c.Response().Header().Get(headerLedgerRequestID)
}

// pathID reads the UUID path parameter name. Anything else names nothing
// that can exist: not found.
func pathID(c echo.Context, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		return uuid.Nil, domain.NotFound(strings.TrimSuffix(name, "_id"))
	}
	return id, nil
}

// command returns the commands.Request of c on tenant: who asks, and the
// metadata its events record.
func command(c echo.Context, tenant uuid.UUID) (commands.Request, error) {
	key, _ := c.Get(apiKeyKey).(string)
	req := commands.Request{
		Key:            key,
		Principal:      principalOf(c),
		TenantID:       tenant,
		RequestID:      requestID(c),
		IdempotencyKey: c.Request().Header.Get(headerIdempotencyKey),
	}
	ifMatch, err := parseIfMatch(c.Request().Header.Get(headerIfMatch))
	if err != nil {
		return commands.Request{}, err
	}
	req.IfMatch = ifMatch
	req.ClientRequestID = clientRequestID(c)
	return req, nil
}

// tenantCommand is command on the tenant of the path.
func tenantCommand(c echo.Context) (commands.Request, error) {
	tenant, err := pathID(c, "tenant_id")
	if err != nil {
		return commands.Request{}, err
	}
	return command(c, tenant)
}

// parseIfMatch reads If-Match: an ETag as this API sends it ("3"), also
// accepted weak or unquoted; "*" and absence ask for nothing.
func parseIfMatch(h string) (*uint64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return nil, nil
	}
	v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil {
		return nil, domain.Invalid("If-Match", "must be an ETag of this API, such as \"3\"")
	}
	return &v, nil
}

// bind decodes the JSON body into v strictly (domain.DecodeRequest): one
// JSON value, field names matched exactly, no unknown field or key given
// twice, every field of its JSON type; a refusal names the field's path.
func bind(c echo.Context, v any) error {
	return bindWith(c, v, domain.RequestOptions{})
}

// bindWith is bind with the request's options.
func bindWith(c echo.Context, v any, opts domain.RequestOptions) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be application/json")
		}
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return readError(err)
	}
	if err := domain.DecodeRequest(body, v, opts); err != nil {
		return decodeError(err)
	}
	return nil
}

func readError(err error) error {
	var herr *echo.HTTPError
	if errors.As(err, &herr) {
		return herr
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return echo.ErrStatusRequestEntityTooLarge
	}
	return fmt.Errorf("read body: %w", err)
}

// decodeError turns a refusal of the body into a 400 that names the field
// at fault, without echoing the body; a domain rule's refusal of a value
// (a date out of range) stands.
func decodeError(err error) error {
	var derr *domain.Error
	if !errors.As(err, &derr) {
		return fmt.Errorf("decode body: %w", err)
	}
	if !errors.Is(derr, domain.ErrInvalid) {
		return derr
	}
	bad := *derr
	bad.Code = codeBadRequest
	return &bad
}

// page reads ?limit= and ?cursor=.
func page(c echo.Context) (projections.Page, error) {
	p := projections.Page{Cursor: c.QueryParam("cursor")}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > projections.MaxLimit {
			return p, domain.Invalid("limit", "must be a whole number from 1 to %d", projections.MaxLimit)
		}
		p.Limit = n
	}
	return p, p.Check()
}

// queryID reads an optional UUID query parameter.
func queryID(c echo.Context, name string) (*uuid.UUID, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, domain.Invalid(name, "must be a UUID")
	}
	return &id, nil
}

// minPosition reads Ledger-Min-Position; zero when absent.
func minPosition(c echo.Context) (eventstore.Position, error) {
	h := c.Request().Header.Get(headerLedgerMinPostion)
	if h == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(h), 10, 64)
	if err != nil {
		return 0, domain.Invalid(headerLedgerMinPostion, "must be a log position, as Ledger-Position gave it")
	}
	return eventstore.Position(n), nil
}

// invalidRecords is the refusal of a usage post whose records the domain
// found invalid: 422 with errors[] by index, as api.md's Usage has it. A
// body that is not well-formed stays 400 (bind).
func invalidRecords(err error) error {
	var derr *domain.Error
	if errors.As(err, &derr) && errors.Is(derr, domain.ErrInvalid) {
		rule := *derr
		rule.Kind = domain.ErrRule
		return &rule
	}
	return err
}
