package domain

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Strict decoding: the data of an event must have exactly the shape of its
// Go type before encoding/json decodes it. Field names are matched as the
// json tags spell them, case included; an unknown field, a key given twice
// or a missing field is an error. A field is optional when its json tag
// says omitempty or omitzero (the encoder may leave it out, so absent
// means its zero value); every other field must be present. null is
// accepted only where the encoder writes it: a nil pointer, slice or map,
// or a type whose zero value encodes as null (Date). Strings must be UTF-8
// with well-paired \u escapes, fixed-size arrays must have their length,
// and nested objects and arrays follow the same rules. encoding/json then
// checks the type of every leaf (a string where a number belongs, an
// unparsable date or decimal).

// shapeKind is what JSON a shape expects.
type shapeKind uint8

const (
	leafShape   shapeKind = iota // any well-formed value; encoding/json checks its type
	objectShape                  // a struct: the members of fields, exactly
	arrayShape                   // a slice or array: elements of elem
	mapShape                     // a map: any keys, once each, values of elem
)

// maxShapeFields bounds the fields of one struct, which seen sets track as
// the bits of a uint64.
const maxShapeFields = 64

// maxShapeDepth bounds the nesting the checker follows, as encoding/json
// bounds its own.
const maxShapeDepth = 10000

// shape is what strict decoding expects of the JSON of one Go type.
type shape struct {
	kind     shapeKind
	nullable bool
	fields   map[string]int // objectShape: member name → index
	names    []string       // objectShape: member names, in the struct's order
	members  []*shape       // objectShape: member shapes
	required uint64         // objectShape: bit i set when names[i] must be present
	elem     *shape         // arrayShape, mapShape
	length   int            // arrayShape: the length of a Go array, -1 for a slice
	typ      reflect.Type   // leafShape: the Go type, for requests (strict_request.go)
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	anyShape            = &shape{kind: leafShape, nullable: true}
)

// shapeOf returns the shape of t's JSON. It panics on a type strict
// decoding cannot follow (a recursive type, a struct of more than 64
// fields, two fields of one name, an embedded pointer), a programming error that registering
// the event type reveals at start-up.
func shapeOf(t reflect.Type, building map[reflect.Type]bool) *shape {
	if t.Kind() == reflect.Pointer {
		s := *shapeOf(t.Elem(), building)
		s.nullable = true
		return &s
	}
	if pt := reflect.PointerTo(t); pt.Implements(jsonUnmarshalerType) || pt.Implements(textUnmarshalerType) {
		return &shape{kind: leafShape, nullable: zeroEncodesNull(t), typ: t}
	}
	switch t.Kind() {
	case reflect.Struct:
		return structShape(t, building)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &shape{kind: leafShape, nullable: true} // base64
		}
		return &shape{kind: arrayShape, nullable: true, elem: shapeOf(t.Elem(), building), length: -1}
	case reflect.Array:
		return &shape{kind: arrayShape, elem: shapeOf(t.Elem(), building), length: t.Len()}
	case reflect.Map:
		return &shape{kind: mapShape, nullable: true, elem: shapeOf(t.Elem(), building)}
	case reflect.Interface:
		return anyShape
	}
	return &shape{kind: leafShape, typ: t}
}

// zeroEncodesNull reports whether encoding/json writes t's zero value as
// null, as a type with its own MarshalJSON may.
func zeroEncodesNull(t reflect.Type) bool {
	b, err := json.Marshal(reflect.Zero(t).Interface())
	return err == nil && string(b) == "null"
}

func structShape(t reflect.Type, building map[reflect.Type]bool) *shape {
	if building[t] {
		panic("domain: strict decoding cannot follow the recursive type " + t.String())
	}
	building[t] = true
	defer delete(building, t)
	s := &shape{kind: objectShape, fields: map[string]int{}}
	addMembers(s, t, building)
	return s
}

