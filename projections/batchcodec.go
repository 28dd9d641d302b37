package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"ledger/eventstore"
)

// The runner carries each batch through Watermill as a message payload.
// encodeBatch and decodeBatch give that payload a plain binary form, every
// field as it was read, where encoding/json cost a copy and a validation
// of every event's data twice per batch.

// batchCodecVersion leads every payload, so that a change of the form is
// detected rather than misread.
const batchCodecVersion = 1

// errBadBatch reports a payload that decodeBatch cannot read.
var errBadBatch = errors.New("malformed batch payload")

// encodeBatch writes batch in the form decodeBatch reads.
func encodeBatch(batch []eventstore.Event) ([]byte, error) {
	size := 8
	for _, e := range batch {
		size += 96 + len(e.Stream) + len(e.Type) + len(e.Data) + metadataSize(e.Metadata)
	}
	buf := binary.AppendUvarint(make([]byte, 0, size), batchCodecVersion)
	buf = binary.AppendUvarint(buf, uint64(len(batch)))
	for _, e := range batch {
		buf = append(buf, e.ID[:]...)
		buf = binary.AppendUvarint(buf, e.Version)
		buf = binary.AppendUvarint(buf, uint64(e.Position))
		buf = binary.AppendVarint(buf, int64(e.SchemaVersion))
		m := e.Metadata
		for _, s := range []string{e.Stream, e.Type, string(e.Data), m.TenantID, m.Actor.Type, m.Actor.ID, m.Actor.PartnerID,
			m.CorrelationID, m.CausationID, m.RequestID, m.IdempotencyKey} {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
		var err error
		for _, t := range []time.Time{m.OccurredAt, e.RecordedAt} {
			if buf, err = appendTime(buf, t); err != nil {
				return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
			}
		}
	}
	return buf, nil
}

func metadataSize(m eventstore.Metadata) int {
	return len(m.TenantID) + len(m.Actor.Type) + len(m.Actor.ID) + len(m.Actor.PartnerID) + len(m.CorrelationID) +
		len(m.CausationID) + len(m.RequestID) + len(m.IdempotencyKey)
}

func appendTime(buf []byte, t time.Time) ([]byte, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...), nil
}

// decodeBatch reads a payload of encodeBatch.
func decodeBatch(payload []byte) ([]eventstore.Event, error) {
	r := batchReader{buf: payload}
	if v := r.uvarint(); v != batchCodecVersion && r.err == nil {
		return nil, fmt.Errorf("%w: version %d", errBadBatch, v)
	}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.buf)/16) {
		r.fail()
	}
	var batch []eventstore.Event
	if r.err == nil {
		batch = make([]eventstore.Event, 0, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		var e eventstore.Event
		copy(e.ID[:], r.bytes(16))
		e.Version, e.Position, e.SchemaVersion = r.uvarint(), eventstore.Position(r.uvarint()), int(r.varint())
		e.Stream, e.Type = r.str(), r.str()
		if data := r.bytes(int(r.uvarint())); data != nil {
			e.Data = append([]byte(nil), data...)
		}
		m := &e.Metadata
		m.TenantID, m.Actor.Type, m.Actor.ID, m.Actor.PartnerID = r.str(), r.str(), r.str(), r.str()
		m.CorrelationID, m.CausationID, m.RequestID, m.IdempotencyKey = r.str(), r.str(), r.str(), r.str()
		m.OccurredAt, e.RecordedAt = r.time(), r.time()
		batch = append(batch, e)
	}
	if r.err == nil && len(r.buf) > 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return batch, nil
}

// batchReader reads a payload front to back; its first failure sticks.
type batchReader struct {
	buf []byte
	err error
}

func (r *batchReader) fail() {
	if r.err == nil {
		r.err = errBadBatch
	}
	r.buf = nil
}

func (r *batchReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *batchReader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *batchReader) bytes(n int) []byte {
	if n < 0 || n > len(r.buf) {
		r.fail()
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

func (r *batchReader) str() string { return string(r.bytes(int(r.uvarint()))) }

func (r *batchReader) time() time.Time {
	var t time.Time
	b := r.bytes(int(r.uvarint()))
	if r.err == nil {
		if err := t.UnmarshalBinary(b); err != nil {
			r.fail()
		}
	}
	return t
}
