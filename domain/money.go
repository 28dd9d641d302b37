package domain

import (
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 alphabetic code, such as "EUR".
type Currency string

// minorUnits holds every active ISO 4217 currency that has minor units,
// with their number; funds and precious metals, which have none, are left
// out. Codes not listed have two.
var minorUnits = map[Currency]int32{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// twoDecimalCurrencies lists the active ISO 4217 codes with two minor units.
const twoDecimalCurrencies = `AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW
KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD
NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST
XCD XCG YER ZAR ZMW ZWG`

func init() {
	for _, code := range strings.Fields(twoDecimalCurrencies) {
		minorUnits[Currency(code)] = 2
	}
}

// ParseCurrency returns the currency with ISO 4217 code s, or a refusal
// naming field.
func ParseCurrency(field, s string) (Currency, error) {
	c := Currency(s)
	if _, ok := minorUnits[c]; !ok {
		return "", Invalid(field, "%q is not an ISO 4217 currency code", s)
	}
	return c, nil
}

// MinorUnits returns how many decimal places c's amounts are shown with.
func (c Currency) MinorUnits() int32 { return minorUnits[c] }

// Present rounds amount half-up to c's minor unit and formats it, as
// amounts are shown: "49.00".
func (c Currency) Present(amount decimal.Decimal) string {
	return amount.Round(c.MinorUnits()).StringFixed(c.MinorUnits())
}

// ParsePrice reads a non-negative decimal string such as "49.00", or
// returns a refusal naming field: invalid when malformed or negative,
// CodeInvalidPrice when it has more than MaxPriceDigits digits before
// the point or MaxPriceScale after it.
func ParsePrice(field, s string) (decimal.Decimal, error) {
	if intDigits(s) > MaxPriceDigits {
		return decimal.Decimal{}, priceError(field, "has more than %d digits before the point", MaxPriceDigits)
	}
	d, err := decimal.NewFromString(s)
	switch {
	case err != nil || strings.ContainsAny(s, "eE") || strings.TrimSpace(s) != s:
		return decimal.Decimal{}, Invalid(field, "%q is not a decimal amount such as \"49.00\"", s)
	case d.IsNegative():
		return decimal.Decimal{}, Invalid(field, "must not be negative")
	}
	if err := checkPrice(field, d); err != nil {
		return decimal.Decimal{}, err
	}
	return d, nil
}
