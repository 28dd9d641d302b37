package domain

import (
	"strings"
	"unicode"
)

// CodeInvalidText is the refusal of a name holding characters that hide
// or reorder what a reader sees.
const CodeInvalidText = "invalid_text"

// hiddenRune reports whether r is a control character (NUL, a newline, an
// escape of a terminal) or a bidirectional control (U+202E and its kin),
// which no user-supplied name may hold.
func hiddenRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// checkNameRunes is the one rule of every user-supplied name: no control
// and no bidirectional-control characters (422 CodeInvalidText).
func checkNameRunes(field, s string) *Error {
	if strings.IndexFunc(s, hiddenRune) < 0 {
		return nil
	}
	return RuleError(CodeInvalidText, "%s must be one line of text without control or bidirectional-control characters", field).
		AtField(field)
}
