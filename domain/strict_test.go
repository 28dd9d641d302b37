package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// gdV0SubscriptionCreated is SubscriptionCreated in a test-only version 0,
// whose items named their unit price "price": the example shape that
// gdUpcastItemPrice brings to version 1.
const gdV0SubscriptionCreated = `{"subscription_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b0a",` +
	`"tenant_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b01","account_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b07",` +
	`"currency":"EUR","start_date":"2025-01-01","term":{"type":"evergreen","auto_renew":false},` +
	`"items":[{"id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b25","product_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b09",` +
	`"charge_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b21","name":"Seat","type":"recurring","quantity":10,` +
	`"price":"22.5","billing_period":"month"}],` +
	`"created_by":{"type":"tenant_user","id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b03"},"created_at":"2025-01-06T10:00:00Z"}`

func init() {
	upcast("SubscriptionCreated", 0, gdUpcastItemPrice)
}

// gdUpcastItemPrice renames every item's "price" to "unit_price", as an
// upcaster does: on the raw JSON, refusing a shape it does not know.
func gdUpcastItemPrice(data []byte) ([]byte, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, err
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(ev["items"], &items); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	for i, it := range items {
		price, ok := it["price"]
		if !ok {
			return nil, fmt.Errorf("items[%d]: no price", i)
		}
		delete(it, "price")
		it["unit_price"] = price
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	ev["items"] = raw
	return json.Marshal(ev)
}

// gdGolden returns the compacted golden file of name at version 1.
func gdGolden(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(gdDir + "/" + name + ".v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestStrictDecodingRefuses: each change to a good SubscriptionCreated
// that lenient encoding/json would accept, or read as zero, is refused
// with the type, the version and the place.
func TestStrictDecodingRefuses(t *testing.T) {
	t.Parallel()
	good := gdGolden(t, "SubscriptionCreated")
	edit := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("golden lacks %s", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		name, data, want string
	}{
		{"misspelled", strings.ReplaceAll(good, `"unit_price":`, `"price":`), `items[0]: unknown field "price"`},
		{"unknown", edit(`{"subscription_id"`, `{"discount":"10","subscription_id"`), `unknown field "discount"`},
		{"missing", edit(`"currency":"EUR",`, ``), `missing field "currency"`},
		{"missing nested", edit(`"created_by":{"type":"partner_user",`, `"created_by":{`), `created_by: missing field "type"`},
		{"missing in array", edit(`"quantity":1,`, ``), `items[1]: missing field "quantity"`},
		{"wrong case", edit(`"unit_price":`, `"Unit_Price":`), `items[0]: unknown field "Unit_Price" (the field is "unit_price")`},
		{"wrong case top", edit(`"currency":`, `"Currency":`), `unknown field "Currency" (the field is "currency")`},
		{"duplicate", edit(`"currency":"EUR"`, `"currency":"EUR","currency":"USD"`), `duplicate field "currency"`},
		{"duplicate escaped", edit(`"currency":"EUR"`, `"currency":"EUR","\u0063urrency":"USD"`), `duplicate field "currency"`},
		{"duplicate nested", edit(`"months":12`, `"months":12,"months":1`), `term: duplicate field "months"`},
		{"null", edit(`"currency":"EUR"`, `"currency":null`), `currency: null is not allowed here`},
		{"null object", edit(`"term":{`, `"term":null,"x":{`), `term: null is not allowed here`},
		{"null id", edit(`"account_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b07"`, `"account_id":null`), `account_id: null`},
		{"not UTF-8", edit(`"name":"Seat"`, "\"name\":\"Se\xffat\""), `items[0].name: a string that is not UTF-8`},
		{"lone surrogate", edit(`"name":"Seat"`, `"name":"Se\udc00at"`), `items[0].name: a lone surrogate`},
		{"not an array", edit(`"items":[`, `"items":{"a":[`), `items: want an array`},
		{"not an object", edit(`"term":{"type":"termed","months":12,"auto_renew":true}`, `"term":"termed"`), `term: want an object`},
		{"wrong type", edit(`"quantity":10`, `"quantity":"10"`), `cannot unmarshal string`},
		{"trailing data", good + `{}`, `data after the value`},
		{"truncated", good[:len(good)-1], `unexpected end`},
		{"top-level null", `null`, `null is not allowed here`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := UnmarshalEvent("SubscriptionCreated", 1, []byte(c.data))
			if !errors.Is(err, ErrUnreadableEvent) || !strings.Contains(err.Error(), "SubscriptionCreated v1: ") ||
				!strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrUnreadableEvent naming SubscriptionCreated v1 and %q", err, c.want)
			}
		})
	}
}

// TestLenientDecodingReadZeros shows what strict decoding prevents: the
// misspelled price reads as a price of 0 and an MRR of 0 with
// encoding/json alone.
func TestLenientDecodingReadZeros(t *testing.T) {
	t.Parallel()
	data := strings.ReplaceAll(gdGolden(t, "SubscriptionCreated"), `"unit_price":`, `"price":`)
	var e SubscriptionCreated
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		t.Fatal(err)
	}
	var s Subscription
	s.Apply(&e)
	if !s.MRR(fxDate("2025-01-15")).IsZero() {
		t.Fatalf("lenient MRR %s, want the silent 0 strict decoding refuses", s.MRR(fxDate("2025-01-15")))
	}
}

