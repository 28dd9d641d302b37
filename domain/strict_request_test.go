package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

type srItem struct {
	ProductID uuid.UUID       `json:"product_id"`
	Quantity  decimal.Decimal `json:"quantity"`
	UnitPrice *string         `json:"unit_price,omitempty"`
}

type srTerm struct {
	Type   string `json:"type"`
	Months int    `json:"months,omitempty"`
}

type srRequest struct {
	Name      string     `json:"name"`
	StartDate Date       `json:"start_date"`
	At        *time.Time `json:"at,omitempty"`
	Renew     bool       `json:"renew,omitempty"`
	Term      srTerm     `json:"term"`
	Items     []srItem   `json:"items"`
}

// TestDecodeRequest checks strict request decoding: exact names, keys
// given once, known fields only, every leaf of its JSON type, each refusal
// naming the field's path.
func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	const item = `{"product_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b09","quantity":2}`
	tests := []struct {
		name  string
		body  string
		opts  RequestOptions
		kind  error  // nil: accepted
		code  string // CodeInvalid unless set
		field string
	}{
		{"all fields", `{"name":"x","start_date":"2025-01-01","at":"2025-01-01T00:00:00Z","renew":true,` +
			`"term":{"type":"termed","months":12},"items":[` + item + `]}`, RequestOptions{}, nil, "", ""},
		{"fields absent", `{}`, RequestOptions{}, nil, "", ""},
		{"null pointer", `{"at":null}`, RequestOptions{}, nil, "", ""},
		{"upper case name", `{"NAME":"x"}`, RequestOptions{}, ErrInvalid, "", "NAME"},
		{"name twice", `{"name":"x","name":"y"}`, RequestOptions{}, ErrInvalid, "", "name"},
		{"nested key twice", `{"term":{"type":"a","type":"b"}}`, RequestOptions{}, ErrInvalid, "", "term.type"},
		{"unknown field", `{"name":"x","admin":true}`, RequestOptions{}, ErrInvalid, "", "admin"},
		{"unknown in an item", `{"items":[` + item + `,{"price":"1"}]}`, RequestOptions{}, ErrInvalid, "", "items[1].price"},
		{"quantity as a string", `{"items":[` + item + `,{"quantity":"2"}]}`, RequestOptions{}, ErrInvalid, "", "items[1].quantity"},
		{"quantity string allowed", `{"items":[{"quantity":"2.5"}]}`, RequestOptions{DecimalStrings: true}, nil, "", ""},
		{"quantity not a decimal", `{"items":[{"quantity":"two"}]}`, RequestOptions{DecimalStrings: true}, ErrInvalid, "", "items[0].quantity"},
		{"quantity a boolean", `{"items":[{"quantity":true}]}`, RequestOptions{DecimalStrings: true}, ErrInvalid, "", "items[0].quantity"},
		{"string as a number", `{"name":5}`, RequestOptions{}, ErrInvalid, "", "name"},
		{"string null", `{"name":null}`, RequestOptions{}, ErrInvalid, "", "name"},
		{"int as a string", `{"term":{"months":"12"}}`, RequestOptions{}, ErrInvalid, "", "term.months"},
		{"int fraction", `{"term":{"months":1.5}}`, RequestOptions{}, ErrInvalid, "", "term.months"},
		{"bool as a string", `{"renew":"true"}`, RequestOptions{}, ErrInvalid, "", "renew"},
		{"bad uuid", `{"items":[{"product_id":"nope"}]}`, RequestOptions{}, ErrInvalid, "", "items[0].product_id"},
		{"bad date", `{"start_date":"01/02/2025"}`, RequestOptions{}, ErrInvalid, "", "start_date"},
		{"date as a number", `{"start_date":20250101}`, RequestOptions{}, ErrInvalid, "", "start_date"},
		{"far date", `{"start_date":"10000-01-01"}`, RequestOptions{}, ErrRule, CodeDateOutOfRange, "start_date"},
		{"bad instant", `{"at":"yesterday"}`, RequestOptions{}, ErrInvalid, "", "at"},
		{"object for an array", `{"items":{}}`, RequestOptions{}, ErrInvalid, "", "items"},
		{"array for the body", `[]`, RequestOptions{}, ErrInvalid, "", "body"},
		{"empty", ``, RequestOptions{}, ErrInvalid, "", "body"},
		{"malformed", `{"name":`, RequestOptions{}, ErrInvalid, "", "body"},
		{"two values", `{} {}`, RequestOptions{}, ErrInvalid, "", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got srRequest
			err := DecodeRequest([]byte(tt.body), &got, tt.opts)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("DecodeRequest(%s) = %v", tt.body, err)
				}
				return
			}
			code := tt.code
			if code == "" {
				code = CodeInvalid
			}
			var de *Error
			if !errors.As(err, &de) || !errors.Is(err, tt.kind) || de.Code != code {
				t.Fatalf("DecodeRequest(%s) = %v, want kind %v code %s", tt.body, err, tt.kind, code)
			}
			if len(de.Fields) != 1 || de.Fields[0].Field != tt.field {
				t.Fatalf("DecodeRequest(%s) fields %+v, want %q", tt.body, de.Fields, tt.field)
			}
		})
	}
}

// TestDecodeRequestValues checks that an accepted body decodes as
// encoding/json would.
func TestDecodeRequestValues(t *testing.T) {
	t.Parallel()
	var got srRequest
	body := `{"name":"x","start_date":"2025-01-31","term":{"type":"termed","months":12},` +
		`"items":[{"product_id":"0196a1e2-7c40-7b1e-9a52-3f6d2c8e4b09","quantity":3,"unit_price":"9.50"}]}`
	if err := DecodeRequest([]byte(body), &got, RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	if got.Name != "x" || got.StartDate.String() != "2025-01-31" || got.Term.Months != 12 || len(got.Items) != 1 ||
		!got.Items[0].Quantity.Equal(decimal.NewFromInt(3)) || got.Items[0].UnitPrice == nil || *got.Items[0].UnitPrice != "9.50" {
		t.Fatalf("decoded %+v", got)
	}
}
