package domain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// fxSampleEvents are events of every type this file's author owns, as
// decide makes them, to seed the fuzzer.
func fxSampleEvents(t fxTB) []Event {
	t.Helper()
	s := fxNewSub(t, fxCreateCmd())
	over := "7.25"
	add := fxAdd(fxSeat, 2)
	add.UnitPrice = &over
	s = s.amend(t, "2025-03-01", fxQty(fxID(200), 8), fxRemove(fxID(202)), add)
	s = s.cancel(t, "2025-03-05", CancelSubscription{Policy: "specific_date", Date: fxDate("2025-04-01"), Reason: "budget"})
	events := append([]Event{}, s.log...)
	var a Account
	events = append(events, fxMust(t)(a.Create(CreateAccount{AccountID: fxAcct, TenantID: fxTenant, Name: "Acme",
		Currency: "EUR", Billing: fxBilling()}, fxPartner, fxAt("2025-01-01")))...)
	events = append(events,
		&AccountBillingUpdated{AccountID: fxAcct, Billing: Billing{ContactName: "Bo", Email: "bo@x.io", InvoiceDelivery: "portal"}},
		&AccountClosed{AccountID: fxAcct, Reason: "gone", ClosedBy: fxActor, ClosedAt: fxAt("2025-05-01")})
	for _, p := range fxCatalog(t) {
		events = append(events, &ProductCreated{ProductID: p.ID, TenantID: p.TenantID, Name: p.Name, SKU: p.SKU,
			Charges: p.Charges, CreatedBy: p.CreatedBy, CreatedAt: p.CreatedAt})
	}
	var u SubscriptionUsage
	recs := []UsageRecord{fxRecord(0, 900, fxID(203), "12.5", "2025-02-01")}
	usage, _, err := u.Record(recs, s.Subscription, fxActor, fxAt("2025-02-02"))
	if err != nil {
		t.Fatalf("usage: %v", err)
	}
	return append(events, usage...)
}

// FuzzUnmarshalEvent decodes arbitrary data as each registered event type
// at a schema version: it never panics; what it decodes strictly, lenient
// encoding/json reads alike (strictness only refuses) and holds no key
// twice; at the current version it encodes to no member the data lacked
// (none unknown, none missing, none of another case) and to data that
// decodes to an equal event (decimals and instants compared by value) and
// encodes the same again.
func FuzzUnmarshalEvent(f *testing.F) {
	names := EventTypes()
	slices.Sort(names)
	for _, e := range fxSampleEvents(f) {
		name, version, data, err := MarshalEvent(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint(slices.Index(names, name)), version, data)
	}
	f.Add(uint(0), 1, []byte(`{"quantity":"1e999999999"}`))
	f.Add(uint(1), 1, []byte(`{"cancel_date":"2025-02-30"}`))
	sub := uint(slices.Index(names, "SubscriptionCreated"))
	for _, seed := range []string{gdV0SubscriptionCreated,
		`{"subscription_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b10","SUBSCRIPTION_ID":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b10"}`,
		`{"items":[{"price":"1"}],"items":[]}`, "{\"currency\":\"EU\xffR\"}", `{"currency":"\ud800"}`,
	} {
		f.Add(sub, 0, []byte(seed))
		f.Add(sub, 1, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, which uint, version int, data []byte) {
		name := names[which%uint(len(names))]
		e, err := UnmarshalEvent(name, version, data)
		if err != nil || fxHugeDecimal(reflect.ValueOf(e)) {
			return
		}
		fxCheckStrict(t, name, version, data, e)
		name1, v1, b1, err := MarshalEvent(e)
		if err != nil || name1 != name || v1 != SchemaVersion(name) {
			t.Fatalf("decoded %s %s does not encode: %v", name, data, err)
		}
		e2, err := UnmarshalEvent(name, v1, b1)
		if err != nil {
			t.Fatalf("encoded %s %s does not decode: %v", name, b1, err)
		}
		if !fxSameValue(reflect.ValueOf(e), reflect.ValueOf(e2)) {
			t.Fatalf("%s round trip differs:\n%#v\n%#v", name, e, e2)
		}
		if _, _, b2, err := MarshalEvent(e2); err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("%s encodes as %s then %s (%v)", name, b1, b2, err)
		}
		if version == v1 && !fxMembersWithin(t, b1, data) {
			t.Fatalf("%s v%d %s decoded, but encodes as %s, with a member it lacks", name, version, data, b1)
		}
	})
}

