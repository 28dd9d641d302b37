package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Bounds of every value the ledger accepts or derives (api.md, "Bounds").
// Inside them, every read model stores a value and every reader parses it
// back: dates are Postgres dates and YYYY-MM-DD in JSON, where a year has
// four digits; prices, MRR and usage quantities are Postgres numeric,
// which holds at most 131,072 digits before the point; names are text.
// The domain refuses, up front, whatever falls outside, so that no event
// it decides can stop a projection.
var (
	// MinDate is the earliest date the ledger accepts or derives.
	MinDate = Date{year: 1900, month: time.January, day: 1}
	// MaxDate is the latest: a later one has no YYYY-MM-DD form.
	MaxDate = Date{year: 9999, month: time.December, day: 31}
)

// The bounds of amounts, text and collections.
const (
	// MaxPriceDigits is the most digits of a price before the point.
	MaxPriceDigits = 12
	// MaxPriceScale is the most digits of a price after the point.
	MaxPriceScale = 10
	// MaxUsageDigits is the most digits of a usage quantity before the
	// point.
	MaxUsageDigits = 15
	// MaxUsageScale is the most digits of a usage quantity after the
	// point.
	MaxUsageScale = 10
	// MaxNameChars is the longest name (of a tenant, partner, user,
	// account, contact, product or charge), in characters.
	MaxNameChars = 200
	// MaxEmailChars is the longest email address, in characters.
	MaxEmailChars = 254
	// MaxKeyChars is the longest id or key given as text, in characters.
	MaxKeyChars = 255
	// MaxChanges is the most changes one amendment makes.
	MaxChanges = 100
	// MaxItems is the most items a subscription holds, removed ones
	// included (the read model keeps them all).
	MaxItems = 500
)

// Codes of the refusals of values out of bounds.
const (
	CodeDateOutOfRange = "date_out_of_range"
	CodeInvalidPrice   = "invalid_price"
	CodeValueTooLong   = "value_too_long"
	CodeTooManyChanges = "too_many_changes"
	CodeTooManyItems   = "too_many_items"
)

// InBounds reports whether d lies in MinDate..MaxDate. The zero Date does
// not.
func (d Date) InBounds() bool { return !d.Before(MinDate) && !d.After(MaxDate) }

// checkDate refuses date d, called what ("the start date"), when it lies
// outside MinDate..MaxDate, naming field. The zero Date passes: whether a
// date is required is the caller's check.
func checkDate(field, what string, d Date) *Error {
	if d.IsZero() || d.InBounds() {
		return nil
	}
	return dateOutOfRange(field, what+" "+d.String())
}

// dateOutOfRange is the refusal of what, a date outside the bounds; it
// names field unless field is empty.
func dateOutOfRange(field, what string) *Error {
	e := RuleError(CodeDateOutOfRange, "%s is outside %s..%s", what, MinDate, MaxDate)
	if field == "" {
		return e
	}
	return e.AtField(field)
}

// isFarDate reports whether s is of the form YYYY-MM-DD but for a year of
// five digits or more, such as 10000-01-15: well formed, and out of range.
func isFarDate(s string) bool {
	year, rest, ok := strings.Cut(s, "-")
	if !ok || len(year) < 5 || year[0] == '0' || strings.TrimLeft(year, "0123456789") != "" || len(rest) != len("01-02") {
		return false
	}
	_, err := time.Parse(dateLayout, "2000-"+rest) // a leap year: any month and day
	return err == nil
}

// checkPrice refuses price p with more than MaxPriceDigits digits before
// the point or MaxPriceScale after it (CodeInvalidPrice), naming field.
// The digits after the point count as given ("1.50" has two).
func checkPrice(field string, p decimal.Decimal) *Error {
	if p.Exponent() < -MaxPriceScale {
		return priceError(field, "has more than %d decimal places", MaxPriceScale)
	}
	if p.Exponent() > MaxPriceDigits || !p.Abs().LessThan(decimal.New(1, MaxPriceDigits)) {
		return priceError(field, "has more than %d digits before the point", MaxPriceDigits)
	}
	return nil
}

func priceError(field, format string, args ...any) *Error {
	return RuleError(CodeInvalidPrice, "a price "+format, args...).AtField(field)
}

// intDigits returns how many digits s, a decimal string, has before its
// point, leading zeros and sign left out, or 0 when they are not all
// digits (the parser refuses that). It reads only the text, so that a
// price of a million digits is refused before it is parsed.
func intDigits(s string) int {
	s = strings.TrimPrefix(s, "+")
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	if strings.TrimLeft(s, "0123456789") != "" {
		return 0
	}
	return len(strings.TrimLeft(s, "0"))
}

// checkUsageQuantity refuses a usage quantity q that is not positive, or
// has more than MaxUsageDigits digits before the point or MaxUsageScale
// after it (CodeInvalidQuantity), naming field. Trailing zeros after the
// point do not count. The exponent is checked first, so that an absurd
// one (1e999999999) costs nothing.
func checkUsageQuantity(field string, q decimal.Decimal) *Error {
	ok := q.Exponent() >= -MaxUsageScale-20 && q.Exponent() <= MaxUsageDigits &&
		q.IsPositive() && q.LessThan(decimal.New(1, MaxUsageDigits)) && q.Equal(q.Truncate(MaxUsageScale))
	if ok {
		return nil
	}
	return RuleError(CodeInvalidQuantity, "a usage quantity is greater than zero, with at most %d digits before the point and %d after",
		MaxUsageDigits, MaxUsageScale).AtField(field)
}

// checkLength refuses text s of more than max characters
// (CodeValueTooLong), naming field.
func checkLength(field, s string, max int) *Error {
	if n := utf8.RuneCountInString(s); n > max {
		return RuleError(CodeValueTooLong, "%s has %d characters; at most %d", field, n, max).AtField(field)
	}
	return nil
}

// tooManyItems is the refusal of a subscription that would hold more than
// MaxItems items, naming field.
func tooManyItems(field string, n int) *Error {
	return RuleError(CodeTooManyItems, "a subscription holds at most %d items, removed ones included; this one would hold %d",
		MaxItems, n).AtField(field)
}

// tooManyChanges is the refusal of an amendment of n changes.
func tooManyChanges(n int) *Error {
	return RuleError(CodeTooManyChanges, "an amendment makes at most %d changes, not %d", MaxChanges, n).AtField("changes")
}
