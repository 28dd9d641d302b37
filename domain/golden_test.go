package domain

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// gdDir holds a golden example of every event type at every schema
// version that ever shipped: <Type>.v<N>.json. A golden file is never
// edited: a new shape is a new version with a file of its own.
const gdDir = "../testdata/events"

// gdFile is one golden example.
type gdFile struct {
	name    string
	version int
	data    []byte
}

var gdFileName = regexp.MustCompile(`^([A-Za-z]+)\.v([0-9]+)\.json$`)

// gdFiles reads every golden file, failing t on a file of another name.
func gdFiles(t *testing.T) []gdFile {
	t.Helper()
	entries, err := os.ReadDir(gdDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []gdFile
	for _, e := range entries {
		m := gdFileName.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("%s/%s is not named <Type>.v<N>.json", gdDir, e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(gdDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(m[2])
		files = append(files, gdFile{name: m[1], version: v, data: data})
	}
	return files
}

// gdCurrent decodes the golden file of every type at its current version.
func gdCurrent(t *testing.T) map[string]Event {
	t.Helper()
	out := map[string]Event{}
	for _, f := range gdFiles(t) {
		if f.version != SchemaVersion(f.name) {
			continue
		}
		e, err := UnmarshalEvent(f.name, f.version, f.data)
		if err != nil {
			t.Fatalf("golden %s v%d: %v", f.name, f.version, err)
		}
		out[f.name] = e
	}
	return out
}

// TestGoldenEveryTypeEveryVersion: every registered type has a golden file
// at every version from 1 to its current one and an upcaster from each
// older version; every golden file and upcaster names a registered type
// and a version it has.
func TestGoldenEveryTypeEveryVersion(t *testing.T) {
	t.Parallel()
	have := map[string]bool{}
	for _, f := range gdFiles(t) {
		have[f.name+".v"+strconv.Itoa(f.version)] = true
		if current := SchemaVersion(f.name); f.version < 1 || f.version > current {
			t.Errorf("golden %s v%d: no such type and version (current %d)", f.name, f.version, current)
		}
	}
	for key := range upcasters {
		if key.from >= SchemaVersion(key.name) {
			t.Errorf("upcaster of %s v%d: no such type, or past its current version", key.name, key.from)
		}
	}
	for _, name := range EventTypes() {
		current := SchemaVersion(name)
		for v := 1; v <= current; v++ {
			if !have[name+".v"+strconv.Itoa(v)] {
				t.Errorf("%s v%d has no golden file %s/%s.v%d.json", name, v, gdDir, name, v)
			}
			if _, ok := upcasters[upcastKey{name, v}]; v < current && !ok {
				t.Errorf("%s v%d has no upcaster to v%d", name, v, v+1)
			}
		}
	}
}

// TestGoldenDecodesAndEncodes decodes every golden file strictly at its
// version; the current version re-encodes byte for byte (compacted), an
// older one to data that decodes and encodes the same again.
func TestGoldenDecodesAndEncodes(t *testing.T) {
	t.Parallel()
	for _, f := range gdFiles(t) {
		t.Run(f.name+".v"+strconv.Itoa(f.version), func(t *testing.T) {
			t.Parallel()
			e, err := UnmarshalEvent(f.name, f.version, f.data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			name, version, out, err := MarshalEvent(e)
			if err != nil || name != f.name || version != SchemaVersion(f.name) {
				t.Fatalf("encode: %s v%d, %v", name, version, err)
			}
			if f.version == version {
				var want bytes.Buffer
				if err := json.Compact(&want, f.data); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, want.Bytes()) {
					t.Fatalf("re-encoded as\n%s\nwant\n%s", out, want.Bytes())
				}
				return
			}
			again, err := UnmarshalEvent(name, version, out)
			if err != nil {
				t.Fatalf("upcast %s does not decode: %v", out, err)
			}
			if _, _, out2, _ := MarshalEvent(again); !bytes.Equal(out, out2) {
				t.Fatalf("upcast encodes as %s then %s", out, out2)
			}
		})
	}
}

// TestGoldenSetsEveryOptionalField: every optional field (omitempty,
// omitzero) of every type the events hold is set in some golden file at
// its type's current version; required ones are, or strict decoding
// refuses the file.
func TestGoldenSetsEveryOptionalField(t *testing.T) {
	t.Parallel()
	set := map[string]bool{}
	for _, e := range gdCurrent(t) {
		gdMarkSet(reflect.ValueOf(e), set)
	}
	optional := map[string]bool{}
	for _, name := range EventTypes() {
		gdOptionalFields(reflect.TypeOf(registry[name].newEvent()), optional, map[reflect.Type]bool{})
	}
	for field := range optional {
		if !set[field] {
			t.Errorf("no golden file sets %s", field)
		}
	}
}

// gdOptionalFields adds "Type.Field" of every optional field reachable
// from t to out.
func gdOptionalFields(t reflect.Type, out map[string]bool, done map[reflect.Type]bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		gdOptionalFields(t.Elem(), out, done)
		return
	case reflect.Struct:
	default:
		return
	}
	if done[t] || reflect.PointerTo(t).Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return
	}
	done[t] = true
	for f := range t.Fields() {
		_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && (hasTagOption(opts, "omitempty") || hasTagOption(opts, "omitzero")) {
			out[t.Name()+"."+f.Name] = true
		}
		gdOptionalFields(f.Type, out, done)
	}
}

// gdMarkSet adds "Type.Field" of every non-zero struct field in v to set.
func gdMarkSet(v reflect.Value, set map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			gdMarkSet(v.Elem(), set)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			gdMarkSet(v.Index(i), set)
		}
	case reflect.Struct:
		for i, f := range slices.Collect(v.Type().Fields()) {
			if f.IsExported() && !v.Field(i).IsZero() {
				set[v.Type().Name()+"."+f.Name] = true
				gdMarkSet(v.Field(i), set)
			}
		}
	}
}