// fxCheckStrict checks e, decoded strictly from data, against what
// encoding/json makes of data, at the current version: the same event,
// and no object in data with a key twice.
func fxCheckStrict(t *testing.T, name string, version int, data []byte, e Event) {
	t.Helper()
	if version != SchemaVersion(name) {
		return
	}
	lenient := registry[name].newEvent()
	if err := json.Unmarshal(data, lenient); err != nil || !fxSameValue(reflect.ValueOf(e), reflect.ValueOf(lenient)) {
		t.Fatalf("%s %s decodes strictly as %#v, leniently as %#v (%v)", name, data, e, lenient, err)
	}
	if fxDuplicateKey(json.NewDecoder(bytes.NewReader(data))) {
		t.Fatalf("%s %s decodes strictly with a key given twice", name, data)
	}
}

// fxDuplicateKey reports whether the next value of dec is or holds an
// object with a key given twice, reading its tokens.
func fxDuplicateKey(dec *json.Decoder) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return false
			}
			if k, _ := key.(string); seen[k] {
				return true
			}
			seen[key.(string)] = true
			if fxDuplicateKey(dec) {
				return true
			}
		}
		_, _ = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if fxDuplicateKey(dec) {
				return true
			}
		}
		_, _ = dec.Token()
	}
	return false
}

// fxMembersWithin reports whether every member of every object in the
// JSON out is in the object at the same place in in, case included, and
// arrays have the same lengths.
func fxMembersWithin(t *testing.T, out, in []byte) bool {
	t.Helper()
	var o, i any
	if json.Unmarshal(out, &o) != nil || json.Unmarshal(in, &i) != nil {
		t.Fatalf("%s or %s is not JSON", out, in)
	}
	return fxWithin(o, i)
}

func fxWithin(out, in any) bool {
	switch o := out.(type) {
	case map[string]any:
		i, ok := in.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range o {
			if iv, ok := i[k]; !ok || !fxWithin(v, iv) {
				return false
			}
		}
	case []any:
		i, ok := in.([]any)
		if !ok || len(i) != len(o) {
			return false
		}
		for n := range o {
			if !fxWithin(o[n], i[n]) {
				return false
			}
		}
	}
	return true
}

var (
	fxDecimalType = reflect.TypeFor[decimal.Decimal]()
	fxTimeType    = reflect.TypeFor[time.Time]()
)

// fxSameValue is reflect.DeepEqual but for decimals and instants, compared
// by value, and empty slices and maps, equal to nil ones.
func fxSameValue(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case fxDecimalType:
		return a.Interface().(decimal.Decimal).Equal(b.Interface().(decimal.Decimal))
	case fxTimeType:
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return fxSameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !fxSameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !fxSameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if v := b.MapIndex(k); !v.IsValid() || !fxSameValue(a.MapIndex(k), v) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	return false
}

// fxHugeDecimal reports whether v holds a decimal whose exponent is
// absurd: encoding 1e999999999 writes a billion digits. Decide never makes
// such a decimal (prices and quantities are bounded).
func fxHugeDecimal(v reflect.Value) bool {
	if v.Type() == fxDecimalType {
		exp := v.Interface().(decimal.Decimal).Exponent()
		return exp > 1000 || exp < -1000
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && fxHugeDecimal(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && fxHugeDecimal(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if fxHugeDecimal(v.Index(i)) {
				return true
			}
		}
	}
	return false
}
