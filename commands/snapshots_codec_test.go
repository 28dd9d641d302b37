package commands

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"ledger/domain"
)

// snapshotEvents are the events each snapshotted aggregate applies, by the
// category of its streams.
var snapshotEvents = map[string][]domain.Event{
	"tenant":  {&domain.TenantCreated{}, &domain.TenantUserAdded{}, &domain.TenantUserRemoved{}},
	"partner": {&domain.PartnerCreated{}, &domain.PartnerUserAdded{}, &domain.PartnerUserRemoved{}},
	"access": {&domain.PartnerAccessGranted{}, &domain.PartnerAccessChanged{}, &domain.PartnerAccessAccountAssigned{},
		&domain.PartnerAccessAccountUnassigned{}, &domain.PartnerAccessRevoked{}},
	"account": {&domain.AccountCreated{}, &domain.AccountBillingUpdated{}, &domain.AccountClosed{}},
	"product": {&domain.ProductCreated{}},
	"sku":     {&domain.SKUReserved{}},
	"subscription": {&domain.SubscriptionCreated{}, &domain.SubscriptionAmended{}, &domain.ScheduledChangeWithdrawn{},
		&domain.SubscriptionCancelled{}, &domain.SubscriptionRenewed{}, &domain.SubscriptionTermEnded{}},
	"usage":          {&domain.UsageRecorded{}},
	"invoices":       {&domain.InvoiceIssued{}, &domain.InvoiceVoided{}},
	"invoicenumbers": {&domain.InvoicesNumbered{}},
	"billrun":        {&domain.BillRunStarted{}, &domain.BillRunCompleted{}},
	"accessrequest":  {&domain.AccessRequested{}, &domain.AccessRequestApproved{}, &domain.AccessRequestRejected{}},
}

type applier interface{ Apply(domain.Event) }

// TestSnapshotStatesRoundTrip: for random histories of every snapshotted
// aggregate, the state decoded from its snapshot is the state, and
// applying further events to either gives the same state.
func TestSnapshotStatesRoundTrip(t *testing.T) {
	t.Parallel()
	for category, st := range snapshotted {
		t.Run(category, func(t *testing.T) {
			t.Parallel()
			events := snapshotEvents[category]
			if len(events) == 0 {
				t.Fatalf("no events listed for %s", category)
			}
			rapid.Check(t, func(rt *rapid.T) {
				original := reflect.New(st)
				for i := range rapid.IntRange(0, 8).Draw(rt, "history") {
					original.Interface().(applier).Apply(drawEvent(rt, events, fmt.Sprint("event ", i)))
				}
				data, err := encodeState(original.Interface())
				if err != nil {
					rt.Fatal(err)
				}
				decoded, err := decodeState(st, data)
				if err != nil {
					rt.Fatalf("decode %s: %v", data, err)
				}
				if diff := differ(original.Elem(), reflect.ValueOf(decoded).Elem(), st.Name()); diff != "" {
					rt.Fatalf("decoded state differs at %s\nencoded: %s", diff, data)
				}
				for i := range rapid.IntRange(1, 5).Draw(rt, "further") {
					e := drawEvent(rt, events, fmt.Sprint("further ", i))
					original.Interface().(applier).Apply(e)
					decoded.(applier).Apply(e)
				}
				if diff := differ(original.Elem(), reflect.ValueOf(decoded).Elem(), st.Name()); diff != "" {
					rt.Fatalf("after further events, the states differ at %s", diff)
				}
			})
		})
	}
}

