package commands

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"github.com/shopspring/decimal"
)

// The encoding of an aggregate's state in a persisted snapshot is JSON,
// field by field under the Go field's name, and keeps exactly what the
// state holds: a decimal its coefficient and exponent ("1200e-2", where
// decimal's own JSON would drop the trailing zeros), a nil slice, map or
// pointer stays nil and an empty one empty, a pointer is null or a list
// of its one value, a map is a list of [key, value] pairs (its keys need
// not be strings), and a type with its own JSON or text encoding (dates,
// instants, ids) uses it. Every field of a state must be exported.
// Decoding is strict: a field missing, unknown or of another shape is an
// error, never a silent zero.

var (
	decimalType     = reflect.TypeFor[decimal.Decimal]()
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

var jsonNull = []byte("null")

// errUnencodable reports a state that the snapshot encoding cannot hold.
var errUnencodable = errors.New("not encodable in a snapshot")

// encodeState encodes the value state points to.
func encodeState(state any) ([]byte, error) {
	v := reflect.ValueOf(state)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, fmt.Errorf("encode state %T: %w: not a pointer to a state", state, errUnencodable)
	}
	tree, err := encodeValue(v.Elem())
	if err != nil {
		return nil, fmt.Errorf("encode state %T: %w", state, err)
	}
	return json.Marshal(tree)
}

// decodeState decodes data into a new value of type t and returns a
// pointer to it.
func decodeState(t reflect.Type, data []byte) (any, error) {
	p := reflect.New(t)
	if err := decodeValue(data, p.Elem()); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", t, err)
	}
	return p.Interface(), nil
}

// codecOf says how values of t are encoded: "decimal", "json" or "text"
// for the types encoded by their own methods, "" for the others.
func codecOf(t reflect.Type) string {
	switch {
	case t == decimalType:
		return "decimal"
	case t.Implements(jsonMarshaler) && reflect.PointerTo(t).Implements(jsonUnmarshaler):
		return "json"
	case t.Implements(textMarshaler) && reflect.PointerTo(t).Implements(textUnmarshaler):
		return "text"
	}
	return ""
}

func encodeValue(v reflect.Value) (any, error) {
	switch codecOf(v.Type()) {
	case "decimal":
		d := v.Interface().(decimal.Decimal)
		return d.Coefficient().String() + "e" + strconv.Itoa(int(d.Exponent())), nil
	case "json":
		raw, err := v.Interface().(json.Marshaler).MarshalJSON()
		return json.RawMessage(raw), err
	case "text":
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		return string(text), err
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), nil
	case reflect.String:
		return v.String(), nil
	case reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		elem, err := encodeValue(v.Elem())
		return []any{elem}, err
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil, nil
		}
		return encodeList(v)
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		return encodeMap(v)
	case reflect.Struct:
		return encodeStruct(v)
	}
	return nil, fmt.Errorf("%w: a value of kind %s (%s)", errUnencodable, v.Kind(), v.Type())
}

func encodeList(v reflect.Value) (any, error) {
	out := make([]any, v.Len())
	for i := range out {
		var err error
		if out[i], err = encodeValue(v.Index(i)); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return out, nil
}

// encodeMap encodes v as [key, value] pairs, in the order of their
// encoded keys, so that one state always encodes to the same bytes.
func encodeMap(v reflect.Value) (any, error) {
	type pair struct {
		key   []byte
		entry [2]any
	}
	pairs := make([]pair, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		key, err := encodeValue(it.Key())
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		value, err := encodeValue(it.Value())
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		sortKey, err := json.Marshal(key)
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		pairs = append(pairs, pair{key: sortKey, entry: [2]any{key, value}})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return bytes.Compare(a.key, b.key) })
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = p.entry
	}
	return out, nil
}

