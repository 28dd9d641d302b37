package projections

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// bulkOddData are event data that the fast readers of data must hand to
// encoding/json, or read exactly as it would.
var bulkOddData = []string{
	`{}`,
	` { "account_id" : "{A}" , "subscription_id":"{S}" } `,
	`{"x":{"account_id":"{A}"},"subscription_id":"{S}"}`,
	`{"account_id":"{A}","account_id":"{S}"}`,
	`{"Account_ID":"{A}","subscription_id":"{S}"}`,
	`{"account\u005fid":"{A}","subscription_id":"{S}"}`,
	`{"account_id":"{A}","subscription_id":null}`,
	`{"account_id":7,"subscription_id":"{S}"}`,
	`{"account_id":"\u0030{A}","subscription_id":"{S}"}`,
	`{"account_id":"{A}","subscription_id":"{S}","key_hash":"secret"}`,
	`{"key_hash":"secret","nested":{"key_hash":"kept"}}`,
	`{"key\u005fhash":"secret","account_id":"{A}"}`,
	`{"list":[1,2.5e3,-0.1,true,false,null,"a\"b",{"k":[]}],"account_id":"{A}"}`,
	`{"account_id":"{A}",}`,
	`{"account_id":"{A}" "subscription_id":"{S}"}`,
	`{"account_id":tru}`,
	`{"account_id":01}`,
	`{"account_id":"a` + "\x01" + `b"}`,
	`{"account_id":"{A}"} x`,
	`[]`,
	`null`,
	``,
}

// bulkData is one of bulkOddData with ids for {A} and {S}.
func bulkData(format string) []byte {
	return []byte(strings.NewReplacer("{A}", "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6", "{S}", "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a7").Replace(format))
}

func TestDataSubjectsAgreeWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, format := range bulkOddData {
		data := bulkData(format)
		wantA, wantS := jsonSubjects(data)
		if a, s := dataSubjects(data); a != wantA || s != wantS {
			t.Errorf("%s: %q, %q; want %q, %q", data, a, s, wantA, wantS)
		}
	}
}

func TestAuditDataLeavesOutTheTopLevelKeyHash(t *testing.T) {
	t.Parallel()
	for _, format := range bulkOddData[:13] { // the well-formed ones
		data := bulkData(format)
		got, err := auditData(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var gotFields, wantFields map[string]any
		if err := json.Unmarshal(data, &wantFields); err != nil {
			t.Fatal(err)
		}
		_, had := wantFields["key_hash"]
		delete(wantFields, "key_hash")
		if err := json.Unmarshal(got, &gotFields); err != nil || !reflect.DeepEqual(gotFields, wantFields) {
			t.Errorf("%s became %s (%v); want %v", data, got, err, wantFields)
		}
		if !had && string(got) != string(data) {
			t.Errorf("%s, without a key_hash, was rewritten as %s", data, got)
		}
	}
}

// jsonSubjects is what encoding/json reads of data's account and
// subscription ids.
func jsonSubjects(data []byte) (account, subscription string) {
	var ids struct {
		AccountID      string `json:"account_id"`
		SubscriptionID string `json:"subscription_id"`
	}
	_ = json.Unmarshal(data, &ids)
	return ids.AccountID, ids.SubscriptionID
}

// FuzzDecodeUsageRecorded checks the fast readers of event data against
// encoding/json: decodeUsageRecorded, dataSubjects and auditData.
func FuzzDecodeUsageRecorded(f *testing.F) {
	_, _, canonical, err := domain.MarshalEvent(&domain.UsageRecorded{RecordID: uuid.New(), SubscriptionID: uuid.New(),
		AccountID: uuid.New(), ItemID: uuid.New(), ChargeID: uuid.New(), Unit: "GB", Quantity: decimal.RequireFromString("6.8"),
		OccurredAt: audT0, RecordedBy: domain.Actor{Type: domain.ActorPartnerUser, ID: uuid.New(), PartnerID: uuid.New()},
		RecordedAt: audT0})
	if _, fast := fastUsageRecorded(canonical); err != nil || !fast {
		f.Fatalf("canonical data misses the fast path (%v)", err)
	}
	f.Add(canonical)
	c := string(canonical)
	for _, strict := range []string{ // what strict decoding refuses and topFields alone would not
		strings.Replace(c, `{`, `{"note":"x",`, 1), strings.Replace(c, `"unit":"GB",`, ``, 1),
		strings.Replace(c, `"unit":"GB"`, `"unit":null`, 1), strings.Replace(c, `"type":"partner_user",`, ``, 1),
		strings.Replace(c, `"type":"partner_user"`, `"type":"partner_user","role":"x"`, 1),
		strings.Replace(c, `"quantity":"6.8"`, `"quantity":null`, 1), strings.Replace(c, `"partner_id":"`, `"partner_id":null,"x":"`, 1),
	} {
		f.Add([]byte(strict))
	}
	for _, seed := range []string{
		`{"subscription_id":"0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6","quantity":12.5,"unit":"G\u0042"}`,
		`{"quantity":"1e3","occurred_at":"2026-03-01T12:00:00.123456789+02:00","recorded_by":null}`,
		`{"quantity":"x"}`, `{"occurred_at":"yesterday"}`, `{"item_id":"not-a-uuid"}`, `{"item_id":"{0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6}"}`,
		`{"recorded_by":{"type":"system","ID":"0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6"}}`, `{"recorded_by":{"type":7}}`,
		`{"unit":"kWh","Unit":"MWh"}`, `{"quantity":"1","quantity":"2"}`, `{"unit":null}`, `{"unit":5}`,
		"{\"account_id\":\"\xff\"}", "{\"unit\":\"\xffGB\"}", "{\"item_id\":\"\x9900000000-0000-0000-0000-0000000000000\"}",
	} {
		f.Add([]byte(seed))
	}
	for _, format := range bulkOddData {
		f.Add(bulkData(format))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := decodeUsageRecorded(usageRecordedVersion, data)
		want, wantErr := domain.UnmarshalEvent("UsageRecorded", usageRecordedVersion, data)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%s: error %v, want %v", data, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", data, got, want)
		}
		account, subscription := dataSubjects(data)
		if wantA, wantS := jsonSubjects(data); account != wantA || subscription != wantS {
			t.Fatalf("%s: subjects %q, %q; want %q, %q", data, account, subscription, wantA, wantS)
		}
		var object map[string]json.RawMessage
		if json.Unmarshal(data, &object) != nil {
			return // the json column refuses it
		}
		got2, err1 := auditData(data)
		want2, err2 := withoutKeyHash(data)
		if err1 != nil || err2 != nil || string(got2) != string(want2) {
			t.Fatalf("%s: audit data %s (%v), want %s (%v)", data, got2, err1, want2, err2)
		}
	})
}

