package domain

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// BillRunStatus is how far a bill run has come.
type BillRunStatus string

// The statuses of a bill run.
const (
	BillRunStatusRunning   BillRunStatus = "running"
	BillRunStatusCompleted BillRunStatus = "completed"
)

// MaxBillRunAccounts bounds the accounts a bill run may name.
const MaxBillRunAccounts = 10_000

// MaxBillAhead bounds how far after today a bill run's target date may
// lie: recurring charges are billed in advance for every period that
// starts by the target, so a target years ahead would invoice years of
// service at once.
const MaxBillAhead = 366

// CodeTargetDateTooFar refuses a bill run whose target date is more than
// MaxBillAhead days after today.
const CodeTargetDateTooFar = "target_date_too_far"

// BillRunInvoice is an invoice as its bill run lists it.
type BillRunInvoice struct {
	InvoiceID uuid.UUID       `json:"invoice_id"`
	Number    string          `json:"number"`
	AccountID uuid.UUID       `json:"account_id"`
	Currency  Currency        `json:"currency"`
	Total     decimal.Decimal `json:"total"`
}

// CurrencyTotal is a sum of amounts in one currency.
type CurrencyTotal struct {
	Currency Currency        `json:"currency"`
	Total    decimal.Decimal `json:"total"`
}

// BillRun is the state of a bill run: the invoices it issued for what
// was due up to its target date.
type BillRun struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	TargetDate  Date
	AccountIDs  []uuid.UUID
	Status      BillRunStatus
	Invoices    []BillRunInvoice
	Totals      []CurrencyTotal
	StartedBy   Actor
	StartedAt   time.Time
	CompletedAt time.Time
	Version     uint64
}

// BillRunStarted records a bill run's start: for every account of the
// tenant, or those listed.
type BillRunStarted struct {
	BillRunID  uuid.UUID   `json:"bill_run_id"`
	TenantID   uuid.UUID   `json:"tenant_id"`
	TargetDate Date        `json:"target_date"`
	AccountIDs []uuid.UUID `json:"account_ids"`
	StartedBy  Actor       `json:"started_by"`
	StartedAt  time.Time   `json:"started_at"`
}

// BillRunCompleted records the invoices a bill run issued, and their
// totals by currency.
type BillRunCompleted struct {
	BillRunID   uuid.UUID        `json:"bill_run_id"`
	Invoices    []BillRunInvoice `json:"invoices"`
	Totals      []CurrencyTotal  `json:"totals"`
	CompletedAt time.Time        `json:"completed_at"`
}

// InvoicesNumbered records the numbers given to invoices issued together,
// in the tenant's numbering stream: its events hold every number, in
// order, without gaps.
type InvoicesNumbered struct {
	BillRunID uuid.UUID         `json:"bill_run_id"`
	First     int               `json:"first"`
	Invoices  []NumberedInvoice `json:"invoices"`
}

// NumberedInvoice is one invoice and its number.
type NumberedInvoice struct {
	Number    int       `json:"number"`
	InvoiceID uuid.UUID `json:"invoice_id"`
	AccountID uuid.UUID `json:"account_id"`
}

// EventType implements Event.
func (*BillRunStarted) EventType() string { return "BillRunStarted" }

// EventType implements Event.
func (*BillRunCompleted) EventType() string { return "BillRunCompleted" }

// EventType implements Event.
func (*InvoicesNumbered) EventType() string { return "InvoicesNumbered" }

func init() {
	register(
		func() Event { return &BillRunStarted{} },
		func() Event { return &BillRunCompleted{} },
		func() Event { return &InvoicesNumbered{} },
	)
}

// Apply evolves the bill run by one of its events.
func (r *BillRun) Apply(e Event) {
	r.Version++
	switch e := e.(type) {
	case *BillRunStarted:
		r.ID, r.TenantID, r.TargetDate, r.AccountIDs = e.BillRunID, e.TenantID, e.TargetDate, e.AccountIDs
		r.Status, r.StartedBy, r.StartedAt = BillRunStatusRunning, e.StartedBy, e.StartedAt
	case *BillRunCompleted:
		r.Status, r.Invoices, r.Totals, r.CompletedAt = BillRunStatusCompleted, e.Invoices, e.Totals, e.CompletedAt
	}
}

