package outbound

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// secretFields are the fields of event data that never leave the ledger:
// the hashes of users' API keys (TenantUserAdded, PartnerUserAdded). The
// log keeps them, since authentication reads them there.
var secretFields = map[string]bool{"key_hash": true}

// redactData returns data without its secret fields, at any depth. Data
// that holds none is returned as it is, byte for byte; otherwise every
// value that holds none keeps its bytes, and only the objects around a
// secret are written again, in their order.
func redactData(data []byte) ([]byte, error) {
	if !maySecret(data) {
		return data, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out, err := redactValue(dec, data)
	if err != nil {
		return nil, fmt.Errorf("redact data: %w", err)
	}
	return out, nil
}

// maySecret says whether raw may hold a secret field: it names one, or
// escapes a character, which a field's name might hide behind.
func maySecret(raw []byte) bool {
	if bytes.Contains(raw, []byte(`\u`)) {
		return true
	}
	for name := range secretFields {
		if bytes.Contains(raw, []byte(name)) {
			return true
		}
	}
	return false
}

// redactValue reads the next value of dec, whose input is data, and
// returns it without secret fields.
func redactValue(dec *json.Decoder, data []byte) ([]byte, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return bytes.TrimSpace(data[start:dec.InputOffset()]), nil
	}
	out, written := []byte{byte(delim)}, 0
	for dec.More() {
		var name []byte
		if delim == '{' {
			if name, err = fieldName(dec); err != nil {
				return nil, err
			}
			if name == nil {
				continue
			}
		}
		value, err := nextValue(dec)
		if err != nil {
			return nil, err
		}
		if written > 0 {
			out = append(out, ',')
		}
		out, written = append(append(out, name...), value...), written+1
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return nil, err
	}
	return append(out, byte(delim)+2), nil // ']' is '[' + 2, '}' is '{' + 2
}

// fieldName reads the name of an object's next field and returns it
// quoted, with its colon; for a secret field it skips the value and
// returns nil.
func fieldName(dec *json.Decoder) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	name, _ := tok.(string)
	if secretFields[name] {
		var skip json.RawMessage
		return nil, dec.Decode(&skip)
	}
	quoted, err := json.Marshal(name)
	if err != nil {
		return nil, err
	}
	return append(quoted, ':'), nil
}

// nextValue reads the next value of dec: its bytes as written when it
// holds no secret, else redacted.
func nextValue(dec *json.Decoder) ([]byte, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	if !maySecret(raw) {
		return raw, nil
	}
	inner := json.NewDecoder(bytes.NewReader(raw))
	inner.UseNumber()
	return redactValue(inner, raw)
}
