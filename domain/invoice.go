package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// LineType is what an invoice line bills: a charge of its type, or a
// credit for what an earlier line billed and is no longer due.
type LineType string

// The types of invoice line.
const (
	LineRecurring LineType = "recurring"
	LineOneTime   LineType = "one_time"
	LineUsage     LineType = "usage"
	LineCredit    LineType = "credit"
)

// InvoiceStatus is whether an invoice stands.
type InvoiceStatus string

// The statuses of an invoice.
const (
	InvoicePosted InvoiceStatus = "posted"
	InvoiceVoid   InvoiceStatus = "void"
)

// InvoiceLine is one line of an invoice. It bills Quantity of an item
// over [PeriodFrom, PeriodTo), a part of the service period that starts
// on ServiceFrom, at UnitPrice × ProrationFactor; a credit line's Amount
// is negative and its Quantity what it takes back. ProductID and
// PartnerID, the partner the subscription is attributed to (nil for
// direct), let revenue be reported by product and partner.
type InvoiceLine struct {
	ID              uuid.UUID       `json:"id"`
	SubscriptionID  uuid.UUID       `json:"subscription_id"`
	ItemID          uuid.UUID       `json:"item_id"`
	ProductID       uuid.UUID       `json:"product_id"`
	PartnerID       uuid.UUID       `json:"partner_id,omitzero"`
	ChargeID        uuid.UUID       `json:"charge_id"`
	Type            LineType        `json:"type"`
	Description     string          `json:"description"`
	ServiceFrom     Date            `json:"service_from"`
	PeriodFrom      Date            `json:"period_from"`
	PeriodTo        Date            `json:"period_to"`
	Quantity        decimal.Decimal `json:"quantity"`
	UnitPrice       decimal.Decimal `json:"unit_price"`
	ProrationFactor decimal.Decimal `json:"proration_factor"`
	Amount          decimal.Decimal `json:"amount"`
}

// Invoice is an invoice of an account. A posted invoice never changes;
// a void one's lines count as never billed.
type Invoice struct {
	ID        uuid.UUID       `json:"id"`
	Number    string          `json:"number"`
	AccountID uuid.UUID       `json:"account_id"`
	Currency  Currency        `json:"currency"`
	Status    InvoiceStatus   `json:"status"`
	IssueDate Date            `json:"issue_date"`
	DueDate   Date            `json:"due_date"`
	Billing   Billing         `json:"billing"`
	Lines     []InvoiceLine   `json:"lines"`
	Total     decimal.Decimal `json:"total"`
	BillRunID uuid.UUID       `json:"bill_run_id"`
	// VoidReason and Version are the state's, not the event's.
	VoidReason string `json:"-"`
	Version    uint64 `json:"-"`
}

// InvoiceNumber formats the n-th invoice number of a tenant: INV-000001.
func InvoiceNumber(n int) string { return fmt.Sprintf("INV-%06d", n) }

// InvoiceIssued records an invoice, posted, with its lines and number.
type InvoiceIssued struct {
	Invoice
	TenantID uuid.UUID `json:"tenant_id"`
	IssuedBy Actor     `json:"issued_by"`
	IssuedAt time.Time `json:"issued_at"`
}

// InvoiceVoided records that an invoice no longer stands.
type InvoiceVoided struct {
	InvoiceID uuid.UUID `json:"invoice_id"`
	AccountID uuid.UUID `json:"account_id"`
	Reason    string    `json:"reason"`
	VoidedBy  Actor     `json:"voided_by"`
	VoidedAt  time.Time `json:"voided_at"`
}

// EventType implements Event.
func (*InvoiceIssued) EventType() string { return "InvoiceIssued" }

// EventType implements Event.
func (*InvoiceVoided) EventType() string { return "InvoiceVoided" }

func init() {
	register(
		func() Event { return &InvoiceIssued{} },
		func() Event { return &InvoiceVoided{} },
	)
}

// AccountInvoices is the state of an account's invoice stream: every
// invoice issued to the account, in issue order.
type AccountInvoices struct {
	AccountID uuid.UUID
	Invoices  []Invoice
	Version   uint64
}

