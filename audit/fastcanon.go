package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// hashLeaf is LeafHash, fast: `ledger audit verify` hashes every event of
// the log. It writes the canonical encoding in one pass over the raw JSON
// and falls back to Canonical for anything it does not handle itself (an
// escape in a string, a key twice in an object, invalid JSON), so the two
// always agree (fastcanon_test.go checks it).
func hashLeaf(l Leaf) ([]byte, error) {
	hash, _, err := hashLeafTenant(l)
	return hash, err
}

// hashLeafTenant is hashLeaf, and the tenant_id of the leaf's metadata
// ("" for none, or one that is not a string).
func hashLeafTenant(l Leaf) (hash []byte, tenant string, err error) {
	c := canonPool.Get().(*canonicalizer)
	defer canonPool.Put(c)
	c.out = c.out[:0]
	if !c.leaf(l) {
		var meta struct {
			TenantID any `json:"tenant_id"`
		}
		_ = json.Unmarshal(l.Metadata, &meta) // LeafHash reports a malformed one
		tenant, _ = meta.TenantID.(string)
		hash, err = l.LeafHash()
		return hash, tenant, err
	}
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(c.out)
	return h.Sum(nil), c.tenant, nil
}

var canonPool = sync.Pool{New: func() any { return &canonicalizer{} }}

// canonicalizer writes canonical JSON (see Leaf.Canonical) into out.
type canonicalizer struct {
	out     []byte
	members []member
	scratch []byte // an object's values while its members are sorted
	// While capturing (the metadata), tenant is the string value of the
	// top-level key "tenant_id", if any.
	capture bool
	depth   int
	tenant  string
}

// member is an object member being sorted: its key as decoded, and where
// its canonical value sits in out.
type member struct {
	key        []byte
	start, end int
}

func (c *canonicalizer) leaf(l Leaf) bool {
	// The keys in sorted order: data, id, metadata, recorded_at,
	// schema_version, stream, type, version.
	c.out = append(c.out, `{"data":`...)
	if !c.document(l.Data) {
		return false
	}
	c.out = append(c.out, `,"id":"`...)
	c.out = append(c.out, l.ID.String()...)
	c.out = append(c.out, `","metadata":`...)
	c.capture, c.depth, c.tenant = true, 0, ""
	ok := c.document(l.Metadata)
	c.capture = false
	if !ok {
		return false
	}
	c.out = append(c.out, `,"recorded_at":"`...)
	c.out = l.RecordedAt.UTC().AppendFormat(c.out, time.RFC3339Nano)
	c.out = append(c.out, `","schema_version":`...)
	c.out = strconv.AppendInt(c.out, int64(l.SchemaVersion), 10)
	c.out = append(c.out, `,"stream":`...)
	if !c.plainString(l.Stream) {
		return false
	}
	c.out = append(c.out, `,"type":`...)
	if !c.plainString(l.Type) {
		return false
	}
	c.out = append(c.out, `,"version":`...)
	c.out = strconv.AppendUint(c.out, l.Version, 10)
	c.out = append(c.out, '}')
	return true
}

// plainString writes s quoted when it needs no escape.
func (c *canonicalizer) plainString(s string) bool {
	if !plain([]byte(s)) {
		return false
	}
	c.out = append(c.out, '"')
	c.out = append(c.out, s...)
	c.out = append(c.out, '"')
	return true
}

