package domain

import (
	"bytes"
	"unicode/utf8"
)

// skip checks one well-formed JSON value of any shape: strings as str
// checks them, objects without a key given twice.
func (c *checker) skip(depth int) error {
	if depth > maxShapeDepth {
		return c.syntaxError("nested too deeply")
	}
	if c.i >= len(c.data) {
		return c.syntaxError("unexpected end")
	}
	switch b := c.data[c.i]; {
	case b == '"':
		_, _, err := c.str()
		return err
	case b == '{':
		return c.anyObject(anyShape, depth)
	case b == '[':
		return c.array(&shape{kind: arrayShape, elem: anyShape, length: -1}, depth)
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || b >= '0' && b <= '9':
		return c.number()
	}
	return c.syntaxError("want a value")
}

func (c *checker) literal(lit string) error {
	if !bytes.HasPrefix(c.data[c.i:], []byte(lit)) {
		return c.syntaxError("want " + lit)
	}
	c.i += len(lit)
	return nil
}

// number checks a number as JSON's grammar has it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *checker) number() error {
	if c.data[c.i] == '-' {
		c.i++
	}
	switch {
	case c.i < len(c.data) && c.data[c.i] == '0':
		c.i++
	case c.i < len(c.data) && c.data[c.i] >= '1' && c.data[c.i] <= '9':
		c.digits()
	default:
		return c.syntaxError("malformed number")
	}
	if c.i < len(c.data) && c.data[c.i] == '.' {
		c.i++
		if c.digits() == 0 {
			return c.syntaxError("malformed number")
		}
	}
	if c.i < len(c.data) && (c.data[c.i] == 'e' || c.data[c.i] == 'E') {
		c.i++
		if c.i < len(c.data) && (c.data[c.i] == '+' || c.data[c.i] == '-') {
			c.i++
		}
		if c.digits() == 0 {
			return c.syntaxError("malformed number")
		}
	}
	return nil
}

func (c *checker) digits() int {
	start := c.i
	for c.i < len(c.data) && c.data[c.i] >= '0' && c.data[c.i] <= '9' {
		c.i++
	}
	return c.i - start
}

// str checks the string at c.i and returns its raw contents, whether they
// hold escapes, or an error for a control character, a malformed escape,
// a lone surrogate or bytes that are not UTF-8: encoding/json would
// silently replace the last two with U+FFFD.
func (c *checker) str() (raw []byte, escaped bool, err error) {
	if c.i >= len(c.data) || c.data[c.i] != '"' {
		return nil, false, c.syntaxError("want a string")
	}
	start := c.i + 1
	ascii := true
	for c.i = start; c.i < len(c.data); c.i++ {
		switch b := c.data[c.i]; {
		case b == '"':
			raw = c.data[start:c.i]
			c.i++
			if !ascii && !utf8.Valid(raw) {
				return nil, false, shapeErrorf("a string that is not UTF-8")
			}
			return raw, escaped, nil
		case b == '\\':
			escaped = true
			if err := c.escape(); err != nil {
				return nil, false, err
			}
		case b < 0x20:
			return nil, false, c.syntaxError("a control character in a string")
		case b >= 0x80:
			ascii = false
		}
	}
	return nil, false, c.syntaxError("unterminated string")
}

// escape checks the escape at c.i, a backslash, and leaves c.i on its last
// byte. A high surrogate must be followed by a low one, and a low one
// must follow a high one.
func (c *checker) escape() error {
	if c.i+1 >= len(c.data) {
		return c.syntaxError("unterminated escape")
	}
	switch c.data[c.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		c.i++
		return nil
	case 'u':
	default:
		return c.syntaxError("malformed escape")
	}
	r, ok := c.hex4(c.i + 2)
	if !ok {
		return c.syntaxError("malformed \\u escape")
	}
	c.i += 5
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return shapeErrorf("a lone surrogate in a string")
	case r >= 0xD800 && r <= 0xDBFF:
		if c.i+2 >= len(c.data) || c.data[c.i+1] != '\\' || c.data[c.i+2] != 'u' {
			return shapeErrorf("a lone surrogate in a string")
		}
		low, ok := c.hex4(c.i + 3)
		if !ok || low < 0xDC00 || low > 0xDFFF {
			return shapeErrorf("a lone surrogate in a string")
		}
		c.i += 6
	}
	return nil
}

// hex4 reads the four hex digits at data[at:].
func (c *checker) hex4(at int) (rune, bool) {
	if at+4 > len(c.data) {
		return 0, false
	}
	var r rune
	for _, h := range c.data[at : at+4] {
		switch {
		case h >= '0' && h <= '9':
			r = r<<4 | rune(h-'0')
		case h >= 'a' && h <= 'f':
			r = r<<4 | rune(h-'a'+10)
		case h >= 'A' && h <= 'F':
			r = r<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
