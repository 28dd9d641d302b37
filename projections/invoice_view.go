package projections

import (
	"github.com/shopspring/decimal"

	"ledger/domain"
)

// InvoiceViewOf presents invoice inv of the domain exactly as GetInvoice
// presents it from the read model, which stores each figure as its
// decimal text: the figures take the same way through text here.
func InvoiceViewOf(inv domain.Invoice) (InvoiceView, error) {
	c, b := inv.Currency, inv.Billing
	v := InvoiceView{ID: inv.ID, Number: inv.Number, AccountID: inv.AccountID, Currency: c, Status: inv.Status,
		IssueDate: inv.IssueDate, DueDate: inv.DueDate, Total: c.Present(inv.Total), BillRunID: inv.BillRunID,
		Version: inv.Version, VoidReason: inv.VoidReason, Lines: make([]InvoiceLineView, 0, len(inv.Lines)),
		Billing: BillingView{ContactName: b.ContactName, Email: b.Email, Address: subsText(b.Address), TaxID: subsText(b.TaxID),
			PaymentTermsDays: b.PaymentTermsDays, InvoiceDelivery: b.InvoiceDelivery}}
	for _, l := range inv.Lines {
		lv, err := invoiceLineViewOf(c, l)
		if err != nil {
			return InvoiceView{}, err
		}
		v.Lines = append(v.Lines, lv)
	}
	return v, nil
}

// invoiceLineViewOf presents line l of an invoice in currency c.
func invoiceLineViewOf(c domain.Currency, l domain.InvoiceLine) (InvoiceLineView, error) {
	v := InvoiceLineView{ID: l.ID, SubscriptionID: l.SubscriptionID, ItemID: l.ItemID, ChargeID: l.ChargeID, Type: l.Type,
		Description: l.Description, PeriodFrom: l.PeriodFrom, PeriodTo: l.PeriodTo}
	err := invPresentLine(&v, c, l.Quantity.String(), l.UnitPrice.String(), l.ProrationFactor.String(), l.Amount.String())
	return v, err
}

// ProrationView is what a change of a subscription would add to the
// periods its invoices already hold: the credit and charge lines the
// next bill run would bill because of it, and their total, presented in
// the subscription's currency.
type ProrationView struct {
	// Lines are invoice lines as an invoice presents them, without an
	// id: nothing is billed yet.
	Lines []InvoiceLineView `json:"lines"`
	Total string            `json:"total"`
}

// ProrationViewOf presents lines and their total in currency c, each
// line as an invoice would present it.
func ProrationViewOf(c domain.Currency, lines []domain.InvoiceLine, total decimal.Decimal) (ProrationView, error) {
	v := ProrationView{Lines: make([]InvoiceLineView, 0, len(lines)), Total: c.Present(total)}
	for _, l := range lines {
		lv, err := invoiceLineViewOf(c, l)
		if err != nil {
			return ProrationView{}, err
		}
		v.Lines = append(v.Lines, lv)
	}
	return v, nil
}
