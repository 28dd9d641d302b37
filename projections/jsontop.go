package projections

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// topFields finds the raw top-level values of the given keys in the JSON
// object data without decoding it, for the projections that need a few
// fields of every event: raw[i] is the value of keys[i] as written (a
// string with its quotes), nil when the key is absent.
//
// It is exact for well-formed JSON whose keys carry no escapes, in which
// no wanted key appears twice and no key differs from a wanted one by
// case alone: it answers ok false for anything else, and for malformed
// JSON, and the caller then decodes the data with encoding/json.
func topFields(data []byte, keys ...string) (raw [][]byte, ok bool) {
	raw = make([][]byte, len(keys))
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return raw, skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, escaped := scanString(data, i)
		if next < 0 || escaped {
			return nil, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		end := skipValue(data, i)
		if end < 0 {
			return nil, false
		}
		ascii := isASCII(key)
		for k, want := range keys {
			switch {
			case string(key) == want && raw[k] == nil:
				raw[k] = data[i:end]
			case (len(key) == len(want) || !ascii) && bytes.EqualFold(key, []byte(want)):
				return nil, false // a repeat, or a key encoding/json would match
			}
		}
		next, closed := nextElement(data, end, '}')
		switch {
		case next < 0:
			return nil, false
		case closed:
			return raw, skipSpace(data, next) == len(data)
		}
		i = next
	}
}

// nextElement reads what follows an element of an object or array that
// closer ends: a comma, and it returns where the next element starts, or
// closer, and it returns the index after it with closed set; -1 when
// neither follows.
func nextElement(data []byte, i int, closer byte) (next int, closed bool) {
	i = skipSpace(data, i)
	switch {
	case i >= len(data):
		return -1, false
	case data[i] == ',':
		return skipSpace(data, i+1), false
	case data[i] == closer:
		return i + 1, true
	}
	return -1, false
}

// plainString returns the string raw holds, a value from topFields, as
// encoding/json would decode it into a string field: "" when absent, null
// or of another type. ok is false for a string with escapes or with bytes
// that are not UTF-8.
func plainString(raw []byte) (s string, ok bool) {
	b, ok := plainBytes(raw)
	return string(b), ok
}

// plainBytes is plainString without the copy into a string.
func plainBytes(raw []byte) (b []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, true
	}
	b = raw[1 : len(raw)-1]
	if bytes.IndexByte(b, '\\') >= 0 || !utf8.Valid(b) {
		return nil, false // encoding/json would unescape it, or replace bytes that are not UTF-8
	}
	return b, true
}

// scanString reads the JSON string starting at data[i]: its raw contents,
// the index after its closing quote (-1 when there is no well-formed
// string there) and whether it holds escapes.
func scanString(data []byte, i int) (s []byte, next int, escaped bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, -1, false
	}
	for j := i + 1; j < len(data); j++ {
		j = skipPlain(data, j)
		if j >= len(data) {
			break
		}
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, escaped
		case c == '\\':
			escaped = true
			if j+1 >= len(data) {
				return nil, -1, false
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(data) || !isHex(data[j+2]) || !isHex(data[j+3]) || !isHex(data[j+4]) || !isHex(data[j+5]) {
					return nil, -1, false
				}
				j += 5
			default:
				return nil, -1, false
			}
		default: // a control character
			return nil, -1, false
		}
	}
	return nil, -1, false
}

// skipPlain returns the index of the first byte at or after j that ends
// a plain run in a JSON string (its closing quote, a backslash or a
// control character it must not hold), or len(data). It looks at eight
// bytes at a time.
func skipPlain(data []byte, j int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; j+8 <= len(data); j += 8 {
		x := binary.LittleEndian.Uint64(data[j:])
		quote, backslash := x^(ones*'"'), x^(ones*'\\')
		stops := (quote-ones)&^quote | (backslash-ones)&^backslash | (x-ones*0x20)&^x
		if stops &= highs; stops != 0 {
			return j + bits.TrailingZeros64(stops)/8
		}
	}
	for ; j < len(data); j++ {
		if c := data[j]; c == '"' || c == '\\' || c < 0x20 {
			return j
		}
	}
	return j
}

// skipValue returns the index after the well-formed JSON value starting
// at data[i], or -1.
func skipValue(data []byte, i int) int {
	return skipValueDepth(data, i, 0)
}

// maxJSONDepth bounds the nesting skipValue follows, as encoding/json
// bounds its own.
const maxJSONDepth = 10000

func skipValueDepth(data []byte, i, depth int) int {
	if i >= len(data) || depth > maxJSONDepth {
		return -1
	}
	switch c := data[i]; {
	case c == '"':
		_, next, _ := scanString(data, i)
		return next
	case c == '{':
		return skipObject(data, i, depth)
	case c == '[':
		return skipArray(data, i, depth)
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(data, i)
	}
	return -1
}

func skipObject(data []byte, i, depth int) int {
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1
	}
	for {
		_, next, _ := scanString(data, i)
		if next < 0 {
			return -1
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return -1
		}
		if i = skipValueDepth(data, skipSpace(data, i+1), depth+1); i < 0 {
			return -1
		}
		var closed bool
		if i, closed = nextElement(data, i, '}'); i < 0 || closed {
			return i
		}
	}
}

func skipArray(data []byte, i, depth int) int {
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1
	}
	for {
		if i = skipValueDepth(data, i, depth+1); i < 0 {
			return -1
		}
		var closed bool
		if i, closed = nextElement(data, i, ']'); i < 0 || closed {
			return i
		}
	}
}

func skipLiteral(data []byte, i int, lit string) int {
	if !bytes.HasPrefix(data[i:], []byte(lit)) {
		return -1
	}
	return i + len(lit)
}

// skipNumber skips a number as JSON's grammar has it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(data []byte, i int) int {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}