// plain tells whether s is valid UTF-8 that encoding/json writes as is
// with HTML escaping off: no control character, quote or backslash, and
// neither U+2028 nor U+2029.
func plain(s []byte) bool {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == '"' || b == '\\' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// document writes the one JSON value of raw.
func (c *canonicalizer) document(raw []byte) bool {
	rest, ok := c.value(skipSpace(raw))
	return ok && len(skipSpace(rest)) == 0
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// value writes the value at the start of b and returns what follows it.
func (c *canonicalizer) value(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	switch b[0] {
	case '{':
		return c.object(b[1:])
	case '[':
		return c.array(b[1:])
	case '"':
		s, rest, ok := stringToken(b)
		if !ok {
			return nil, false
		}
		c.out = append(c.out, '"')
		c.out = append(c.out, s...)
		c.out = append(c.out, '"')
		return rest, true
	case 't':
		return c.literal(b, "true")
	case 'f':
		return c.literal(b, "false")
	case 'n':
		return c.literal(b, "null")
	default:
		n := numberLen(b)
		if n == 0 {
			return nil, false
		}
		c.out = append(c.out, b[:n]...)
		return b[n:], true
	}
}

func (c *canonicalizer) literal(b []byte, lit string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(lit)) {
		return nil, false
	}
	c.out = append(c.out, lit...)
	return b[len(lit):], true
}

// stringToken returns the content of the plain string at the start of b
// (no escapes) and what follows it.
func stringToken(b []byte) (content, rest []byte, ok bool) {
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	content = b[1 : 1+end]
	if !plain(content) {
		return nil, nil, false // an escape, or a character encoding/json escapes
	}
	return content, b[2+end:], true
}

// numberLen is the length of the JSON number at the start of b, 0 if
// there is none.
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i+1 {
			return 0
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		if k == j {
			return 0
		}
		i = k
	}
	return i
}

func (c *canonicalizer) array(b []byte) ([]byte, bool) {
	c.out = append(c.out, '[')
	b = skipSpace(b)
	if len(b) > 0 && b[0] == ']' {
		c.out = append(c.out, ']')
		return b[1:], true
	}
	for {
		var ok bool
		if b, ok = c.value(skipSpace(b)); !ok {
			return nil, false
		}
		b = skipSpace(b)
		switch {
		case len(b) > 0 && b[0] == ',':
			c.out = append(c.out, ',')
			b = b[1:]
		case len(b) > 0 && b[0] == ']':
			c.out = append(c.out, ']')
			return b[1:], true
		default:
			return nil, false
		}
	}
}

// object writes the members of the object at b sorted by key: each value
// is written after the others, then the members are copied in order.
func (c *canonicalizer) object(b []byte) ([]byte, bool) {
	b = skipSpace(b)
	if len(b) > 0 && b[0] == '}' {
		c.out = append(c.out, "{}"...)
		return b[1:], true
	}
	base := len(c.members)
	c.depth++
	defer func() { c.members, c.depth = c.members[:base], c.depth-1 }()
	start := len(c.out)
	for {
		if len(b) == 0 || b[0] != '"' {
			return nil, false
		}
		key, rest, ok := stringToken(b)
		if !ok {
			return nil, false
		}
		b = skipSpace(rest)
		if len(b) == 0 || b[0] != ':' {
			return nil, false
		}
		m := member{key: key, start: len(c.out)}
		if b, ok = c.value(skipSpace(b[1:])); !ok {
			return nil, false
		}
		m.end = len(c.out)
		if c.capture && c.depth == 1 && string(key) == "tenant_id" && c.out[m.start] == '"' {
			c.tenant = string(c.out[m.start+1 : m.end-1])
		}
		c.members = append(c.members, m)
		b = skipSpace(b)
		if len(b) > 0 && b[0] == ',' {
			b = skipSpace(b[1:])
			continue
		}
		if len(b) == 0 || b[0] != '}' {
			return nil, false
		}
		b = b[1:]
		break
	}
	ms := c.members[base:]
	slices.SortFunc(ms, func(x, y member) int { return bytes.Compare(x.key, y.key) })
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i-1].key, ms[i].key) {
			return nil, false // a key twice: Canonical keeps the last
		}
	}
	c.scratch = append(c.scratch[:0], c.out[start:]...)
	values := c.scratch
	c.out = append(c.out[:start], '{')
	for i, m := range ms {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, '"')
		c.out = append(c.out, m.key...)
		c.out = append(c.out, '"', ':')
		c.out = append(c.out, values[m.start-start:m.end-start]...)
	}
	c.out = append(c.out, '}')
	return b, true
}

// canonicalFast returns the canonical encoding by the fast path, or ok
// false where it falls back; for tests.
func canonicalFast(l Leaf) ([]byte, bool) {
	c := &canonicalizer{}
	if !c.leaf(l) {
		return nil, false
	}
	return c.out, true
}