// TestSchemaVersions: a version newer than the build's, a version without
// an upcaster and an unknown type are refused, naming type and version.
func TestSchemaVersions(t *testing.T) {
	t.Parallel()
	account := gdGolden(t, "AccountCreated")
	cases := []struct {
		name    string
		version int
		data    string
		want    string
	}{
		{"SubscriptionCreated", 2, gdGolden(t, "SubscriptionCreated"), "SubscriptionCreated v2: schema version 2 is newer than this build's 1"},
		{"AccountCreated", 0, account, "AccountCreated v0: no upcaster from schema version 0 to 1"},
		{"AccountCreated", -3, account, "AccountCreated v-3: no upcaster from schema version -3 to -2"},
		{"SubscriptionPaused", 1, `{}`, `unknown type "SubscriptionPaused" v1`},
	}
	for _, c := range cases {
		_, err := UnmarshalEvent(c.name, c.version, []byte(c.data))
		if !errors.Is(err, ErrUnreadableEvent) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s v%d: error %v, want %q", c.name, c.version, err, c.want)
		}
	}
	if v := SchemaVersion("SubscriptionPaused"); v != 0 {
		t.Errorf("SchemaVersion of an unknown type = %d, want 0", v)
	}
	if _, _, _, err := MarshalEvent(gdUnregistered{}); !errors.Is(err, ErrUnreadableEvent) {
		t.Errorf("an unregistered type marshals: %v", err)
	}
}

// gdUnregistered is an event type that is not registered.
type gdUnregistered struct{}

func (gdUnregistered) EventType() string { return "Unregistered" }

