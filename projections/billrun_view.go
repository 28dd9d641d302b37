package projections

import (
	"github.com/google/uuid"

	"ledger/domain"
)

// BillRunView is a bill run as the API presents it.
type BillRunView struct {
	ID         uuid.UUID             `json:"id"`
	TargetDate domain.Date           `json:"target_date"`
	Status     domain.BillRunStatus  `json:"status"`
	Invoices   []BillRunInvoiceView  `json:"invoices"`
	Totals     []CurrencyAmountTotal `json:"totals"`
	Version    uint64                `json:"version"`
}

// BillRunInvoiceView is an invoice as its bill run lists it.
type BillRunInvoiceView struct {
	ID        uuid.UUID       `json:"id"`
	Number    string          `json:"number"`
	AccountID uuid.UUID       `json:"account_id"`
	Currency  domain.Currency `json:"currency"`
	Total     string          `json:"total"`
}

// CurrencyAmountTotal is a presented total in one currency.
type CurrencyAmountTotal struct {
	Currency domain.Currency `json:"currency"`
	Total    string          `json:"total"`
}

// BillRunViewOf presents bill run r at version.
func BillRunViewOf(r *domain.BillRun, version uint64) BillRunView {
	v := BillRunView{ID: r.ID, TargetDate: r.TargetDate, Status: r.Status, Version: version,
		Invoices: make([]BillRunInvoiceView, 0, len(r.Invoices)), Totals: make([]CurrencyAmountTotal, 0, len(r.Totals))}
	for _, inv := range r.Invoices {
		v.Invoices = append(v.Invoices, BillRunInvoiceView{ID: inv.InvoiceID, Number: inv.Number, AccountID: inv.AccountID,
			Currency: inv.Currency, Total: inv.Currency.Present(inv.Total)})
	}
	for _, t := range r.Totals {
		v.Totals = append(v.Totals, CurrencyAmountTotal{Currency: t.Currency, Total: t.Currency.Present(t.Total)})
	}
	return v
}
