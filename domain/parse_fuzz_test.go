package domain

import (
	"errors"
	"testing"
)

// FuzzParsers feeds arbitrary text to the parsers of outside input: they
// must never panic, must refuse only with ErrInvalid, and what they accept
// must print back to something they accept again as equal.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"2026-11-25", "2024-02-29", "2026-13-01", "49.00", "-1", "1e3", "0.12345678901", "EUR", "eur", "XAU", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDate("date", s); err == nil {
			again, err := ParseDate("date", d.String())
			if err != nil || again != d {
				t.Fatalf("date %q printed as %q reads back as %v, %v", s, d.String(), again, err)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseDate(%q) = %v, want ErrInvalid", s, err)
		}
		if p, err := ParsePrice("price", s); err == nil {
			again, err := ParsePrice("price", p.String())
			if err != nil || !again.Equal(p) || p.IsNegative() {
				t.Fatalf("price %q printed as %q reads back as %v, %v", s, p.String(), again, err)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParsePrice(%q) = %v, want ErrInvalid", s, err)
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
