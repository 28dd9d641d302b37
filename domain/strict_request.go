package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Strict requests: a request's JSON body is checked by the same shape
// checker as events (strict.go), with two differences. Every field is
// optional, since the command's own validation says which it requires
// and why; and every leaf must be the JSON type its Go type is written
// as, checked where it stands so that the error names its path
// ("items[0].quantity"): a string for a string, a UUID, a date or an
// instant; a number for a number and for a decimal, which may also be a
// decimal string where the request says so.

// RequestOptions are the choices a request makes about its leaves.
type RequestOptions struct {
	// DecimalStrings accepts a decimal given as a string ("12.5") as well
	// as a JSON number.
	DecimalStrings bool
}

// requestRules are the options of one request being checked, and the
// domain error a leaf's decoding gave, to be returned at the leaf's path.
type requestRules struct {
	opts  RequestOptions
	cause *Error
}

var (
	requestShapes sync.Map // reflect.Type → *shape
	decimalType   = reflect.TypeFor[decimal.Decimal]()
	uuidType      = reflect.TypeFor[uuid.UUID]()
	dateType      = reflect.TypeFor[Date]()
	timeType      = reflect.TypeFor[time.Time]()
)

// DecodeRequest decodes data, the JSON body of a request, into v, a
// pointer to a struct, strictly: one JSON value, field names exactly as
// the json tags spell them, no unknown field, no key given twice, every
// leaf of its JSON type. A refusal is an *Error of kind ErrInvalid naming
// the field's path, or the domain's own refusal of a leaf (a date out of
// range) at that path.
func DecodeRequest(data []byte, v any, opts RequestOptions) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return errors.New("domain: DecodeRequest needs a pointer")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Invalid("body", "is empty; a JSON object is required")
	}
	if !json.Valid(data) {
		return Invalid("body", "is not well-formed JSON")
	}
	c := checker{data: data, req: &requestRules{opts: opts}}
	c.space()
	err := c.value(requestShape(t.Elem()), 0)
	if err == nil {
		if err = json.Unmarshal(data, v); err != nil {
			var derr *Error
			if errors.As(err, &derr) {
				return derr
			}
			return Invalid("body", "does not match this request's fields")
		}
		return nil
	}
	return requestFault(c.req.cause, err)
}

// requestShape is the shape of t's JSON, built once per type.
func requestShape(t reflect.Type) *shape {
	if s, ok := requestShapes.Load(t); ok {
		return s.(*shape)
	}
	s, _ := requestShapes.LoadOrStore(t, shapeOf(t, map[reflect.Type]bool{}))
	return s.(*shape)
}

// requestLeaf checks one leaf of a request against its Go type.
func (c *checker) requestLeaf(s *shape, depth int) error {
	start := c.i
	if err := c.skip(depth); err != nil {
		return err
	}
	if s.typ == nil {
		return nil
	}
	raw := c.data[start:c.i]
	if s.typ == decimalType {
		switch {
		case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
			return nil
		case raw[0] != '"' || !c.req.opts.DecimalStrings:
			return shapeErrorf("must be a number")
		}
	}
	err := json.Unmarshal(raw, reflect.New(s.typ).Interface())
	if err == nil {
		return nil
	}
	var derr *Error
	if errors.As(err, &derr) && !errors.Is(derr, ErrInvalid) {
		c.req.cause = derr
	}
	return shapeErrorf("must be %s", expectedJSON(s.typ))
}

// requestFault is the refusal of a request whose body gave err; cause,
// when not nil, is the domain's refusal of the leaf at err's path.
func requestFault(cause *Error, err error) error {
	var se *shapeError
	if !errors.As(err, &se) {
		return Invalid("body", "does not match this request's fields")
	}
	path := se.path()
	msg := se.msg
	if se.key != "" {
		path = strings.TrimPrefix(path+memberSegment([]byte(se.key)), ".")
		msg = "is not a field of this request"
		if strings.HasPrefix(se.msg, "duplicate") {
			msg = "is given more than once"
		} else if _, hint, ok := strings.Cut(se.msg, "(the field is "); ok {
			msg += "; the field is " + strings.TrimSuffix(hint, ")")
		}
	}
	if path == "" {
		path = "body"
	}
	if cause != nil {
		at := *cause
		msg = cause.Message
		if len(cause.Fields) > 0 {
			msg = cause.Fields[0].Message
		}
		at.Fields = []FieldError{{Field: path, Message: msg}}
		return &at
	}
	return Invalid(path, "%s", msg)
}

// path is the error's path, such as items[0].quantity.
func (e *shapeError) path() string {
	var b strings.Builder
	for i := len(e.rev) - 1; i >= 0; i-- {
		b.WriteString(e.rev[i])
	}
	return strings.TrimPrefix(b.String(), ".")
}

// expectedJSON names the JSON a leaf of Go type t is written as.
func expectedJSON(t reflect.Type) string {
	switch t {
	case uuidType:
		return "a UUID string"
	case dateType:
		return "a date string of the form YYYY-MM-DD"
	case timeType:
		return "an RFC 3339 instant string"
	case decimalType:
		return "a decimal number"
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
	}
	return "of another type"
}