// The story the golden files tell, one event of each type: a tenant and a
// partner each add then remove a user; the tenant grants the partner
// access to one account, changes the grant, assigns and unassigns a
// second account, then revokes it; the partner opens the account and
// later closes it (the tenant does); the tenant creates a product whose
// charges are Seat (25.00/month), Platform (1200.00/year), Support
// (147.00/quarter) and API calls (0.0025/call); the partner subscribes the
// account to 10 seats at 22.50, the platform and API calls from
// 2025-01-01 for 12 months, amends it on 2025-03-01 (support added,
// platform removed, 12 seats), records 1520.5 calls and cancels at the end
// of the term; a refused cancellation is audited. Told another way, the
// partner withdraws the amendment, made ahead of its date, instead.
var (
	gdTenant   = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b01")
	gdPartner  = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b02")
	gdAdmin    = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b03")
	gdFinance  = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b04")
	gdPAdmin   = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b05")
	gdOperator = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b06")
	gdAccount  = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b07")
	gdRecord   = uuid.MustParse("0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b0b")
)

// gdStory applies the current golden events to their aggregates.
type gdStory struct {
	tenant  Tenant
	partner Partner
	grant   PartnerAccess
	account Account
	product Product
	sub     Subscription
	undone  Subscription // the amendment withdrawn instead
	usage   SubscriptionUsage
	audit   AuditLog
}

func gdTell(t *testing.T) *gdStory {
	t.Helper()
	events := gdCurrent(t)
	s := &gdStory{}
	for _, step := range []struct {
		agg   interface{ Apply(Event) }
		names []string
	}{
		{&s.tenant, []string{"TenantCreated", "TenantUserAdded", "TenantUserRemoved"}},
		{&s.partner, []string{"PartnerCreated", "PartnerUserAdded", "PartnerUserRemoved"}},
		{&s.grant, []string{"PartnerAccessGranted", "PartnerAccessChanged", "PartnerAccessAccountAssigned",
			"PartnerAccessAccountUnassigned", "PartnerAccessRevoked"}},
		{&s.account, []string{"AccountCreated", "AccountBillingUpdated", "AccountClosed"}},
		{&s.product, []string{"ProductCreated"}},
		{&s.sub, []string{"SubscriptionCreated", "SubscriptionAmended", "SubscriptionCancelled"}},
		{&s.undone, []string{"SubscriptionCreated", "SubscriptionAmended", "ScheduledChangeWithdrawn"}},
		{&s.usage, []string{"UsageRecorded"}},
		{&s.audit, []string{"AccessDenied"}},
	} {
		for _, name := range step.names {
			e, ok := events[name]
			if !ok {
				t.Fatalf("no golden %s", name)
			}
			step.agg.Apply(e)
		}
	}
	return s
}

