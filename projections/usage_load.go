package projections

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// Load implements BulkLoader. It is Apply, whose decoding of
// UsageRecorded (decodeUsageRecorded) is what makes usage events, most of a
// log, fast to load.
func (u Usage) Load(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	return u.Apply(ctx, tx, schema, batch)
}

// usageRecordedKeys are the JSON keys of domain.UsageRecorded, in the order
// decodeUsageRecorded reads them.
var usageRecordedKeys = []string{"record_id", "subscription_id", "account_id", "item_id", "charge_id",
	"unit", "quantity", "occurred_at", "recorded_at", "recorded_by"}

// decodeUsageRecorded decodes a UsageRecorded's data, recorded at schema
// version, as domain.UnmarshalEvent does, several times faster: it finds
// the fields with topFields and decodes each as encoding/json would, with
// the type's own UnmarshalText or UnmarshalJSON. Data it cannot be sure of
// (another schema version, a field absent or null, any byte besides the
// wanted members: strict decoding refuses unknown fields), and data that
// fails, go through domain.UnmarshalEvent, for its result and errors.
func decodeUsageRecorded(version int, data []byte) (*domain.UsageRecorded, error) {
	if version == usageRecordedVersion {
		if ev, ok := fastUsageRecorded(data); ok {
			return ev, nil
		}
	}
	decoded, err := domain.UnmarshalEvent("UsageRecorded", version, data)
	if err != nil {
		return nil, err
	}
	ev, ok := decoded.(*domain.UsageRecorded)
	if !ok {
		return nil, fmt.Errorf("a UsageRecorded decoded as a %T", decoded)
	}
	return ev, nil
}

// usageRecordedVersion is the schema version of UsageRecorded whose shape
// fastUsageRecorded knows.
var usageRecordedVersion = domain.SchemaVersion("UsageRecorded")

func fastUsageRecorded(data []byte) (*domain.UsageRecorded, bool) {
	raw, ok := topFields(data, usageRecordedKeys...)
	if !ok || !onlyMembers(data, usageRecordedKeys, raw, len(raw)) {
		return nil, false
	}
	var ev domain.UsageRecorded
	var unit string
	ok = textField(raw[0], &ev.RecordID) && textField(raw[1], &ev.SubscriptionID) &&
		textField(raw[2], &ev.AccountID) && textField(raw[3], &ev.ItemID) && textField(raw[4], &ev.ChargeID) &&
		stringField(raw[5], &unit) &&
		jsonField(raw[6], &ev.Quantity) && jsonField(raw[7], &ev.OccurredAt) && jsonField(raw[8], &ev.RecordedAt) &&
		actorField(raw[9], &ev.RecordedBy)
	ev.Unit = unit
	return &ev, ok
}

// textField decodes raw, a JSON value from topFields, into v as
// encoding/json decodes into an encoding.TextUnmarshaler: absent or null
// leaves v alone. ok is false for anything but a string that plainString
// reads and v accepts.
func textField(raw []byte, v interface{ UnmarshalText([]byte) error }) bool {
	if raw == nil || string(raw) == "null" {
		return true
	}
	if raw[0] != '"' {
		return false
	}
	b, ok := plainBytes(raw)
	return ok && v.UnmarshalText(b) == nil
}

// stringField decodes raw into s, as textField does, and as plainString
// reads it.
func stringField(raw []byte, s *string) bool {
	if raw == nil || string(raw) == "null" {
		return true
	}
	if raw[0] != '"' {
		return false
	}
	v, ok := plainString(raw)
	*s = v
	return ok
}

// jsonField decodes raw into v, a json.Unmarshaler, as encoding/json
// does: with v's UnmarshalJSON, null included. ok is false when it fails.
func jsonField(raw []byte, v json.Unmarshaler) bool {
	return raw == nil || v.UnmarshalJSON(raw) == nil
}

// actorField decodes raw, an object of domain.Actor, into a.
func actorField(raw []byte, a *domain.Actor) bool {
	if raw == nil || string(raw) == "null" {
		return true
	}
	keys := []string{"type", "id", "partner_id"}
	fields, ok := topFields(raw, keys...)
	if !ok || !onlyMembers(raw, keys, fields, 1) {
		return false
	}
	var typ string
	var id, partner uuid.UUID
	ok = stringField(fields[0], &typ) && textField(fields[1], &id) && textField(fields[2], &partner)
	if ok {
		*a = domain.Actor{Type: domain.ActorType(typ), ID: id, PartnerID: partner}
	}
	return ok
}

// onlyMembers reports whether the object data, which topFields read into
// raw, is written without a byte to spare as its members keys[i]: raw[i],
// the first required of them present and none of them null. Then the
// object has no member but these (any other would need bytes of its own)
// and strict decoding accepts its shape; whitespace, an absent or null
// member send the caller to strict decoding, for its answer.
func onlyMembers(data []byte, keys []string, raw [][]byte, required int) bool {
	size, n := len("{}"), 0
	for i, v := range raw {
		switch {
		case v == nil && i < required, string(v) == "null":
			return false
		case v != nil:
			size += len(`"":`) + len(keys[i]) + len(v)
			n++
		}
	}
	if n > 1 {
		size += n - 1 // commas
	}
	return size == len(data)
}
