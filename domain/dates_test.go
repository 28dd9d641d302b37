package domain

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Date
		ok   bool
	}{
		{"2025-01-31", NewDate(2025, time.January, 31), true},
		{"2024-02-29", NewDate(2024, time.February, 29), true},
		{"1900-01-01", NewDate(1900, time.January, 1), true},
		{"9999-12-31", NewDate(9999, time.December, 31), true},
		{"2025-02-29", Date{}, false},
		{"2025-13-01", Date{}, false},
		{"2025-1-05", Date{}, false},
		{"2025-01-05T00:00:00Z", Date{}, false},
		{" 2025-01-05", Date{}, false},
		{"", Date{}, false},
		{"20250105", Date{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDate("start_date", tt.in)
			if !tt.ok {
				fxWantErr(t, err, ErrInvalid, CodeInvalid, "start_date")
				return
			}
			if err != nil || got != tt.want || got.String() != tt.in {
				t.Fatalf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDateAddMonths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from string
		n    int
		want string
	}{
		{"2025-01-31", 1, "2025-02-28"},
		{"2024-01-31", 1, "2024-02-29"},
		{"2025-01-31", 2, "2025-03-31"},
		{"2025-01-31", 3, "2025-04-30"},
		{"2025-03-31", -1, "2025-02-28"},
		{"2025-11-30", 3, "2026-02-28"},
		{"2025-12-15", 1, "2026-01-15"},
		{"2025-01-15", -1, "2024-12-15"},
		{"2025-01-15", -13, "2023-12-15"},
		{"2024-02-29", 12, "2025-02-28"},
		{"2024-02-29", 48, "2028-02-29"},
		{"2025-05-31", 0, "2025-05-31"},
		{"2025-01-01", 120, "2035-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			t.Parallel()
			if got := fxDate(tt.from).AddMonths(tt.n).String(); got != tt.want {
				t.Fatalf("%s.AddMonths(%d) = %s, want %s", tt.from, tt.n, got, tt.want)
			}
		})
	}
}

func TestDateCompareAndDays(t *testing.T) {
	t.Parallel()
	a, b := fxDate("2025-01-31"), fxDate("2025-02-01")
	if !a.Before(b) || !b.After(a) || a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Fatal("ordering of 2025-01-31 and 2025-02-01 is wrong")
	}
	if !(Date{}).Before(a) || !(Date{}).IsZero() || a.IsZero() {
		t.Fatal("the zero Date must be before every date and be zero")
	}
	if got := a.AddDays(1); got != b {
		t.Fatalf("AddDays(1) = %s", got)
	}
	if got := fxDate("2024-03-01").AddDays(-1).String(); got != "2024-02-29" {
		t.Fatalf("AddDays(-1) = %s", got)
	}
	paris := time.FixedZone("CET", 3600)
	if got := DateOf(time.Date(2025, 1, 1, 0, 30, 0, 0, paris)).String(); got != "2024-12-31" {
		t.Fatalf("DateOf uses UTC: got %s", got)
	}
	if a.monthsFrom(b) != 1 || b.monthsFrom(a) != -1 {
		t.Fatal("monthsFrom ignores days")
	}
}

func TestDateJSON(t *testing.T) {
	t.Parallel()
	type doc struct {
		D Date `json:"d"`
		O Date `json:"o,omitzero"`
	}
	b, err := json.Marshal(doc{D: fxDate("2025-03-09")})
	if err != nil || string(b) != `{"d":"2025-03-09"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var got doc
	if err := json.Unmarshal([]byte(`{"d":"2024-02-29","o":null}`), &got); err != nil || got.D != fxDate("2024-02-29") || !got.O.IsZero() {
		t.Fatalf("Unmarshal = %+v, %v", got, err)
	}
	for _, bad := range []string{`{"d":"2025-02-30"}`, `{"d":20250101}`, `{"d":"2025-01-01T00:00:00Z"}`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
	if b, _ := json.Marshal(Date{}); string(b) != "null" {
		t.Fatalf("zero Date marshals as %s", b)
	}
}

func TestDateProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		d := fxDrawDate(rt, "d")
		n := rapid.IntRange(-240, 240).Draw(rt, "n")
		got := d.AddMonths(n)
		if got.monthsFrom(d) != -n && d.monthsFrom(got) != n {
			rt.Fatalf("%s + %d months = %s is not %d months away", d, n, got, n)
		}
		if got.Day() > d.Day() || (got.Day() < d.Day() && got.Day() != daysIn(got.Year(), got.Month())) {
			rt.Fatalf("%s + %d months = %s: the day is not kept nor clamped to the month's end", d, n, got)
		}
		if n > 0 && !got.After(d) || n < 0 && !got.Before(d) {
			rt.Fatalf("%s + %d months = %s is on the wrong side", d, n, got)
		}
		back, err := ParseDate("d", d.String())
		if err != nil || back != d || DateOf(d.Time()) != d {
			rt.Fatalf("%s does not round-trip: %v %v", d, back, err)
		}
		var e *Error
		if _, err := ParseDate("d", d.String()+"x"); !errors.As(err, &e) {
			rt.Fatalf("trailing garbage accepted")
		}
	})
}

func fxDrawDate(rt *rapid.T, label string) Date {
	days := rapid.IntRange(0, 365*60).Draw(rt, label)
	return NewDate(2000, time.January, 1).AddDays(days)
}

func TestParseDateRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, to  string
		wantField string // the field a refusal names; "" for none
	}{
		{"", "", ""},
		{"2026-01-01", "", ""},
		{"", "2026-01-31", ""},
		{"2026-01-01", "2026-01-01", ""},
		{"2026-01-02", "2026-01-01", "end"},
		{"2026-13-01", "", "start"},
		{"", "tomorrow", "end"},
	} {
		from, to, err := ParseDateRange(tc.from, tc.to, "start", "end")
		if tc.wantField == "" {
			if err != nil || (tc.from != "" && from.String() != tc.from) || (tc.to != "" && to.String() != tc.to) ||
				(tc.from == "" && !from.IsZero()) || (tc.to == "" && !to.IsZero()) {
				t.Errorf("ParseDateRange(%q, %q) = %v, %v, %v", tc.from, tc.to, from, to, err)
			}
			continue
		}
		var derr *Error
		if !errors.As(err, &derr) || !errors.Is(err, ErrInvalid) || len(derr.Fields) != 1 || derr.Fields[0].Field != tc.wantField {
			t.Errorf("ParseDateRange(%q, %q): %v, want a refusal of %s", tc.from, tc.to, err, tc.wantField)
		}
	}
}
