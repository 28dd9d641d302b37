package domain

import (
	"errors"
	"testing"
)

// FuzzParsers feeds arbitrary text to the parsers of outside input: they
// must never panic, must refuse only with ErrInvalid or, for a date or
// price out of bounds, its rule, and what they accept must print back to
// something they accept again as equal, inside the bounds.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"2026-11-25", "2024-02-29", "2026-13-01", "49.00", "-1", "1e3", "0.12345678901", "1899-12-31", "10000-01-15", "1234567890123", "EUR", "eur", "XAU", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDate("date", s); err == nil {
			again, err := ParseDate("date", d.String())
			if err != nil || again != d || !d.InBounds() {
				t.Fatalf("date %q printed as %q reads back as %v, %v", s, d.String(), again, err)
			}
		} else if !refusedAs(err, CodeDateOutOfRange) {
			t.Fatalf("ParseDate(%q) = %v, want ErrInvalid or %s", s, err, CodeDateOutOfRange)
		}
		if p, err := ParsePrice("price", s); err == nil {
			again, err := ParsePrice("price", p.String())
			if err != nil || !again.Equal(p) || p.IsNegative() || checkPrice("price", p) != nil {
				t.Fatalf("price %q printed as %q reads back as %v, %v", s, p.String(), again, err)
			}
		} else if !refusedAs(err, CodeInvalidPrice) {
			t.Fatalf("ParsePrice(%q) = %v, want ErrInvalid or %s", s, err, CodeInvalidPrice)
		}
		if c, err := ParseCurrency("currency", s); err == nil {
			if string(c) != s || c.MinorUnits() < 0 || c.MinorUnits() > 4 {
				t.Fatalf("currency %q parsed as %q with %d minor units", s, c, c.MinorUnits())
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseCurrency(%q) = %v, want ErrInvalid", s, err)
		}
	})
}

// refusedAs reports whether err is a refusal of malformed input, or of
// the rule code.
func refusedAs(err error, code string) bool {
	var e *Error
	return errors.Is(err, ErrInvalid) || errors.As(err, &e) && errors.Is(err, ErrRule) && e.Code == code
}
