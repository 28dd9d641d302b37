package domain

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// IssueInvoice is the command to invoice an account for what is due up
// to and including Target: Subscriptions are all of the account's.
// Number is the tenant's next invoice number; NewID gives the lines
// their ids (nil means random UUID v7s).
type IssueInvoice struct {
	InvoiceID     uuid.UUID
	BillRunID     uuid.UUID
	Number        int
	Account       *Account
	Subscriptions []Billable
	Target        Date
	NewID         func() uuid.UUID
}

// Issue decides an invoice of the account: every line due up to the
// target that no posted invoice holds, credits included. An account with
// nothing due gets none: Issue returns no event.
func (a *AccountInvoices) Issue(cmd IssueInvoice, by Actor, now time.Time) ([]Event, error) {
	acc := cmd.Account
	if acc == nil || !acc.Exists() {
		return nil, NotFound("account")
	}
	if err := checkDate("target_date", "the target date", cmd.Target); err != nil {
		return nil, err
	}
	newID := idSource(cmd.NewID)
	var lines []InvoiceLine
	for _, b := range cmd.Subscriptions {
		if b.Subscription.AccountID != acc.ID {
			continue
		}
		lines = append(lines, NewLines(b, a.Billed(b.Subscription.ID), cmd.Target, newID)...)
	}
	if len(lines) == 0 {
		return nil, nil
	}
	total := decimal.Zero
	for _, l := range lines {
		total = total.Add(l.Amount)
	}
	due := cmd.Target.AddDays(acc.Billing.PaymentTermsDays)
	if !due.InBounds() {
		return nil, dateOutOfRange("target_date", "the due date, "+due.String()+",")
	}
	return []Event{&InvoiceIssued{
		Invoice: Invoice{
			ID: cmd.InvoiceID, Number: InvoiceNumber(cmd.Number), AccountID: acc.ID, Currency: acc.Currency,
			Status: InvoicePosted, IssueDate: cmd.Target, DueDate: due, Billing: acc.Billing,
			Lines: lines, Total: total, BillRunID: cmd.BillRunID,
		},
		TenantID: acc.TenantID, IssuedBy: by, IssuedAt: now.UTC(),
	}}, nil
}