// TestUpcaster reads the test-only version 0 of SubscriptionCreated
// through its upcaster, and refuses the same data as version 1.
func TestUpcaster(t *testing.T) {
	t.Parallel()
	e, err := UnmarshalEvent("SubscriptionCreated", 0, []byte(gdV0SubscriptionCreated))
	if err != nil {
		t.Fatalf("v0: %v", err)
	}
	var s Subscription
	s.Apply(e)
	if got := s.MRR(fxDate("2025-02-01")); !got.Equal(decimal.RequireFromString("225")) {
		t.Fatalf("v0 upcast MRR %s, want 225 (10 × 22.50)", got)
	}
	if _, err := UnmarshalEvent("SubscriptionCreated", 1, []byte(gdV0SubscriptionCreated)); err == nil ||
		!strings.Contains(err.Error(), `items[0]: unknown field "price"`) {
		t.Fatalf("v0 data read as v1: %v", err)
	}
	refused := []struct{ name, data, want string }{
		{"upcaster refuses", strings.Replace(gdV0SubscriptionCreated, `"price":"22.5",`, ``, 1),
			"SubscriptionCreated v0: upcast from schema version 0: items[0]: no price"},
		{"duplicate before upcasting", strings.Replace(gdV0SubscriptionCreated, `"price":"22.5"`, `"price":"22.5","price":"0"`, 1),
			`SubscriptionCreated v0: items[0]: duplicate field "price"`},
		{"upcast data checked strictly", strings.Replace(gdV0SubscriptionCreated, `"price":"22.5"`, `"price":"22.5","vat":"0"`, 1),
			`SubscriptionCreated v0: items[0]: unknown field "vat"`},
	}
	for _, c := range refused {
		if _, err := UnmarshalEvent("SubscriptionCreated", 0, []byte(c.data)); !errors.Is(err, ErrUnreadableEvent) ||
			!strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// gdProbe has a field of each kind strict decoding follows.
type gdProbe struct {
	gdEmbedded
	Name   string         `json:"name"`
	Opt    int            `json:"opt,omitempty"`
	Tags   map[string]int `json:"tags"`
	Pair   [2]int         `json:"pair"`
	Since  *Date          `json:"since"`
	Day    Date           `json:"day"`
	Count  int64          `json:"count,string"`
	Secret string         `json:"-"`
	Blob   []byte
	Any    any `json:"any"`
	hidden int
}

type gdEmbedded struct {
	Kind string `json:"kind"`
}

// TestCheckShape checks strict decoding on the kinds of field no event
// has today: embedded structs, maps, arrays, pointers, ",string", "-",
// untagged fields and interfaces.
func TestCheckShape(t *testing.T) {
	t.Parallel()
	probe := shapeOf(reflect.TypeFor[gdProbe](), map[reflect.Type]bool{})
	const good = `{"kind":"k","name":"n","tags":{"a":1},"pair":[1,2],"since":null,"day":null,"count":"7","Blob":"AQI=","any":{"x":[1,{"y":null}]}}`
	if err := checkShape([]byte(good), probe); err != nil {
		t.Fatalf("good probe: %v", err)
	}
	cases := []struct{ name, data, want string }{
		{"promoted missing", strings.Replace(good, `"kind":"k",`, ``, 1), `missing field "kind"`},
		{"map duplicate", strings.Replace(good, `{"a":1}`, `{"a":1,"a":2}`, 1), `tags: duplicate field "a"`},
		{"map value", strings.Replace(good, `{"a":1}`, `{"a":null}`, 1), `tags.a: null is not allowed`},
		{"array short", strings.Replace(good, `[1,2]`, `[1]`, 1), `pair: want 2 elements, got 1`},
		{"array long", strings.Replace(good, `[1,2]`, `[1,2,3]`, 1), `pair: want 2 elements, got 3`},
		{"skipped field", strings.Replace(good, `"name":"n"`, `"name":"n","Secret":"s"`, 1), `unknown field "Secret"`},
		{"unexported", strings.Replace(good, `"name":"n"`, `"name":"n","hidden":1`, 1), `unknown field "hidden"`},
		{"untagged case", strings.Replace(good, `"Blob"`, `"blob"`, 1), `unknown field "blob" (the field is "Blob")`},
		{"any duplicate", strings.Replace(good, `{"y":null}`, `{"y":null,"y":1}`, 1), `any.x[1]: duplicate field "y"`},
		{"any not UTF-8", strings.Replace(good, `"x"`, "\"x\xc3\"", 1), `a string that is not UTF-8`},
		{"bad number", strings.Replace(good, `[1,2]`, `[1,02]`, 1), `malformed JSON`},
		{"bad escape", strings.Replace(good, `"n"`, `"\x"`, 1), `malformed escape`},
		{"control character", strings.Replace(good, `"n"`, "\"\n\"", 1), `control character`},
		{"high surrogate alone", strings.Replace(good, `"n"`, `"\ud83d"`, 1), `lone surrogate`},
		{"deep", strings.Replace(good, `"any":{`, `"any":`+strings.Repeat("[", maxShapeDepth+2)+`{`, 1), `nested too deeply`},
	}
	for _, c := range cases {
		if err := checkShape([]byte(c.data), probe); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if err := checkShape([]byte(strings.Replace(good, `"n"`, `"\ud83d\ude00"`, 1)), probe); err != nil {
		t.Errorf("a surrogate pair: %v", err)
	}
}

// BenchmarkUnmarshalEvent measures strict decoding, its shape check alone
// and encoding/json alone, for the events most of a log holds.
func BenchmarkUnmarshalEvent(b *testing.B) {
	for _, name := range []string{"UsageRecorded", "SubscriptionCreated", "SubscriptionAmended"} {
		data := []byte(gdGolden(b, name))
		b.Run(name+"/strict", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := UnmarshalEvent(name, 1, data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/shape-check-only", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := checkShape(data, registry[name].shape); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := json.Unmarshal(data, registry[name].newEvent()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
