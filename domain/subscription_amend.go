package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// ChangeType is the kind of one change of an amendment.
type ChangeType string

// The kinds of change.
const (
	ChangeAddItem    ChangeType = "add_item"
	ChangeRemoveItem ChangeType = "remove_item"
	ChangeQuantity   ChangeType = "change_quantity"
)

// Change is one change of an amendment, as recorded: add_item carries the
// new item, resolved from the catalog with its new id; remove_item and
// change_quantity name the item, and change_quantity its new quantity.
type Change struct {
	Type     ChangeType `json:"type"`
	Item     *ItemSpec  `json:"item,omitempty"`
	ItemID   uuid.UUID  `json:"item_id,omitzero"`
	Quantity int        `json:"quantity,omitempty"`
}

// SubscriptionAmended records an amendment: all its changes, in order,
// taking effect on EffectiveDate.
type SubscriptionAmended struct {
	SubscriptionID uuid.UUID `json:"subscription_id"`
	AccountID      uuid.UUID `json:"account_id"`
	EffectiveDate  Date      `json:"effective_date"`
	Changes        []Change  `json:"changes"`
	AmendedBy      Actor     `json:"amended_by"`
	AmendedAt      time.Time `json:"amended_at"`
}

// EventType implements Event.
func (*SubscriptionAmended) EventType() string { return "SubscriptionAmended" }

// ChangeInput is one change as a caller gives it: add_item takes
// ProductID, ChargeID, Quantity and optionally UnitPrice; remove_item
// takes ItemID; change_quantity takes ItemID and Quantity.
type ChangeInput struct {
	Type      string
	ProductID uuid.UUID
	ChargeID  uuid.UUID
	Quantity  decimal.Decimal
	UnitPrice *string
	ItemID    uuid.UUID
}

// AmendSubscription is the command to amend a subscription. NewID gives
// added items their ids, in order; nil means random UUID v7s.
type AmendSubscription struct {
	EffectiveDate Date
	Changes       []ChangeInput
	NewID         func() uuid.UUID
}

// Amend decides an amendment. Its changes apply all or none: each is
// checked against the state as the earlier changes of the same amendment
// leave it, and every fault is reported with its path ("changes[2].quantity").
//
// Amendments take effect in order: the effective date may not precede the
// start date (CodeEffectiveDateBeforeStart) nor an earlier amendment's
// (invalid), so every change holds from its date on until a later change,
// and the state on any date is a plain reading of the history.
//
// A subscription with a cancellation, pending or in effect, takes no
// amendment (CodeSubscriptionNotActive), nor one whose term ended without
// renewal, nor a change dated on or after its end: a cancellation is the
// last decision on a subscription, which cannot be undone, and its final
// terms are those the cancellation was decided on. Changes after it would
// never take effect, or would alter behind its back what it ends.
func (s *Subscription) Amend(cmd AmendSubscription, products map[uuid.UUID]*Product, by Actor, now time.Time) ([]Event, error) {
	if !s.Exists() {
		return nil, NotFound("subscription")
	}
	if err := s.checkAmendable(cmd, DateOf(now)); err != nil {
		return nil, err
	}
	changes, err := s.resolveChanges(cmd, products)
	if err != nil {
		return nil, err
	}
	return []Event{&SubscriptionAmended{
		SubscriptionID: s.ID, AccountID: s.AccountID, EffectiveDate: cmd.EffectiveDate,
		Changes: changes, AmendedBy: by, AmendedAt: now.UTC(),
	}}, nil
}

func (s *Subscription) checkAmendable(cmd AmendSubscription, today Date) error {
	eff, end := cmd.EffectiveDate, s.EndDate()
	switch {
	case !s.CancelDate.IsZero():
		return RuleError(CodeSubscriptionNotActive, "the subscription is cancelled as of %s", s.CancelDate)
	case s.StatusOn(today) == StatusCancelled:
		return RuleError(CodeSubscriptionNotActive, "the subscription's term ended on %s", end)
	case eff.IsZero():
		return Invalid("effective_date", "is required")
	case !eff.InBounds():
		return dateOutOfRange("effective_date", "the effective date "+eff.String())
	case eff.Before(s.StartDate):
		return RuleError(CodeEffectiveDateBeforeStart, "the subscription starts on %s", s.StartDate).AtField("effective_date")
	case eff.Before(s.LastChangeDate):
		return Invalid("effective_date", "must not precede %s, the effective date of an earlier amendment", s.LastChangeDate)
	case !end.IsZero() && !eff.Before(end):
		return RuleError(CodeSubscriptionNotActive, "the subscription ends on %s", end).AtField("effective_date")
	case len(cmd.Changes) == 0:
		return Invalid("changes", "an amendment makes at least one change")
	case len(cmd.Changes) > MaxChanges:
		return tooManyChanges(len(cmd.Changes))
	case len(s.Items)+addedItems(cmd.Changes) > MaxItems:
		return tooManyItems("changes", len(s.Items)+addedItems(cmd.Changes))
	}
	return nil
}