// Apply evolves the stream by one of its events.
func (a *AccountInvoices) Apply(e Event) {
	a.Version++
	switch e := e.(type) {
	case *InvoiceIssued:
		inv := e.Invoice
		inv.Status, inv.Version = InvoicePosted, 1
		a.AccountID = e.AccountID
		a.Invoices = append(slices.Clip(a.Invoices), inv)
	case *InvoiceVoided:
		i := a.index(e.InvoiceID)
		if i < 0 {
			return
		}
		a.Invoices = slices.Clone(a.Invoices)
		a.Invoices[i].Status, a.Invoices[i].VoidReason = InvoiceVoid, e.Reason
		a.Invoices[i].Version++
	}
}

// Clone returns a copy of a that shares nothing mutable: invoices are
// never changed in place, so their lines are shared.
func (a *AccountInvoices) Clone() *AccountInvoices {
	c := *a
	c.Invoices = slices.Clip(a.Invoices)
	return &c
}

func (a *AccountInvoices) index(id uuid.UUID) int {
	return slices.IndexFunc(a.Invoices, func(inv Invoice) bool { return inv.ID == id })
}

// Invoice returns the account's invoice with id id.
func (a *AccountInvoices) Invoice(id uuid.UUID) (Invoice, bool) {
	i := a.index(id)
	if i < 0 {
		return Invoice{}, false
	}
	return a.Invoices[i], true
}

// Billed returns the lines of every posted invoice of subscription sub,
// in issue order: what the account has been billed for it.
func (a *AccountInvoices) Billed(sub uuid.UUID) []InvoiceLine {
	var out []InvoiceLine
	for _, inv := range a.Invoices {
		if inv.Status != InvoicePosted {
			continue
		}
		for _, l := range inv.Lines {
			if l.SubscriptionID == sub {
				out = append(out, l)
			}
		}
	}
	return out
}

// MaxVoidReason bounds the reason given for voiding an invoice.
const MaxVoidReason = 500

// CodeInvoiceNotVoidable refuses to void an invoice that is void, or
// whose lines a later posted invoice credits.
const CodeInvoiceNotVoidable = "invoice_not_voidable"

// Void decides voiding invoice id: only a posted invoice that no later
// posted invoice credits. Its lines then count as never billed.
func (a *AccountInvoices) Void(id uuid.UUID, reason string, by Actor, now time.Time) ([]Event, error) {
	i := a.index(id)
	if i < 0 {
		return nil, NotFound("invoice")
	}
	reason, err := cleanText("reason", reason, false, MaxVoidReason)
	if err != nil {
		return nil, err
	}
	inv := a.Invoices[i]
	if inv.Status == InvoiceVoid {
		return nil, RuleError(CodeInvoiceNotVoidable, "invoice %s is already void", inv.Number)
	}
	if later, ok := a.creditedBy(i); ok {
		return nil, RuleError(CodeInvoiceNotVoidable, "invoice %s credits lines of invoice %s: void it first", later.Number, inv.Number)
	}
	return []Event{&InvoiceVoided{InvoiceID: id, AccountID: inv.AccountID, Reason: reason, VoidedBy: by, VoidedAt: now.UTC()}}, nil
}

// creditedBy returns a posted invoice issued after the i-th that has a
// credit line on an item and service period the i-th billed.
func (a *AccountInvoices) creditedBy(i int) (Invoice, bool) {
	type key struct {
		item uuid.UUID
		from Date
	}
	billed := map[key]bool{}
	for _, l := range a.Invoices[i].Lines {
		billed[key{l.ItemID, l.ServiceFrom}] = true
	}
	for _, later := range a.Invoices[i+1:] {
		if later.Status != InvoicePosted {
			continue
		}
		for _, l := range later.Lines {
			if l.Type == LineCredit && billed[key{l.ItemID, l.ServiceFrom}] {
				return later, true
			}
		}
	}
	return Invoice{}, false
}
