package domain

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of refusal. Every error the domain returns wraps one of them,
// and adapters map each kind to one response (HTTP status, exit code).
var (
	// ErrInvalid: the input is malformed (a missing field, a bad format).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: the resource does not exist, or is outside the caller's
	// scope, which the caller must not be able to tell apart.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the resource is in scope but the caller lacks the
	// permission.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the resource already exists.
	ErrConflict = errors.New("conflict")
	// ErrRule: a business rule refused the command.
	ErrRule = errors.New("rule violated")
	// ErrPrecondition: the aggregate's version is not the one the caller
	// expected (If-Match).
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnauthenticated: the caller's credentials are missing, unknown or
	// no longer valid.
	ErrUnauthenticated = errors.New("unauthenticated")
)

// Codes of refusals, as api.md names them.
const (
	CodeInvalid                   = "validation_failed"
	CodeUnauthenticated           = "unauthenticated"
	CodeNotFound                  = "not_found"
	CodeForbidden                 = "forbidden"
	CodeConflict                  = "conflict"
	CodePreconditionFailed        = "precondition_failed"
	CodePartnerAccessRevoked      = "partner_access_revoked"
	CodePartnerAccessExpired      = "partner_access_expired"
	CodePriceOverrideNotPermitted = "price_override_not_permitted"
	CodeIdempotencyKeyReused      = "idempotency_key_reused"
	CodeAccountNotActive          = "account_not_active"
	CodeCurrencyMismatch          = "currency_mismatch"
	CodeUnknownProduct            = "unknown_product"
	CodeUnknownCharge             = "unknown_charge"
	CodeInvalidQuantity           = "invalid_quantity"
	CodeNoItems                   = "no_items"
	CodeInvalidTerm               = "invalid_term"
	CodeSubscriptionNotActive     = "subscription_not_active"
	CodeEffectiveDateBeforeStart  = "effective_date_before_start"
	CodeUnknownItem               = "unknown_item"
	CodeItemAlreadyRemoved        = "item_already_removed"
	CodeWouldRemoveLastItem       = "would_remove_last_item"
	CodeAlreadyCancelled          = "already_cancelled"
	CodeLastAdmin                 = "last_admin"
	CodeAllAccountsGrant          = "all_accounts_grant"
	CodeConcurrencyConflict       = "concurrency_conflict"
)

// Error is the domain's one typed error: a kind (one of the sentinels
// above), a stable code, a message for people, and the fields at fault.
type Error struct {
	Kind    error
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError names one field at fault, as a path such as
// "items[0].quantity".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the error's kind, so that errors.Is(err, ErrRule) works.
func (e *Error) Unwrap() error { return e.Kind }

// RuleError returns a refusal by the business rule code.
func RuleError(code, format string, args ...any) *Error {
	return &Error{Kind: ErrRule, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a refusal of malformed input in field.
func Invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Kind: ErrInvalid, Code: CodeInvalid, Message: field + ": " + msg,
		Fields: []FieldError{{Field: field, Message: msg}}}
}

// NotFound returns a refusal for an absent (or out of scope) resource.
func NotFound(what string) *Error {
	return &Error{Kind: ErrNotFound, Code: CodeNotFound, Message: what + " not found"}
}

// Conflict returns a refusal to create what already exists.
func Conflict(what string) *Error {
	return &Error{Kind: ErrConflict, Code: CodeConflict, Message: what}
}

// Contended returns the refusal of a command whose streams other writers
// kept changing for longer than d: it was decided again and again, and
// every time another append won. The caller may try again later.
func Contended(d time.Duration) *Error {
	return &Error{Kind: ErrConflict, Code: CodeConcurrencyConflict,
		Message: fmt.Sprintf("other writers kept changing this resource for %s; try again", d)}
}

// Forbidden returns a refusal for a missing permission, with code.
func Forbidden(code, format string, args ...any) *Error {
	return &Error{Kind: ErrForbidden, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unauthenticated returns a refusal of missing or invalid credentials.
// Its message never says which part was wrong.
func Unauthenticated() *Error {
	return &Error{Kind: ErrUnauthenticated, Code: CodeUnauthenticated, Message: "a valid API key is required"}
}

// AtField returns a copy of e that names field as the one at fault.
func (e *Error) AtField(field string) *Error {
	c := *e
	c.Fields = append([]FieldError{{Field: field, Message: e.Message}}, e.Fields...)
	return &c
}
