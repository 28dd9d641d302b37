// Package audit makes the event log tamper-evident: every tenant's
// events, in log order, are the leaves of a Merkle tree (RFC 6962), whose
// checkpoints the ledger signs. This file defines a leaf: what a third
// party recomputes from an export to check it against a checkpoint.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Leaf is an event as its leaf commits to it: the whole event, data and
// metadata as recorded.
type Leaf struct {
	ID            uuid.UUID       `json:"id"`
	Stream        string          `json:"stream"`
	Version       uint64          `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
}

// Canonical returns the one encoding of l that its hash covers: a JSON
// object of l's fields, with recorded_at in RFC 3339 with nanoseconds,
// UTC, trailing zeros dropped, and data and metadata as recorded; at every
// depth, keys sorted by their UTF-8 bytes, no insignificant white space,
// numbers exactly as written, strings escaped as JSON requires and no
// further (no HTML escaping). docs/audit.md says how to compute it
// elsewhere.
func (l Leaf) Canonical() ([]byte, error) {
	obj := map[string]any{
		"id": l.ID.String(), "stream": l.Stream, "version": json.Number(fmt.Sprint(l.Version)), "type": l.Type,
		"schema_version": json.Number(fmt.Sprint(l.SchemaVersion)),
		"recorded_at":    l.RecordedAt.UTC().Format(time.RFC3339Nano),
	}
	for name, raw := range map[string]json.RawMessage{"data": l.Data, "metadata": l.Metadata} {
		v, err := decodeNumbers(raw)
		if err != nil {
			return nil, fmt.Errorf("leaf %s: %s: %w", l.ID, name, err)
		}
		obj[name] = v
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, obj); err != nil {
		return nil, fmt.Errorf("leaf %s: %w", l.ID, err)
	}
	return buf.Bytes(), nil
}

// LeafHash returns the RFC 6962 hash of the leaf: SHA-256 of a zero byte
// and the canonical encoding.
func (l Leaf) LeafHash() ([]byte, error) {
	canonical, err := l.Canonical()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(canonical)
	return h.Sum(nil), nil
}

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// writeCanonical writes v, decoded JSON, in canonical form.
func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, el := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, el); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case string:
		writeString(buf, v)
	case json.Number:
		buf.WriteString(v.String())
	case bool:
		fmt.Fprint(buf, v)
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("canonical JSON: unexpected %T", v)
	}
	return nil
}

// writeString writes s as a JSON string, escaping only what JSON
// requires: the quote, the backslash and control characters.
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