func encodeStruct(v reflect.Value) (any, error) {
	t := v.Type()
	out := make(map[string]any, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			return nil, fmt.Errorf("%w: %s.%s is unexported", errUnencodable, t, f.Name)
		}
		value, err := encodeValue(v.Field(i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		out[f.Name] = value
	}
	return out, nil
}

// decodeValue decodes data into v, which must be settable.
func decodeValue(data []byte, v reflect.Value) error {
	switch codecOf(v.Type()) {
	case "decimal":
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		d, err := decimal.NewFromString(s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
		return nil
	case "json":
		return v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(data)
	case "text":
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.Bool, reflect.String:
		return decodeScalar(data, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		if err := decodeScalar(data, reflect.ValueOf(&n).Elem()); err != nil {
			return err
		}
		if v.OverflowInt(n) {
			return fmt.Errorf("%d overflows %s", n, v.Type())
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var n uint64
		if err := decodeScalar(data, reflect.ValueOf(&n).Elem()); err != nil {
			return err
		}
		if v.OverflowUint(n) {
			return fmt.Errorf("%d overflows %s", n, v.Type())
		}
		v.SetUint(n)
		return nil
	case reflect.Pointer:
		return decodePointer(data, v)
	case reflect.Slice, reflect.Array:
		return decodeList(data, v)
	case reflect.Map:
		return decodeMap(data, v)
	case reflect.Struct:
		return decodeStruct(data, v)
	}
	return fmt.Errorf("%w: a value of kind %s (%s)", errUnencodable, v.Kind(), v.Type())
}

// decodeScalar decodes a JSON boolean, number or string, never null,
// into v.
func decodeScalar(data []byte, v reflect.Value) error {
	if bytes.Equal(data, jsonNull) {
		return fmt.Errorf("null for a %s", v.Type())
	}
	return json.Unmarshal(data, v.Addr().Interface())
}

// decodeElements decodes a JSON list into its elements' raw JSON; ok is
// false for null.
func decodeElements(data []byte) (elems []json.RawMessage, ok bool, err error) {
	if bytes.Equal(data, jsonNull) {
		return nil, false, nil
	}
	if err := json.Unmarshal(data, &elems); err != nil {
		return nil, false, err
	}
	if elems == nil {
		return nil, false, errors.New("not a list")
	}
	return elems, true, nil
}

func decodePointer(data []byte, v reflect.Value) error {
	elems, ok, err := decodeElements(data)
	switch {
	case err != nil:
		return err
	case !ok:
		v.SetZero()
		return nil
	case len(elems) != 1:
		return fmt.Errorf("a pointer as a list of %d values", len(elems))
	}
	p := reflect.New(v.Type().Elem())
	if err := decodeValue(elems[0], p.Elem()); err != nil {
		return err
	}
	v.Set(p)
	return nil
}

func decodeList(data []byte, v reflect.Value) error {
	elems, ok, err := decodeElements(data)
	switch {
	case err != nil:
		return err
	case !ok && v.Kind() == reflect.Slice:
		v.SetZero()
		return nil
	case v.Kind() == reflect.Array && len(elems) != v.Len():
		return fmt.Errorf("%d values for a %s", len(elems), v.Type())
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), len(elems), len(elems)))
	}
	for i, elem := range elems {
		if err := decodeValue(elem, v.Index(i)); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

func decodeMap(data []byte, v reflect.Value) error {
	elems, ok, err := decodeElements(data)
	if err != nil || !ok {
		v.SetZero()
		return err
	}
	m := reflect.MakeMapWithSize(v.Type(), len(elems))
	for i, elem := range elems {
		var pair []json.RawMessage
		if err := json.Unmarshal(elem, &pair); err != nil || len(pair) != 2 {
			return fmt.Errorf("map entry %d is not a [key, value] pair", i)
		}
		key, value := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		if err := decodeValue(pair[0], key); err != nil {
			return fmt.Errorf("map key %d: %w", i, err)
		}
		if err := decodeValue(pair[1], value); err != nil {
			return fmt.Errorf("map value %d: %w", i, err)
		}
		m.SetMapIndex(key, value)
	}
	if m.Len() != len(elems) {
		return errors.New("a map with a key given twice")
	}
	v.Set(m)
	return nil
}

func decodeStruct(data []byte, v reflect.Value) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	if fields == nil {
		return fmt.Errorf("null for a %s", v.Type())
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		raw, ok := fields[f.Name]
		if !ok {
			return fmt.Errorf("%s: missing", f.Name)
		}
		if !f.IsExported() {
			return fmt.Errorf("%w: %s.%s is unexported", errUnencodable, t, f.Name)
		}
		if err := decodeValue(raw, v.Field(i)); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	if len(fields) != t.NumField() {
		return fmt.Errorf("%d fields for a %s of %d", len(fields), t, t.NumField())
	}
	return nil
}
