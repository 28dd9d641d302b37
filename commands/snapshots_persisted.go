package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// SnapshotStore keeps aggregates' snapshots beyond the process, so that
// they survive restarts and are shared by replicas. It keeps records as
// bytes and knows nothing of what they hold. A snapshot is a cache: a
// Service never trusts one over the log (see openSnapshot and view.fetch).
type SnapshotStore interface {
	// LoadSnapshots returns, in one round trip, the record stored for
	// each of streams that has one, by stream.
	LoadSnapshots(ctx context.Context, streams []string) (map[string][]byte, error)
	// SaveSnapshot stores record as stream's snapshot at version, unless
	// one at version or later is stored already.
	SaveSnapshot(ctx context.Context, stream string, version uint64, record []byte) error
}

// SnapshotSchemaVersion is the version of the states' encoding in
// persisted snapshots. Bump it whenever the state of an aggregate in
// snapshotted changes (a test fails until it is): a stored snapshot of
// another version is ignored.
const SnapshotSchemaVersion = 1

// SnapshotAfter is how many events a load must replay beyond the state it
// started from for the command to save the state it reached.
const SnapshotAfter = 200

// snapshotted are the aggregates whose states are persisted, by the
// category of their streams (the name up to its first "-").
var snapshotted = map[string]reflect.Type{
	"tenant":         reflect.TypeFor[domain.Tenant](),
	"partner":        reflect.TypeFor[domain.Partner](),
	"access":         reflect.TypeFor[domain.PartnerAccess](),
	"account":        reflect.TypeFor[domain.Account](),
	"product":        reflect.TypeFor[domain.Product](),
	"sku":            reflect.TypeFor[domain.SKUReservation](),
	"subscription":   reflect.TypeFor[domain.Subscription](),
	"usage":          reflect.TypeFor[domain.SubscriptionUsage](),
	"invoices":       reflect.TypeFor[domain.AccountInvoices](),
	"invoicenumbers": reflect.TypeFor[domain.InvoiceNumbering](),
	"billrun":        reflect.TypeFor[domain.BillRun](),
	"accessrequest":  reflect.TypeFor[domain.AccessRequest](),
}

// snapshotType is the state type of stream's aggregate, when it is
// snapshotted.
func snapshotType(stream string) (reflect.Type, bool) {
	category, _, _ := strings.Cut(stream, "-")
	t, ok := snapshotted[category]
	return t, ok
}

// WithSnapshotStore makes the service keep snapshots in store too, behind
// those it keeps in memory: a stream not kept in memory is loaded from
// its stored snapshot and the events after it.
func WithSnapshotStore(store SnapshotStore) Option { return func(s *Service) { s.persisted = store } }

// storedSnapshot is the record of a persisted snapshot: stream's state at
// version, where the event at version is EventID at Position, encoded
// with SchemaVersion; Checksum is the SHA-256 of all of them.
type storedSnapshot struct {
	Stream        string    `json:"stream"`
	Version       uint64    `json:"version"`
	Position      uint64    `json:"position"`
	EventID       uuid.UUID `json:"event_id"`
	SchemaVersion int       `json:"schema_version"`
	State         []byte    `json:"state"`
	Checksum      []byte    `json:"checksum"`
}

// checksum is the SHA-256 of every field of r but Checksum.
func (r storedSnapshot) checksum() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s\n%d\n%d\n%s\n%d\n", len(r.Stream), r.Stream, r.Version, r.Position, r.EventID, r.SchemaVersion)
	h.Write(r.State)
	return h.Sum(nil)
}

// errOtherSchema reports a stored snapshot of another schema version.
var errOtherSchema = errors.New("a snapshot of another schema version")

// due is a state a command reached by replaying many events: it is saved
// once the command has appended.
type due struct {
	stream   string
	version  uint64
	position eventstore.Position
	eventID  uuid.UUID
	state    any
}

// recordSnapshot encodes d as a stored snapshot.
func recordSnapshot(d due) ([]byte, error) {
	state, err := encodeState(d.state)
	if err != nil {
		return nil, err
	}
	r := storedSnapshot{Stream: d.stream, Version: d.version, Position: uint64(d.position), EventID: d.eventID,
		SchemaVersion: SnapshotSchemaVersion, State: state}
	r.Checksum = r.checksum()
	return json.Marshal(r)
}

// openSnapshot decodes the record stored for stream into what a view
// holds of it, unconfirmed until the event at its version is read. It
// refuses a record of another stream or schema version, one whose
// checksum does not match, or one whose state does not decode.
func openSnapshot(stream string, record []byte) (*held, error) {
	var r storedSnapshot
	dec := json.NewDecoder(bytes.NewReader(record))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	t, ok := snapshotType(stream)
	switch {
	case r.SchemaVersion != SnapshotSchemaVersion:
		return nil, fmt.Errorf("%w: %d, not %d", errOtherSchema, r.SchemaVersion, SnapshotSchemaVersion)
	case r.Stream != stream:
		return nil, fmt.Errorf("a record of stream %s", r.Stream)
	case r.Version == 0 || r.EventID == uuid.Nil:
		return nil, errors.New("a record of no event")
	case !bytes.Equal(r.Checksum, r.checksum()):
		return nil, errors.New("checksum mismatch")
	case !ok:
		return nil, errors.New("a stream whose aggregate is not snapshotted")
	}
	state, err := decodeState(t, r.State)
	if err != nil { // its text may quote the state, which is never logged
		return nil, errors.New("the state does not decode")
	}
	return &held{version: r.Version, position: eventstore.Position(r.Position), eventID: r.EventID, state: state,
		stored: true}, nil
}

// confirms says whether events, read from the version of a stored
// snapshot on, begin with the very event the snapshot was taken at.
func (h *held) confirms(events []eventstore.Event) bool {
	return len(events) > 0 && events[0].Version == h.version && events[0].ID == h.eventID &&
		events[0].Position == h.position
}

// recall brings into v the stored snapshots of streams, which v holds
// empty, in one round trip; a record that cannot be used is left out. A
// snapshot store that fails is only logged: the log has every state.
func (v *view) recall(ctx context.Context, streams []string) {
	if v.s.persisted == nil {
		return
	}
	var asked []string
	for _, stream := range streams {
		if _, ok := snapshotType(stream); ok {
			asked = append(asked, stream)
		}
	}
	if len(asked) == 0 {
		return
	}
	records, err := v.s.persisted.LoadSnapshots(ctx, asked)
	if err != nil {
		v.s.logger.Warn("snapshots not loaded", "streams", len(asked), "error", err)
		return
	}
	for _, stream := range asked {
		record, ok := records[stream]
		if !ok {
			continue
		}
		h, err := openSnapshot(stream, record)
		switch {
		case errors.Is(err, errOtherSchema):
			v.s.logger.Debug("snapshot ignored", "stream", stream, "reason", err)
		case err != nil:
			v.s.logger.Warn("snapshot discarded; replaying the stream", "stream", stream, "reason", err)
		default:
			v.streams[stream] = h
		}
	}
}

// saveDue saves the states v's loads reached by replaying many events.
// A failed save is logged: a snapshot is a cache, and the command's
// append stands.
func (v *view) saveDue(ctx context.Context) {
	if v.s.persisted == nil {
		return
	}
	for _, d := range v.due {
		record, err := recordSnapshot(d)
		if err == nil {
			err = v.s.persisted.SaveSnapshot(ctx, d.stream, d.version, record)
		}
		if err != nil {
			v.s.logger.Warn("snapshot not saved", "stream", d.stream, "version", d.version, "error", err)
		}
	}
	v.due = nil
}