// TestBulkLoadWritesWhatApplyWrites loads a log into scratch tables as a
// rebuild does, through Load, and compares them with the live tables that
// Apply wrote from the same log.
func TestBulkLoadWritesWhatApplyWrites(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	events := s.log.events
	tenant, sub := s.t1.String(), s.subscriptions[0]
	for i, format := range bulkOddData[:13] {
		pos := s.log.pos + eventstore.Position(i+1)
		events = append(events, eventstore.Event{ID: uuid.New(), Stream: audStream("usage", s.t1, sub), Version: uint64(i + 1),
			Position: pos, Type: "Noted", SchemaVersion: 1, Data: bulkData(format), RecordedAt: audT0,
			Metadata: eventstore.Metadata{TenantID: tenant, Actor: eventstore.Actor{Type: "system"}, OccurredAt: audT0.Add(1500)}})
	}
	pool := pgtest.NewDatabase(t, 8)
	ps := []Projection{Audit{}, Usage{}}
	if err := Setup(t.Context(), pool, ps); err != nil {
		t.Fatal(err)
	}
	half := len(events) / 2
	for i, p := range ps {
		for _, batch := range [][]eventstore.Event{events[:half], events[half:]} {
			if err := applyBatch(t.Context(), pool, LiveSchema, p, batch); err != nil {
				t.Fatal(err)
			}
		}
		schema := fmt.Sprintf("bulk_%d", i)
		if err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error { return setupSchema(t.Context(), tx, schema, []Projection{p}, true) }); err != nil {
			t.Fatal(err)
		}
		for _, batch := range [][]eventstore.Event{events[:half], events[half:]} {
			if err := applyWith(t.Context(), pool, schema, p, batch, p.(BulkLoader).Load, true); err != nil {
				t.Fatalf("load %s: %v", p.Name(), err)
			}
		}
		if err := indexScratch(t.Context(), pool, []string{schema}, []Projection{p}, nil); err != nil {
			t.Fatal(err)
		}
		var diffs []Difference
		err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) (err error) {
			diffs, err = compare(t.Context(), tx, p, schema)
			return err
		})
		if err != nil || len(diffs) != 0 {
			t.Fatalf("%s loaded in bulk differs from applied: %v %+v", p.Name(), err, diffs)
		}
	}
	var rows int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM bulk_1.usage_daily`).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("%d usage rows (%v): the comparison was vacuous", rows, err)
	}
}

func TestSkipPlainFindsTheFirstStop(t *testing.T) {
	t.Parallel()
	naive := func(data []byte, j int) int {
		for ; j < len(data); j++ {
			if c := data[j]; c == '"' || c == '\\' || c < 0x20 {
				return j
			}
		}
		return j
	}
	data := make([]byte, 24)
	for c := range 256 {
		for at := range data {
			for k := range data {
				data[k] = 'a' + byte(k%26)
			}
			data[at] = byte(c)
			data[len(data)-1-at/2] = 0x80 + byte(at) // bytes above 0x7f are plain
			for from := range 10 {
				if got, want := skipPlain(data, from), naive(data, from); got != want {
					t.Fatalf("byte %#x at %d, from %d: %d, want %d", c, at, from, got, want)
				}
			}
		}
	}
}

func TestAuditLoadRefusesMalformedMetadata(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 2)
	if err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error { return setupSchema(t.Context(), tx, "bulk", []Projection{Audit{}}, true) }); err != nil {
		t.Fatal(err)
	}
	good := eventstore.Event{ID: uuid.New(), Stream: "audit-x", Version: 1, Position: 1, Type: "Noted", Data: []byte(`{}`),
		Metadata: eventstore.Metadata{TenantID: uuid.NewString(), Actor: eventstore.Actor{Type: "system"}}}
	many := make([]eventstore.Event, 3000) // more rows than one read of the stream takes
	for i := range many {
		many[i] = good
		many[i].Position = eventstore.Position(i + 1)
	}
	bad := good
	bad.Position, bad.Metadata.TenantID = eventstore.Position(len(many)+1), "not-a-uuid"
	err := applyUnguarded(t.Context(), pool, "bulk", Audit{}, append(many, bad), Audit{}.Load)
	if err == nil || !strings.Contains(err.Error(), "not-a-uuid") {
		t.Fatalf("loading an event of a malformed tenant id: %v", err)
	}
	if err := applyWith(t.Context(), pool, "bulk", Audit{}, many, Audit{}.Load, true); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM bulk.audit_log`).Scan(&rows); err != nil || rows != len(many) {
		t.Fatalf("%d rows (%v), want %d: the failed batch left nothing, the next wrote all", rows, err, len(many))
	}
}
