package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// billChunk invoices accounts for bill run r in one append: each account
// whose subscriptions (subs, from the index) have lines due gets an
// invoice, numbered after the tenant's last in the same append. It
// returns every invoice of r on those accounts, including those an
// earlier attempt of r issued.
func (s *Service) billChunk(ctx context.Context, req Request, r *domain.BillRun, accounts []uuid.UUID, subs map[uuid.UUID][]uuid.UUID) ([]domain.BillRunInvoice, error) {
	numbering := InvoiceNumberingStream(r.TenantID)
	reads, writes := []string{numbering}, []string{numbering}
	for _, acc := range accounts {
		invoices := InvoicesStream(r.TenantID, acc)
		reads, writes = append(reads, AccountStream(r.TenantID, acc), invoices), append(writes, invoices)
		for _, sub := range subs[acc] {
			reads = append(reads, SubscriptionStream(r.TenantID, sub), UsageStream(r.TenantID, sub))
		}
	}
	var found []domain.BillRunInvoice
	c := command{
		name: "BillAccounts", scope: TenantStream(r.TenantID), writes: writes, reads: reads,
		decide: func(ctx context.Context, v *view, req Request, now time.Time) (decision, error) {
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermBillingRun, resource: "bill-runs"}, now); err != nil {
				return decision{}, err
			}
			d, got, err := s.decideChunk(ctx, v, req, r, accounts, subs, now)
			found = got
			return d, err
		},
	}
	if _, err := s.execute(ctx, s.newView(), req, c); err != nil {
		return nil, err
	}
	return found, nil
}

// decideChunk decides the invoices of accounts on v.
func (s *Service) decideChunk(ctx context.Context, v *view, req Request, r *domain.BillRun, accounts []uuid.UUID, subs map[uuid.UUID][]uuid.UUID, now time.Time) (decision, []domain.BillRunInvoice, error) {
	numberingStream := InvoiceNumberingStream(r.TenantID)
	numbering, numberingVersion, err := load[domain.InvoiceNumbering](ctx, v, numberingStream)
	if err != nil {
		return decision{}, nil, err
	}
	var d decision
	var numbered []domain.NumberedInvoice
	var found []domain.BillRunInvoice
	for _, acc := range accounts {
		account, _, err := load[domain.Account](ctx, v, AccountStream(r.TenantID, acc))
		if err != nil {
			return decision{}, nil, err
		}
		stream := InvoicesStream(r.TenantID, acc)
		invoices, version, err := load[domain.AccountInvoices](ctx, v, stream)
		if err != nil {
			return decision{}, nil, err
		}
		found = append(found, invoicesOfRun(invoices, r.ID)...)
		if !account.Exists() {
			continue
		}
		billables, err := loadBillables(ctx, v, r.TenantID, subs[acc])
		if err != nil {
			return decision{}, nil, err
		}
		events, err := invoices.Issue(domain.IssueInvoice{
			InvoiceID: s.newID(), BillRunID: r.ID, Number: numbering.Last + 1 + len(numbered), Account: account,
			Subscriptions: billables, Target: r.TargetDate, NewID: s.newID,
		}, req.Principal.Actor(), now)
		if err != nil {
			return decision{}, nil, err
		}
		if len(events) == 0 {
			continue
		}
		inv := events[0].(*domain.InvoiceIssued).Invoice
		d.writes = append(d.writes, write{stream: stream, version: version, events: events})
		numbered = append(numbered, domain.NumberedInvoice{InvoiceID: inv.ID, AccountID: acc})
		found = append(found, runInvoice(inv))
	}
	if events := numbering.Number(r.ID, numbered); len(events) > 0 {
		d.writes = append(d.writes, write{stream: numberingStream, version: numberingVersion, events: events})
	}
	return d, found, nil
}

// loadBillables loads the subscriptions ids of tenant with their usage.
func loadBillables(ctx context.Context, v *view, tenant uuid.UUID, ids []uuid.UUID) ([]domain.Billable, error) {
	out := make([]domain.Billable, 0, len(ids))
	for _, id := range ids {
		sub, _, err := load[domain.Subscription](ctx, v, SubscriptionStream(tenant, id))
		if err != nil {
			return nil, err
		}
		usage, _, err := load[domain.SubscriptionUsage](ctx, v, UsageStream(tenant, id))
		if err != nil {
			return nil, err
		}
		if sub.Exists() {
			out = append(out, domain.Billable{Subscription: sub, Usage: usage})
		}
	}
	return out, nil
}

// invoicesOfRun returns the invoices of a that bill run issued.
func invoicesOfRun(a *domain.AccountInvoices, run uuid.UUID) []domain.BillRunInvoice {
	var out []domain.BillRunInvoice
	for _, inv := range a.Invoices {
		if inv.BillRunID == run {
			out = append(out, runInvoice(inv))
		}
	}
	return out
}

func runInvoice(inv domain.Invoice) domain.BillRunInvoice {
	return domain.BillRunInvoice{InvoiceID: inv.ID, Number: inv.Number, AccountID: inv.AccountID, Currency: inv.Currency, Total: inv.Total}
}
