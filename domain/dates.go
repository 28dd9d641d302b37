package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// dateLayout is the one form of a civil date in the API: YYYY-MM-DD.
const dateLayout = "2006-01-02"

// Date is a civil date in UTC, such as 2025-01-31, with no time of day.
// The zero Date is no date: IsZero reports it, and it is JSON null.
// Dates compare with == and Compare.
type Date struct {
	year  int
	month time.Month
	day   int
}

// NewDate returns the date year-month-day, normalized as time.Date does
// (so 2025-02-30 is 2025-03-02).
func NewDate(year int, month time.Month, day int) Date {
	return DateOf(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// DateOf returns the UTC date of instant t.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{year: y, month: m, day: d}
}

// ParseDate reads s, a date as a caller gives it: YYYY-MM-DD from MinDate
// to MaxDate. A malformed date is refused as invalid, a well-formed one
// outside the bounds (1899-12-31, 10000-01-01) with CodeDateOutOfRange;
// both refusals name field.
func ParseDate(field, s string) (Date, error) {
	d, err := parseDate(field, s)
	if err != nil {
		return Date{}, err
	}
	if err := checkDate(field, "the date", d); err != nil {
		return Date{}, err
	}
	return d, nil
}

// ParseDateRange reads optional dates from and to (YYYY-MM-DD, both
// inclusive), a refusal naming fromField or toField; an empty one is the
// zero Date, which leaves its end open. to must not be before from.
func ParseDateRange(from, to, fromField, toField string) (Date, Date, error) {
	var f, t Date
	var err error
	if from != "" {
		if f, err = ParseDate(fromField, from); err != nil {
			return f, t, err
		}
	}
	if to != "" {
		if t, err = ParseDate(toField, to); err != nil {
			return f, t, err
		}
	}
	if from != "" && to != "" && t.Before(f) {
		return f, t, Invalid(toField, "must not be before %s", fromField)
	}
	return f, t, nil
}

// parseDate reads s as YYYY-MM-DD in years 0001 to 9999, as events hold
// dates (those recorded before the bounds may precede MinDate). A year
// of five digits or more, or year 0000, is refused with
// CodeDateOutOfRange, naming field unless it is empty.
func parseDate(field, s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	switch {
	case err == nil && len(s) == len(dateLayout) && t.Year() >= 1:
		return DateOf(t), nil
	case err == nil && len(s) == len(dateLayout), isFarDate(s):
		return Date{}, dateOutOfRange(field, "the date "+s)
	}
	if field == "" {
		field = "date"
	}
	return Date{}, Invalid(field, "%q is not a date of the form YYYY-MM-DD", s)
}

// IsZero reports whether d is the zero Date, which is no date.
func (d Date) IsZero() bool { return d == Date{} }

// Year returns d's year.
func (d Date) Year() int { return d.year }

// Month returns d's month.
func (d Date) Month() time.Month { return d.month }

// Day returns d's day of the month.
func (d Date) Day() int { return d.day }

// Time returns the instant d begins: midnight UTC.
func (d Date) Time() time.Time {
	if d.IsZero() {
		return time.Time{}
	}
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC)
}

// String returns d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after o. The
// zero Date is before every other.
func (d Date) Compare(o Date) int {
	switch {
	case d.year != o.year:
		return cmpInt(d.year, o.year)
	case d.month != o.month:
		return cmpInt(int(d.month), int(o.month))
	}
	return cmpInt(d.day, o.day)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Before reports whether d is before o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is after o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// AddDays returns d plus n days (n may be negative).
func (d Date) AddDays(n int) Date { return DateOf(d.Time().AddDate(0, 0, n)) }

// AddMonths returns d plus n months (n may be negative), clamped to the end
// of the month when it has fewer days: Jan 31 plus one month is Feb 28, or
// Feb 29 in a leap year.
func (d Date) AddMonths(n int) Date {
	months := d.year*12 + int(d.month) - 1 + n
	year, month := months/12, time.Month(months%12+1)
	if months < 0 {
		year, month = (months-11)/12, time.Month((months%12+12)%12+1)
	}
	return Date{year: year, month: month, day: min(d.day, daysIn(year, month))}
}

// daysIn returns the number of days in month of year.
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// monthsFrom returns the whole calendar months from d's month to o's,
// ignoring days: 2025-01-31 to 2025-02-01 is 1.
func (d Date) monthsFrom(o Date) int {
	return (o.year-d.year)*12 + int(o.month) - int(d.month)
}

// MarshalJSON encodes d as "YYYY-MM-DD", or null for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON decodes "YYYY-MM-DD", or null as the zero Date. It reads
// every date an event may hold (years 0001 to 9999); the commands check
// the bounds of the dates they are given.
func (d *Date) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	parsed, err := parseDate("", s)
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}
