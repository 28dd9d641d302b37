package domain

import (
	"errors"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// AccountStatus is a customer account's status.
type AccountStatus string

// The statuses of a customer account.
const (
	AccountStatusActive AccountStatus = "active"
	AccountStatusClosed AccountStatus = "closed"
)

// InvoiceDelivery is how an account receives its invoices.
type InvoiceDelivery string

// The ways of delivering invoices.
const (
	DeliverByEmail  InvoiceDelivery = "email"
	DeliverByPortal InvoiceDelivery = "portal"
)

// Limits of an account's fields.
const (
	DefaultPaymentTermsDays = 30
	MaxPaymentTermsDays     = 120
	maxNameChars            = MaxNameChars
	maxAddressChars         = 1000
	maxTaxIDChars           = 64
	maxReasonChars          = 500
)

// Billing is an account's billing details, validated and normalized.
// Address is free text (lines separated by newlines).
type Billing struct {
	ContactName      string          `json:"contact_name"`
	Email            string          `json:"email"`
	Address          string          `json:"address,omitempty"`
	TaxID            string          `json:"tax_id,omitempty"`
	PaymentTermsDays int             `json:"payment_terms_days"`
	InvoiceDelivery  InvoiceDelivery `json:"invoice_delivery"`
}

// BillingInput is billing details as a caller gives them: a nil
// PaymentTermsDays means the default, 30, and an empty InvoiceDelivery
// means "email".
type BillingInput struct {
	ContactName      string
	Email            string
	Address          string
	TaxID            string
	PaymentTermsDays *int
	InvoiceDelivery  string
}

// Account is the state of a customer account.
type Account struct {
	ID        uuid.UUID
	TenantID  uuid.UUID
	Name      string
	Currency  Currency
	Billing   Billing
	Status    AccountStatus
	CreatedBy Actor
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   uint64
}

// AccountCreated records a new customer account.
type AccountCreated struct {
	AccountID uuid.UUID `json:"account_id"`
	TenantID  uuid.UUID `json:"tenant_id"`
	Name      string    `json:"name"`
	Currency  Currency  `json:"currency"`
	Billing   Billing   `json:"billing"`
	CreatedBy Actor     `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// AccountBillingUpdated records new billing details replacing the old.
type AccountBillingUpdated struct {
	AccountID uuid.UUID `json:"account_id"`
	Billing   Billing   `json:"billing"`
	UpdatedBy Actor     `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AccountClosed records that an account was closed: it takes no new
// subscriptions.
type AccountClosed struct {
	AccountID uuid.UUID `json:"account_id"`
	Reason    string    `json:"reason,omitempty"`
	ClosedBy  Actor     `json:"closed_by"`
	ClosedAt  time.Time `json:"closed_at"`
}

// EventType implements Event.
func (*AccountCreated) EventType() string { return "AccountCreated" }

// EventType implements Event.
func (*AccountBillingUpdated) EventType() string { return "AccountBillingUpdated" }

// EventType implements Event.
func (*AccountClosed) EventType() string { return "AccountClosed" }

func init() {
	register(
		func() Event { return &AccountCreated{} },
		func() Event { return &AccountBillingUpdated{} },
		func() Event { return &AccountClosed{} },
	)
}

// CreateAccount is the command to open a customer account. AccountID is
// chosen by the command layer.
type CreateAccount struct {
	AccountID uuid.UUID
	TenantID  uuid.UUID
	Name      string
	Currency  string
	Billing   BillingInput
}

// Exists reports whether the account was created.
func (a *Account) Exists() bool { return a.ID != uuid.Nil }

// CreatedByPartner returns the partner whose user created the account, or
// uuid.Nil: that partner's scope includes the account.
func (a *Account) CreatedByPartner() uuid.UUID {
	if a.CreatedBy.Type != ActorPartnerUser {
		return uuid.Nil
	}
	return a.CreatedBy.PartnerID
}

// Apply evolves the account by one of its events.
func (a *Account) Apply(e Event) {
	a.Version++
	switch e := e.(type) {
	case *AccountCreated:
		a.ID, a.TenantID, a.Name, a.Currency = e.AccountID, e.TenantID, e.Name, e.Currency
		a.Billing, a.Status = e.Billing, AccountStatusActive
		a.CreatedBy, a.CreatedAt, a.UpdatedAt = e.CreatedBy, e.CreatedAt, e.CreatedAt
	case *AccountBillingUpdated:
		a.Billing, a.UpdatedAt = e.Billing, e.UpdatedAt
	case *AccountClosed:
		a.Status, a.UpdatedAt = AccountStatusClosed, e.ClosedAt
	}
}

// Create decides opening the account. Field paths of billing are
// "billing.email" and so on.
func (a *Account) Create(cmd CreateAccount, by Actor, now time.Time) ([]Event, error) {
	if a.Exists() {
		return nil, Conflict("account already exists")
	}
	var f faults
	if cmd.AccountID == uuid.Nil || cmd.TenantID == uuid.Nil {
		f.add(Invalid("account_id", "account and tenant ids are required"))
	}
	name, err := cleanText("name", cmd.Name, true, maxNameChars)
	f.add(err)
	cur, cerr := ParseCurrency("currency", cmd.Currency)
	f.addErr(cerr)
	billing, berr := NormalizeBilling("billing.", cmd.Billing)
	f.addErr(berr)
	if err := f.err(); err != nil {
		return nil, err
	}
	return []Event{&AccountCreated{
		AccountID: cmd.AccountID, TenantID: cmd.TenantID, Name: name, Currency: cur,
		Billing: billing, CreatedBy: by, CreatedAt: now.UTC(),
	}}, nil
}

// UpdateBilling decides replacing the account's billing details. The body
// of the request is the billing itself, so field paths have no prefix
// ("email"). Billing equal to the current billing changes nothing: no
// events. A closed account refuses with CodeAccountNotActive.
func (a *Account) UpdateBilling(in BillingInput, by Actor, now time.Time) ([]Event, error) {
	if !a.Exists() {
		return nil, NotFound("account")
	}
	if a.Status != AccountStatusActive {
		return nil, RuleError(CodeAccountNotActive, "the account is closed")
	}
	billing, err := NormalizeBilling("", in)
	if err != nil {
		return nil, err
	}
	if billing == a.Billing {
		return nil, nil
	}
	return []Event{&AccountBillingUpdated{AccountID: a.ID, Billing: billing, UpdatedBy: by, UpdatedAt: now.UTC()}}, nil
}

// Close decides closing the account. Closing a closed account refuses
// with CodeAccountNotActive.
func (a *Account) Close(reason string, by Actor, now time.Time) ([]Event, error) {
	if !a.Exists() {
		return nil, NotFound("account")
	}
	if a.Status != AccountStatusActive {
		return nil, RuleError(CodeAccountNotActive, "the account is already closed")
	}
	reason, err := cleanMultiline("reason", reason, maxReasonChars)
	if err != nil {
		return nil, err
	}
	return []Event{&AccountClosed{AccountID: a.ID, Reason: reason, ClosedBy: by, ClosedAt: now.UTC()}}, nil
}

// NormalizeBilling validates billing details and returns them normalized:
// text trimmed, the email's domain in lower case, defaults filled in.
// Field paths are prefix followed by the JSON name, e.g. "billing.email".
func NormalizeBilling(prefix string, in BillingInput) (Billing, error) {
	var f faults
	var b Billing
	var err *Error
	b.ContactName, err = cleanText(prefix+"contact_name", in.ContactName, true, maxNameChars)
	f.add(err)
	b.Email, err = normalizeEmail(prefix+"email", in.Email)
	f.add(err)
	b.Address, err = cleanMultiline(prefix+"address", in.Address, maxAddressChars)
	f.add(err)
	b.TaxID, err = cleanText(prefix+"tax_id", in.TaxID, false, maxTaxIDChars)
	f.add(err)
	b.PaymentTermsDays = DefaultPaymentTermsDays
	if in.PaymentTermsDays != nil {
		b.PaymentTermsDays = *in.PaymentTermsDays
		if b.PaymentTermsDays < 0 || b.PaymentTermsDays > MaxPaymentTermsDays {
			f.add(Invalid(prefix+"payment_terms_days", "must be between 0 and %d", MaxPaymentTermsDays))
		}
	}
	switch d := InvoiceDelivery(in.InvoiceDelivery); d {
	case "":
		b.InvoiceDelivery = DeliverByEmail
	case DeliverByEmail, DeliverByPortal:
		b.InvoiceDelivery = d
	default:
		f.add(Invalid(prefix+"invoice_delivery", "must be \"email\" or \"portal\""))
	}
	if err := f.err(); err != nil {
		return Billing{}, err
	}
	return b, nil
}

// normalizeEmail accepts a plain address (no display name) with a dotted
// domain, and lower-cases the domain.
func normalizeEmail(field, s string) (string, *Error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid(field, "is required")
	}
	if err := checkLength(field, s, MaxEmailChars); err != nil {
		return "", err
	}
	addr, err := mail.ParseAddress(s)
	at := strings.LastIndexByte(s, '@')
	if err != nil || addr.Name != "" || addr.Address != s || at < 1 {
		return "", Invalid(field, "%q is not an email address", s)
	}
	domain := strings.ToLower(s[at+1:])
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || slices.Contains(labels, "") || strings.ContainsAny(domain, "[]") {
		return "", Invalid(field, "%q is not an email address", s)
	}
	return s[:at+1] + domain, nil
}

// cleanText trims s and checks it is one line of at most max characters
// (else CodeValueTooLong), present when required.
func cleanText(field, s string, required bool, max int) (string, *Error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" && required:
		return "", Invalid(field, "is required")
	case !utf8.ValidString(s):
		return "", Invalid(field, "must be one line of text")
	case checkNameRunes(field, s) != nil:
		return "", checkNameRunes(field, s)
	}
	return s, checkLength(field, s, max)
}

// cleanMultiline is cleanText for optional text that may span lines.
func cleanMultiline(field, s string, max int) (string, *Error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	bad := func(r rune) bool { return r != '\n' && unicode.IsControl(r) }
	if !utf8.ValidString(s) || strings.IndexFunc(s, bad) >= 0 {
		return "", Invalid(field, "must be text")
	}
	return s, checkLength(field, s, max)
}

// faults gathers the refusals of one command so that every field at fault
// is reported at once. The first refusal gives the kind and code.
type faults struct {
	first  *Error
	fields []FieldError
}

// add records err, if not nil.
func (f *faults) add(err *Error) {
	if err == nil {
		return
	}
	if f.first == nil {
		f.first = err
	}
	f.fields = append(f.fields, err.Fields...)
}

// addErr records err, if not nil; an error that is not an *Error is
// recorded as malformed input.
func (f *faults) addErr(err error) {
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e):
		f.add(e)
	default:
		f.add(&Error{Kind: ErrInvalid, Code: CodeInvalid, Message: err.Error()})
	}
}

// err returns the refusal of everything recorded, or nil.
func (f *faults) err() error {
	if f.first == nil {
		return nil
	}
	e := *f.first
	e.Fields = f.fields
	return &e
}