// addMembers adds the JSON members of struct t to s, those of an untagged
// embedded struct promoted as encoding/json promotes them.
func addMembers(s *shape, t reflect.Type, building map[reflect.Type]bool) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addMembers(s, f.Type, building)
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Pointer {
			panic(fmt.Sprintf("domain: strict decoding cannot follow %s: embedded pointer %s", t, f.Type))
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := s.fields[name]; dup || len(s.names) == maxShapeFields {
			panic(fmt.Sprintf("domain: strict decoding cannot follow %s: field %q given twice or past %d fields",
				t, name, maxShapeFields))
		}
		member := shapeOf(f.Type, building)
		if hasTagOption(opts, "string") {
			member = &shape{kind: leafShape}
		}
		s.fields[name] = len(s.names)
		if !hasTagOption(opts, "omitempty") && !hasTagOption(opts, "omitzero") {
			s.required |= 1 << len(s.names)
		}
		s.names, s.members = append(s.names, name), append(s.members, member)
	}
}

func hasTagOption(opts, want string) bool {
	for opts != "" {
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		if opt == want {
			return true
		}
	}
	return false
}

// shapeError is data that does not fit its shape, at a path such as
// items[0].unit_price.
type shapeError struct {
	rev []string // the path's segments, innermost first
	msg string
	key string // the member at fault: an unknown or repeated key
}

// Error implements error.
func (e *shapeError) Error() string {
	var b strings.Builder
	for i := len(e.rev) - 1; i >= 0; i-- {
		b.WriteString(e.rev[i])
	}
	path := strings.TrimPrefix(b.String(), ".")
	if path == "" {
		return e.msg
	}
	return path + ": " + e.msg
}

// within adds segment, the member or element err occurred in, to err's
// path.
func within(err error, segment string) error {
	if se, ok := err.(*shapeError); ok {
		se.rev = append(se.rev, segment)
	}
	return err
}

func shapeErrorf(format string, args ...any) error {
	return &shapeError{msg: fmt.Sprintf(format, args...)}
}

// checkShape reports the first way data does not fit s, or nil.
func checkShape(data []byte, s *shape) error {
	c := checker{data: data}
	c.space()
	if err := c.value(s, 0); err != nil {
		return err
	}
	if c.space(); c.i != len(c.data) {
		return c.syntaxError("data after the value")
	}
	return nil
}

// checker walks JSON data, from index i.
type checker struct {
	data []byte
	i    int
	req  *requestRules // nil for events
}

func (c *checker) syntaxError(what string) error {
	return shapeErrorf("malformed JSON at offset %d: %s", c.i, what)
}

func (c *checker) space() {
	for c.i < len(c.data) {
		switch c.data[c.i] {
		case ' ', '\t', '\r', '\n':
			c.i++
		default:
			return
		}
	}
}

func (c *checker) value(s *shape, depth int) error {
	if depth > maxShapeDepth {
		return c.syntaxError("nested too deeply")
	}
	if c.i >= len(c.data) {
		return c.syntaxError("unexpected end")
	}
	switch b := c.data[c.i]; {
	case b == 'n':
		if err := c.literal("null"); err != nil {
			return err
		}
		if !s.nullable {
			return shapeErrorf("null is not allowed here")
		}
		return nil
	case s.kind == objectShape:
		if b != '{' {
			return shapeErrorf("want an object")
		}
		return c.object(s, depth)
	case s.kind == arrayShape:
		if b != '[' {
			return shapeErrorf("want an array")
		}
		return c.array(s, depth)
	case s.kind == mapShape:
		if b != '{' {
			return shapeErrorf("want an object")
		}
		return c.anyObject(s.elem, depth)
	}
	if c.req != nil {
		return c.requestLeaf(s, depth)
	}
	return c.skip(depth)
}

