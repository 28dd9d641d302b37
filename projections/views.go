package projections

import (
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// The converters below build the representation of an aggregate from its
// domain state, for answers that cannot wait for the read model (the
// aggregate a command returned, a subscription rebuilt as of an instant).
// Each gives, byte for byte once encoded, what the matching query gives
// for the same state.
//
// Instants are in UTC and truncated to the microsecond: the read model
// keeps timestamptz, which holds microseconds, and the projections write
// it in pgx's binary encoding, which drops the nanoseconds beyond them
// (it does not round).

// viewTime is instant t as the read model gives it back.
func viewTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// SubscriptionViewOf returns subscription s as it stands on date on (the
// current UTC date when zero), as GetSubscription gives it: status, current
// term end, item quantities and MRR of that date, every item, removed or
// not, in the order they were added. It returns domain.NotFound when s
// does not exist.
func SubscriptionViewOf(s *domain.Subscription, on domain.Date) (SubscriptionView, error) {
	if s == nil || !s.Exists() {
		return SubscriptionView{}, domain.NotFound("subscription")
	}
	if on.IsZero() {
		on = domain.DateOf(time.Now())
	}
	v := SubscriptionView{
		ID: s.ID, AccountID: s.AccountID, Currency: s.Currency, Status: s.StatusOn(on), StartDate: s.StartDate,
		Term:       TermView{Type: s.Term.Type, AutoRenew: s.Term.AutoRenew, CurrentTermEnd: s.CurrentTermEnd(on)},
		CancelDate: s.CancelDate, Items: make([]ItemView, 0, len(s.Items)), MRR: s.Currency.Present(s.MRR(on)),
		Version: s.Version, CreatedBy: viewActor(s.CreatedBy), CreatedAt: viewTime(s.CreatedAt), UpdatedAt: viewTime(s.UpdatedAt),
	}
	if s.Term.Type == domain.TermTermed {
		months := s.Term.Months
		v.Term.Months = &months
	}
	for _, it := range s.Items {
		iv, err := itemViewOf(s.Currency, it, on)
		if err != nil {
			return SubscriptionView{}, err
		}
		v.Items = append(v.Items, iv)
	}
	v.ScheduledChanges = []ScheduledChangeView{}
	for _, c := range s.ScheduledOn(on) {
		sv, err := scheduledViewOf(s.Currency, c)
		if err != nil {
			return SubscriptionView{}, err
		}
		v.ScheduledChanges = append(v.ScheduledChanges, sv)
	}
	return v, nil
}

// itemViewOf returns item it of a subscription in currency c, with its
// quantity on date on. The unit price goes through its decimal text, as
// the read model stores it.
func itemViewOf(c domain.Currency, it domain.Item, on domain.Date) (ItemView, error) {
	price, err := subsPresentPrice(c, it.UnitPrice.String())
	if err != nil {
		return ItemView{}, err
	}
	return ItemView{
		ID: it.ID, ProductID: it.ProductID, ChargeID: it.ChargeID, Name: it.Name, Type: it.Type,
		Quantity: it.QuantityOn(on), UnitPrice: price, BillingPeriod: viewPeriod(it.BillingPeriod),
		Unit: subsText(it.Unit), EffectiveFrom: it.EffectiveFrom, EffectiveTo: it.EffectiveTo,
	}, nil
}

// viewPeriod is a billing period as the representation shows it: null
// when there is none.
func viewPeriod(p domain.BillingPeriod) *domain.BillingPeriod {
	if p == "" {
		return nil
	}
	return &p
}

// AccountViewOf returns account a as GetAccount gives it. a must exist.
func AccountViewOf(a *domain.Account) AccountView {
	b := a.Billing
	return AccountView{
		ID: a.ID, Name: a.Name, Currency: a.Currency, Status: a.Status,
		Billing: BillingView{ContactName: b.ContactName, Email: b.Email, Address: subsText(b.Address),
			TaxID: subsText(b.TaxID), PaymentTermsDays: b.PaymentTermsDays, InvoiceDelivery: b.InvoiceDelivery},
		Version: a.Version, CreatedBy: viewActor(a.CreatedBy), CreatedAt: viewTime(a.CreatedAt),
	}
}

// ProductViewOf returns product p as GetProduct gives it, its charges in
// the order they were given. It returns domain.NotFound when p does not
// exist.
func ProductViewOf(p *domain.Product) (ProductView, error) {
	if p == nil || !p.Exists() {
		return ProductView{}, domain.NotFound("product")
	}
	v := ProductView{ID: p.ID, Name: p.Name, SKU: p.SKU, Charges: make([]ChargeView, len(p.Charges)),
		Version: p.Version, CreatedBy: viewActor(p.CreatedBy), CreatedAt: viewTime(p.CreatedAt)}
	for i, c := range p.Charges {
		price, err := subsPresentPrice(c.Currency, c.Price.String())
		if err != nil {
			return ProductView{}, err
		}
		v.Charges[i] = ChargeView{ID: c.ID, Name: c.Name, Type: c.Type, Price: price, Currency: c.Currency,
			BillingPeriod: viewPeriod(c.BillingPeriod), Unit: subsText(c.Unit)}
	}
	return v, nil
}

// AccessViewOf returns grant g with its status at instant now, as
// GetPartnerAccess gives it. g must exist. The status is that of the
// expiry as the read model keeps it, truncated to the microsecond, so in
// the microsecond before an expiry with more precision the view says
// expired where g.StatusAt says active.
func AccessViewOf(g *domain.PartnerAccess, now time.Time) AccessView {
	v := AccessView{
		TenantID: g.TenantID, PartnerID: g.PartnerID, Role: g.Role, AllAccounts: g.AllAccounts,
		AccountIDs: append([]uuid.UUID{}, g.AccountIDs...), Actions: actionsOf(g.Actions),
		GrantedBy: viewActor(g.GrantedBy), Version: g.Version,
	}
	if g.ExpiresAt != nil {
		exp := viewTime(*g.ExpiresAt)
		v.ExpiresAt = &exp
	}
	kept := domain.PartnerAccess{TenantID: g.TenantID, Revoked: g.Revoked, ExpiresAt: v.ExpiresAt}
	v.Status = kept.StatusAt(now)
	return v
}

// actionsOf is a grant's actions as the read model gives them: null when
// the grant names none, so that its role's permissions all apply.
func actionsOf(actions []domain.Permission) []domain.Permission {
	if len(actions) == 0 {
		return nil
	}
	return append([]domain.Permission(nil), actions...)
}