// TestGoldenState checks the state the golden events yield.
func TestGoldenState(t *testing.T) {
	t.Parallel()
	s := gdTell(t)
	day := func(d string) Date { return fxDate(d) }
	mrr := []struct {
		on   string
		want string
	}{
		{"2024-12-31", "0"},
		{"2025-01-15", "325"},   // 10 × 22.50 + 1200 / 12
		{"2025-03-15", "319"},   // 12 × 22.50 + 147 / 3
		{"2025-12-31", "319"},   // the term's last day
		{"2026-01-01", "0"},     // cancelled at the end of the term
		{"2025-02-28", "325.0"}, // before the amendment
	}
	for _, c := range mrr {
		if got := s.sub.MRR(day(c.on)); !got.Equal(decimal.RequireFromString(c.want)) {
			t.Errorf("MRR on %s = %s, want %s", c.on, got, c.want)
		}
	}
	if got := s.undone.MRR(day("2025-03-15")); !got.Equal(decimal.RequireFromString("325")) {
		t.Errorf("MRR after the withdrawal = %s, want 325 as before the amendment", got)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"subscription version", s.sub.Version, uint64(3)},
		{"withdrawn", [3]any{s.undone.Version, len(s.undone.Scheduled), len(s.undone.Items)}, [3]any{uint64(3), 0, 3}},
		{"scheduled", len(s.sub.ScheduledOn(day("2025-02-21"))), 1},
		{"cancel", [2]any{s.sub.CancelDate, s.sub.CancelPolicy}, [2]any{day("2026-01-01"), CancelEndOfTerm}},
		{"items", len(s.sub.Items), 4},
		{"seats", s.sub.Items[0].QuantityOn(day("2025-03-01")), 12},
		{"api call unit", s.sub.Items[2].Unit, "call"},
		{"tenant", [2]any{s.tenant.ID, s.tenant.Name}, [2]any{gdTenant, "Acme Cloud GmbH"}},
		{"tenant users", [2]any{len(s.tenant.Users), s.tenant.Users[gdFinance].Status}, [2]any{1, UserRemoved}},
		{"tenant user removed by", s.tenant.Users[gdFinance].RemovedBy, Actor{Type: ActorTenantUser, ID: gdAdmin}},
		{"partner users", [2]any{len(s.partner.Users), s.partner.Users[gdOperator].Status}, [2]any{1, UserRemoved}},
		{"partner user removed by", s.partner.Users[gdOperator].RemovedBy,
			Actor{Type: ActorPartnerUser, ID: gdPAdmin, PartnerID: gdPartner}},
		{"grant", [3]any{s.grant.StatusAt(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)), s.grant.RevokeReason, s.grant.AccountIDs},
			[3]any{AccessRevoked, "contract ended", []uuid.UUID{gdAccount}}},
		{"grant actions", s.grant.Actions, []Permission{PermAccountsCreate, PermSubscriptionsAmend, PermSubscriptionsCreate, PermUsageRecord}},
		{"account", [3]any{s.account.Status, s.account.Billing.PaymentTermsDays, s.account.Billing.InvoiceDelivery},
			[3]any{AccountStatusClosed, 45, DeliverByPortal}},
		{"charges", len(s.product.Charges), 4},
		{"usage", [2]any{len(s.usage.Seen), s.usage.Version}, [2]any{1, uint64(1)}},
		{"usage record", slices.Collect(maps.Keys(s.usage.Seen)), []uuid.UUID{gdRecord}},
		{"denied", s.audit.Denied, 1},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if price := s.product.Charges[3].Price; !price.Equal(decimal.RequireFromString("0.0025")) {
		t.Errorf("API call price %s, want 0.0025", price)
	}
}