// object checks an object of a struct's shape s: known members only, each
// once, every required one present.
func (c *checker) object(s *shape, depth int) error {
	c.i++
	var seen uint64
	for more, err := c.first('}'); more; more, err = c.next('}') {
		if err != nil {
			return err
		}
		key, err := c.key()
		if err != nil {
			return err
		}
		idx, ok := s.fields[string(key)]
		if !ok {
			return unknownField(s, key)
		}
		if seen&(1<<idx) != 0 {
			return &shapeError{msg: fmt.Sprintf("duplicate field %q", key), key: string(key)}
		}
		seen |= 1 << idx
		if err := c.value(s.members[idx], depth+1); err != nil {
			return within(err, "."+s.names[idx])
		}
	}
	if missing := s.required &^ seen; missing != 0 && c.req == nil {
		for i, name := range s.names {
			if missing&(1<<i) != 0 {
				return shapeErrorf("missing field %q", name)
			}
		}
	}
	return nil
}

func unknownField(s *shape, key []byte) error {
	for _, name := range s.names {
		if strings.EqualFold(name, string(key)) {
			return &shapeError{msg: fmt.Sprintf("unknown field %q (the field is %q)", key, name), key: string(key)}
		}
	}
	return &shapeError{msg: fmt.Sprintf("unknown field %q", key), key: string(key)}
}

// anyObject checks an object of any keys, each once, whose values have
// shape elem.
func (c *checker) anyObject(elem *shape, depth int) error {
	c.i++
	seen := map[string]bool{}
	for more, err := c.first('}'); more; more, err = c.next('}') {
		if err != nil {
			return err
		}
		key, err := c.key()
		if err != nil {
			return err
		}
		if seen[string(key)] {
			return shapeErrorf("duplicate field %q", key)
		}
		seen[string(key)] = true
		if err := c.value(elem, depth+1); err != nil {
			return within(err, memberSegment(key))
		}
	}
	return nil
}

// memberSegment is the path segment of an object's member key: .key, or
// ["key"] for a key that is not a plain name.
func memberSegment(key []byte) string {
	if len(key) == 0 {
		return `[""]`
	}
	for _, b := range key {
		if !(b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
			return fmt.Sprintf("[%q]", key)
		}
	}
	return "." + string(key)
}

func (c *checker) array(s *shape, depth int) error {
	c.i++
	n := 0
	for more, err := c.first(']'); more; more, err = c.next(']') {
		if err != nil {
			return err
		}
		if err := c.value(s.elem, depth+1); err != nil {
			return within(err, fmt.Sprintf("[%d]", n))
		}
		n++
	}
	if s.length >= 0 && n != s.length {
		return shapeErrorf("want %d elements, got %d", s.length, n)
	}
	return nil
}

// first reads what follows the opening bracket of an object or array that
// closer ends: more is false when it is empty.
func (c *checker) first(closer byte) (more bool, err error) {
	if c.space(); c.i < len(c.data) && c.data[c.i] == closer {
		c.i++
		return false, nil
	}
	return true, nil
}

// next reads what follows an element: a comma (more is true) or closer.
func (c *checker) next(closer byte) (more bool, err error) {
	c.space()
	switch {
	case c.i >= len(c.data):
		return true, c.syntaxError("unexpected end")
	case c.data[c.i] == ',':
		c.i++
		c.space()
		return true, nil
	case c.data[c.i] == closer:
		c.i++
		return false, nil
	}
	return true, c.syntaxError("want a comma or " + string(closer))
}

// key reads an object's key and the colon after it; the key is unescaped
// when it holds escapes.
func (c *checker) key() ([]byte, error) {
	start := c.i
	raw, escaped, err := c.str()
	if err != nil {
		return nil, err
	}
	if escaped {
		var s string
		if err := json.Unmarshal(c.data[start:c.i], &s); err != nil {
			return nil, c.syntaxError("a key that does not unescape")
		}
		raw = []byte(s)
	}
	if c.space(); c.i >= len(c.data) || c.data[c.i] != ':' {
		return nil, c.syntaxError("want a colon")
	}
	c.i++
	c.space()
	return raw, nil
}