// TestSnapshotDecodingIsStrict: a record's state with a field missing,
// unknown or of another shape does not decode.
func TestSnapshotDecodingIsStrict(t *testing.T) {
	t.Parallel()
	st := reflect.TypeFor[domain.InvoiceNumbering]()
	good, err := encodeState(&domain.InvoiceNumbering{Last: 7, Version: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeState(st, good); err != nil {
		t.Fatalf("decode %s: %v", good, err)
	}
	for _, data := range []string{
		`{"Last":7}`,
		`{"Last":7,"Version":3,"Extra":1}`,
		`{"Last":"7","Version":3}`,
		`{"Last":null,"Version":3}`,
		`{"Last":7,"Version":-3}`,
		`[]`,
		`null`,
	} {
		if got, err := decodeState(st, []byte(data)); err == nil {
			t.Errorf("decode %s = %+v, want an error", data, got)
		}
	}
}

// TestSnapshotDecimalsKeepTheirExponent: 12.00 stays 12.00, not 12.
func TestSnapshotDecimalsKeepTheirExponent(t *testing.T) {
	t.Parallel()
	run := &domain.BillRun{Totals: []domain.CurrencyTotal{{Currency: "EUR", Total: decimal.RequireFromString("12.00")}}}
	data, err := encodeState(run)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := decodeState(reflect.TypeFor[domain.BillRun](), data)
	if err != nil {
		t.Fatal(err)
	}
	if got := decoded.(*domain.BillRun).Totals[0].Total.String(); got != "12" || decoded.(*domain.BillRun).Totals[0].Total.Exponent() != -2 {
		t.Fatalf("12.00 decoded as %s with exponent %d", got, decoded.(*domain.BillRun).Totals[0].Total.Exponent())
	}
}

// recordedSnapshotStates are the fingerprints of the snapshotted states
// at schema version recordedSnapshotSchema.
var (
	recordedSnapshotSchema = 1
	recordedSnapshotStates = map[string]string{
		"access":         "0346155d5dcf8b56",
		"accessrequest":  "eac793432d4190f0",
		"account":        "3111f30170f3db6c",
		"billrun":        "c77e38e131893ac0",
		"invoicenumbers": "39c7e2336dd32859",
		"invoices":       "12e132b2ca76ba30",
		"partner":        "16a1412246d677c9",
		"product":        "38df0b893de33942",
		"sku":            "f517d87e850cff59",
		"subscription":   "465dcf03294458ee",
		"tenant":         "84458abf81ce7ccf",
		"usage":          "a167731c02eb1c85",
	}
)

// TestSnapshotSchemaVersionFollowsTheStates fails when a snapshotted
// state's fields change while SnapshotSchemaVersion stays: snapshots of
// the old shape would be decoded as the new one.
func TestSnapshotSchemaVersionFollowsTheStates(t *testing.T) {
	t.Parallel()
	changed := false
	for category, st := range snapshotted {
		got := stateFingerprint(st)
		if recordedSnapshotStates[category] == got {
			continue
		}
		changed = true
		if recordedSnapshotSchema == SnapshotSchemaVersion {
			t.Errorf("the state of %s (%s) changed: bump SnapshotSchemaVersion to %d, then record its fingerprint %q and the new version here",
				category, st, SnapshotSchemaVersion+1, got)
		} else {
			t.Errorf("record the fingerprint of %s at schema version %d: %q", category, SnapshotSchemaVersion, got)
		}
	}
	for category := range recordedSnapshotStates {
		if _, ok := snapshotted[category]; !ok {
			t.Errorf("%s is no longer snapshotted: remove its fingerprint", category)
		}
	}
	if !changed && recordedSnapshotSchema != SnapshotSchemaVersion {
		t.Errorf("SnapshotSchemaVersion is %d: set recordedSnapshotSchema to it", SnapshotSchemaVersion)
	}
}

// stateFingerprint is a hash of a description of every field of t, by
// name and type, recursively, and of how each value is encoded.
func stateFingerprint(t reflect.Type) string {
	var b strings.Builder
	describe(&b, t, map[reflect.Type]bool{})
	return fmt.Sprintf("%x", sha256.Sum256([]byte(b.String())))[:16]
}

func describe(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	if codec := codecOf(t); codec != "" {
		fmt.Fprintf(b, "%s(%s)", t, codec)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteString("*")
		describe(b, t.Elem(), seen)
	case reflect.Slice:
		b.WriteString("[]")
		describe(b, t.Elem(), seen)
	case reflect.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		describe(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		describe(b, t.Key(), seen)
		b.WriteString("]")
		describe(b, t.Elem(), seen)
	case reflect.Struct:
		fmt.Fprintf(b, "%s{", t)
		if !seen[t] {
			seen[t] = true
			for i := range t.NumField() {
				fmt.Fprintf(b, "%s ", t.Field(i).Name)
				describe(b, t.Field(i).Type, seen)
				b.WriteString(";")
			}
		}
		b.WriteString("}")
	default:
		fmt.Fprintf(b, "%s(%s)", t, t.Kind())
	}
}

// drawEvent draws one of events' types with random content.
func drawEvent(rt *rapid.T, events []domain.Event, label string) domain.Event {
	pick := events[rapid.IntRange(0, len(events)-1).Draw(rt, label+" type")]
	e := reflect.New(reflect.TypeOf(pick).Elem())
	drawValue(rt, e.Elem(), label, 0)
	return e.Interface().(domain.Event)
}

// ids are few, so that events refer to what earlier ones created.
var drawnIDs = []uuid.UUID{
	uuid.MustParse("0193a1b2-0000-7000-8000-000000000001"), uuid.MustParse("0193a1b2-0000-7000-8000-000000000002"),
	uuid.MustParse("0193a1b2-0000-7000-8000-000000000003"), uuid.Nil,
}

var drawnStrings = []string{"", "a", "recurring", "usage", "month", "active", "change_quantity", "add_item",
	"remove_item", "EUR", "<&> \"quoted\" é"}

// drawValue sets v, settable, to a random value of its type.
func drawValue(rt *rapid.T, v reflect.Value, label string, depth int) {
	switch v.Type() {
	case decimalType:
		v.Set(reflect.ValueOf(decimal.New(rapid.Int64Range(-1e9, 1e9).Draw(rt, label), int32(rapid.IntRange(-8, 3).Draw(rt, label)))))
		return
	case reflect.TypeFor[time.Time]():
		at := time.Unix(rapid.Int64Range(0, 4e9).Draw(rt, label), rapid.Int64Range(0, 1e9-1).Draw(rt, label))
		zone := time.FixedZone("", 3600*rapid.IntRange(-12, 12).Draw(rt, label))
		v.Set(reflect.ValueOf([]time.Time{at.UTC(), at.In(zone), {}}[rapid.IntRange(0, 2).Draw(rt, label)]))
		return
	case reflect.TypeFor[domain.Date]():
		if rapid.IntRange(0, 4).Draw(rt, label) > 0 {
			v.Set(reflect.ValueOf(domain.NewDate(rapid.IntRange(2020, 2030).Draw(rt, label),
				time.Month(rapid.IntRange(1, 12).Draw(rt, label)), rapid.IntRange(1, 28).Draw(rt, label))))
		}
		return
	case reflect.TypeFor[uuid.UUID]():
		v.Set(reflect.ValueOf(rapid.SampledFrom(drawnIDs).Draw(rt, label)))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rapid.Bool().Draw(rt, label))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rapid.Int64Range(-1000, 1000).Draw(rt, label))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rapid.Uint64Range(0, 1<<20).Draw(rt, label))
	case reflect.String:
		v.SetString(rapid.SampledFrom(drawnStrings).Draw(rt, label))
	case reflect.Pointer:
		if depth < 4 && rapid.Bool().Draw(rt, label) {
			p := reflect.New(v.Type().Elem())
			drawValue(rt, p.Elem(), label, depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		n := rapid.IntRange(-1, 3).Draw(rt, label)
		if n < 0 || depth >= 4 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			drawValue(rt, v.Index(i), label, depth+1)
		}
	case reflect.Array:
		for i := range v.Len() {
			drawValue(rt, v.Index(i), label, depth+1)
		}
	case reflect.Map:
		n := rapid.IntRange(-1, 3).Draw(rt, label)
		if n < 0 || depth >= 4 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range n {
			key, value := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			drawValue(rt, key, label, depth+1)
			drawValue(rt, value, label, depth+1)
			v.SetMapIndex(key, value)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			drawValue(rt, v.Field(i), label+"."+v.Type().Field(i).Name, depth+1)
		}
	default:
		rt.Fatalf("cannot draw a %s", v.Type())
	}
}

// differ returns where a and b differ, "" when they are equal: exactly,
// a nil slice, map or pointer differing from an empty one, a decimal
// from one of another exponent, an instant from one at another offset.
func differ(a, b reflect.Value, at string) string {
	switch a.Type() {
	case decimalType:
		x, y := a.Interface().(decimal.Decimal), b.Interface().(decimal.Decimal)
		if x.Exponent() != y.Exponent() || x.Coefficient().Cmp(y.Coefficient()) != 0 {
			return fmt.Sprintf("%s: %s (exponent %d) and %s (exponent %d)", at, x, x.Exponent(), y, y.Exponent())
		}
		return ""
	case reflect.TypeFor[time.Time]():
		x, y := a.Interface().(time.Time), b.Interface().(time.Time)
		_, xo := x.Zone()
		_, yo := y.Zone()
		if !x.Equal(y) || xo != yo {
			return fmt.Sprintf("%s: %s and %s", at, x, y)
		}
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %t and %t", at, a.IsNil(), b.IsNil())
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		return differ(a.Elem(), b.Elem(), at)
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d and %d elements", at, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := differ(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", at, i)); d != "" {
				return d
			}
		}
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d and %d entries", at, a.Len(), b.Len())
		}
		for it := a.MapRange(); it.Next(); {
			other := b.MapIndex(it.Key())
			if !other.IsValid() {
				return fmt.Sprintf("%s[%v]: missing", at, it.Key())
			}
			if d := differ(it.Value(), other, fmt.Sprintf("%s[%v]", at, it.Key())); d != "" {
				return d
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				if !reflect.DeepEqual(a.Interface(), b.Interface()) {
					return fmt.Sprintf("%s: %v and %v", at, a, b)
				}
				return ""
			}
			if d := differ(a.Field(i), b.Field(i), at+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return fmt.Sprintf("%s: %v and %v", at, a, b)
		}
	}
	return ""
}
