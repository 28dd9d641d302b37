package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
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

// requestID is the request's id, as the request-id middleware set it on
// the response.
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
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

// bind decodes the JSON body into v strictly: one JSON value, no unknown
// field, every field of its type.
func bind(c echo.Context, v any) error {
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the body must hold exactly one JSON value")
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

// decodeError turns a JSON decoding error into a 400 that names the field
// at fault, without echoing the body.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		derr   *domain.Error
	)
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; a JSON object is required")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not well-formed JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fieldProblem(field, "must be "+expected(typ.Type))
	case errors.As(err, &derr):
		return derr
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldProblem(strings.Trim(name, `"`), "is not a field of this request")
	}
	return badRequest("the body does not match this request's fields")
}

// expected names the JSON a Go decoding target wants.
func expected(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of another type"
}

func badRequest(detail string) *domain.Error {
	return &domain.Error{Kind: domain.ErrInvalid, Code: codeBadRequest, Message: detail}
}

func fieldProblem(field, message string) *domain.Error {
	return &domain.Error{Kind: domain.ErrInvalid, Code: codeBadRequest, Message: field + " " + message,
		Fields: []domain.FieldError{{Field: field, Message: message}}}
}

// page reads ?limit= and ?cursor=.
func page(c echo.Context) (projections.Page, error) {
	p := projections.Page{Cursor: c.QueryParam("cursor")}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
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