// Clone returns a copy of r; its slices are never written in place.
func (r *BillRun) Clone() *BillRun { c := *r; return &c }

// Exists reports whether the bill run was started.
func (r *BillRun) Exists() bool { return r.ID != uuid.Nil }

// StartBillRun is the command to start a bill run.
type StartBillRun struct {
	BillRunID  uuid.UUID
	TenantID   uuid.UUID
	TargetDate Date
	AccountIDs []uuid.UUID
}

// Start decides a bill run's start.
func (r *BillRun) Start(cmd StartBillRun, by Actor, now time.Time) ([]Event, error) {
	if r.Exists() {
		return nil, Conflict("bill run already exists")
	}
	var f faults
	if cmd.TargetDate.IsZero() {
		f.add(Invalid("target_date", "is required"))
	}
	f.add(checkDate("target_date", "the target date", cmd.TargetDate))
	if limit := DateOf(now).AddDays(MaxBillAhead); cmd.TargetDate.After(limit) {
		f.add(RuleError(CodeTargetDateTooFar, "a bill run bills at most %d days ahead, up to %s", MaxBillAhead, limit).AtField("target_date"))
	}
	if n := len(cmd.AccountIDs); n > MaxBillRunAccounts {
		f.add(Invalid("account_ids", "at most %d accounts, not %d", MaxBillRunAccounts, n))
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	ids := slices.Clone(cmd.AccountIDs)
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return []Event{&BillRunStarted{BillRunID: cmd.BillRunID, TenantID: cmd.TenantID, TargetDate: cmd.TargetDate,
		AccountIDs: slices.Compact(ids), StartedBy: by, StartedAt: now.UTC()}}, nil
}

// Complete decides a bill run's end, with the invoices it issued.
func (r *BillRun) Complete(invoices []BillRunInvoice, now time.Time) ([]Event, error) {
	if !r.Exists() {
		return nil, NotFound("bill run")
	}
	if r.Status == BillRunStatusCompleted {
		return nil, nil
	}
	return []Event{&BillRunCompleted{BillRunID: r.ID, Invoices: invoices, Totals: Totals(invoices), CompletedAt: now.UTC()}}, nil
}

// Totals sums invoices by currency, in currency order.
func Totals(invoices []BillRunInvoice) []CurrencyTotal {
	sums := map[Currency]decimal.Decimal{}
	for _, inv := range invoices {
		sums[inv.Currency] = sums[inv.Currency].Add(inv.Total)
	}
	out := make([]CurrencyTotal, 0, len(sums))
	for c, t := range sums {
		out = append(out, CurrencyTotal{Currency: c, Total: t})
	}
	slices.SortFunc(out, func(a, b CurrencyTotal) int { return strings.Compare(string(a.Currency), string(b.Currency)) })
	return out
}

// InvoiceNumbering is the state of a tenant's numbering stream: the last
// number given.
type InvoiceNumbering struct {
	Last    int
	Version uint64
}

// Apply evolves the numbering by one of its events.
func (n *InvoiceNumbering) Apply(e Event) {
	n.Version++
	if e, ok := e.(*InvoicesNumbered); ok {
		n.Last = e.First + len(e.Invoices) - 1
	}
}

// Clone returns a copy of n.
func (n *InvoiceNumbering) Clone() *InvoiceNumbering { c := *n; return &c }

// Number decides the numbers of invoices issued together, from the next
// one on, in their order: nothing when there are none.
func (n *InvoiceNumbering) Number(billRun uuid.UUID, invoices []NumberedInvoice) []Event {
	if len(invoices) == 0 {
		return nil
	}
	numbered := slices.Clone(invoices)
	for i := range numbered {
		numbered[i].Number = n.Last + 1 + i
	}
	return []Event{&InvoicesNumbered{BillRunID: billRun, First: n.Last + 1, Invoices: numbered}}
}