// addedItems counts the add_item changes of an amendment.
func addedItems(changes []ChangeInput) int {
	n := 0
	for _, c := range changes {
		if ChangeType(c.Type) == ChangeAddItem {
			n++
		}
	}
	return n
}

// resolveChanges checks the changes in order against a working view of
// which items are in effect, and returns them as recorded.
func (s *Subscription) resolveChanges(cmd AmendSubscription, products map[uuid.UUID]*Product) ([]Change, error) {
	var f faults
	newID := idSource(cmd.NewID)
	removed := map[uuid.UUID]bool{}
	inEffect, lastRemoval := 0, -1
	for _, it := range s.Items {
		if it.EffectiveTo.IsZero() {
			inEffect++
		}
	}
	changes := make([]Change, 0, len(cmd.Changes))
	for i, in := range cmd.Changes {
		prefix := fmt.Sprintf("changes[%d].", i)
		c, err := s.resolveChange(prefix, in, removed, products)
		if err != nil {
			f.add(err)
			continue
		}
		switch c.Type {
		case ChangeAddItem:
			c.Item.ID = newID()
			inEffect++
		case ChangeRemoveItem:
			removed[c.ItemID] = true
			inEffect, lastRemoval = inEffect-1, i
		}
		changes = append(changes, c)
	}
	if f.first == nil && inEffect == 0 {
		f.add(RuleError(CodeWouldRemoveLastItem, "the amendment would leave no item in effect").
			AtField(fmt.Sprintf("changes[%d].item_id", lastRemoval)))
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	return changes, nil
}

// resolveChange checks one change; removed holds the items removed by the
// earlier changes of the amendment.
func (s *Subscription) resolveChange(prefix string, in ChangeInput, removed map[uuid.UUID]bool, products map[uuid.UUID]*Product) (Change, *Error) {
	t := ChangeType(in.Type)
	if err := checkChangeShape(prefix, t, in); err != nil {
		return Change{}, err
	}
	if t == ChangeAddItem {
		item := ItemInput{ProductID: in.ProductID, ChargeID: in.ChargeID, Quantity: in.Quantity, UnitPrice: in.UnitPrice}
		spec, err := resolveItem(prefix, item, s.Currency, s.TenantID, products)
		if err != nil {
			return Change{}, err
		}
		return Change{Type: t, Item: &spec}, nil
	}
	it, found := s.Item(in.ItemID)
	switch {
	case !found:
		return Change{}, RuleError(CodeUnknownItem, "the subscription has no item %s", in.ItemID).AtField(prefix + "item_id")
	case !it.EffectiveTo.IsZero() || removed[it.ID]:
		return Change{}, RuleError(CodeItemAlreadyRemoved, "item %s is already removed", it.ID).AtField(prefix + "item_id")
	case t == ChangeRemoveItem:
		return Change{Type: t, ItemID: it.ID}, nil
	}
	q, ok := wholeQuantity(in.Quantity)
	if !ok {
		return Change{}, quantityError(prefix + "quantity")
	}
	return Change{Type: t, ItemID: it.ID, Quantity: q}, nil
}

// checkChangeShape refuses an unknown type of change and fields that do
// not belong to the type.
func checkChangeShape(prefix string, t ChangeType, in ChangeInput) *Error {
	switch t {
	case ChangeAddItem:
		if in.ItemID != uuid.Nil {
			return Invalid(prefix+"item_id", "add_item takes no item_id")
		}
	case ChangeRemoveItem, ChangeQuantity:
		switch {
		case in.ItemID == uuid.Nil:
			return Invalid(prefix+"item_id", "is required")
		case in.ProductID != uuid.Nil || in.ChargeID != uuid.Nil || in.UnitPrice != nil:
			return Invalid(prefix+"type", "%s takes no product_id, charge_id or unit_price", t)
		}
	default:
		return Invalid(prefix+"type", "must be \"add_item\", \"remove_item\" or \"change_quantity\"")
	}
	return nil
}
