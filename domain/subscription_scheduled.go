package domain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Codes of the refusals that keep scheduled changes and recorded usage
// whole.
const (
	CodeScheduledChangePending = "scheduled_change_pending"
	CodeUsageRecordedAfter     = "usage_recorded_after"
)

// ScheduledChange is an amendment made ahead of its effective date: one
// whose effective date was after the day it was made. It can be withdrawn
// until that date, and is listed on the subscription until then.
type ScheduledChange struct {
	ID            uuid.UUID
	Version       uint64 // of the SubscriptionAmended event that made it
	EffectiveDate Date
	Changes       []Change
	CreatedBy     Actor
}

// ScheduledChangeID returns the id of the scheduled change made by the
// amendment at version of subscription's stream: a name-based UUID of the
// two, stable for as long as the event is, which every reader of the log
// (the domain, the read models) derives alike.
func ScheduledChangeID(subscription uuid.UUID, version uint64) uuid.UUID {
	return uuid.NewSHA1(subscription, []byte("SubscriptionAmended/"+strconv.FormatUint(version, 10)))
}

// ScheduledChangeWithdrawn records that a scheduled change was withdrawn
// before it took effect: the subscription is as if the amendment at
// AmendmentVersion had never been made.
type ScheduledChangeWithdrawn struct {
	SubscriptionID   uuid.UUID `json:"subscription_id"`
	AccountID        uuid.UUID `json:"account_id"`
	ChangeID         uuid.UUID `json:"change_id"`
	AmendmentVersion uint64    `json:"amendment_version"`
	EffectiveDate    Date      `json:"effective_date"`
	WithdrawnBy      Actor     `json:"withdrawn_by"`
	WithdrawnAt      time.Time `json:"withdrawn_at"`
}

// EventType implements Event.
func (*ScheduledChangeWithdrawn) EventType() string { return "ScheduledChangeWithdrawn" }

func init() {
	register(func() Event { return &ScheduledChangeWithdrawn{} })
}

// The state keeps what a withdrawal needs: Scheduled, the scheduled
// changes made since the last amendment that took effect when it was made
// (oldest first, withdrawn ones left out), and ItemsBefore and
// ChangeDateBefore, the items and last change date before the first of
// them. An amendment that takes effect when it is made settles every
// earlier one: none of them can be withdrawn any more, as they take
// effect no later than it does. So the state stays small however many
// amendments a subscription has had.

// applyAmended evolves the subscription by an amendment; s.Version is the
// amendment's.
func (s *Subscription) applyAmended(e *SubscriptionAmended) {
	scheduled := e.EffectiveDate.After(DateOf(e.AmendedAt))
	if scheduled && len(s.Scheduled) == 0 {
		s.ItemsBefore, s.ChangeDateBefore = s.Items, s.LastChangeDate
	}
	s.Items = slices.Clone(s.Items)
	for _, c := range e.Changes {
		s.applyChange(c, e.EffectiveDate)
	}
	s.LastChangeDate, s.UpdatedAt = e.EffectiveDate, e.AmendedAt
	if !scheduled {
		s.Scheduled, s.ItemsBefore, s.ChangeDateBefore = nil, nil, Date{}
		return
	}
	s.Scheduled = append(slices.Clip(s.Scheduled), ScheduledChange{
		ID: ScheduledChangeID(s.ID, s.Version), Version: s.Version, EffectiveDate: e.EffectiveDate,
		Changes: e.Changes, CreatedBy: e.AmendedBy,
	})
}

// applyWithdrawn evolves the subscription by a withdrawal: its items are
// folded again from those before the scheduled changes, through every
// scheduled change but the one withdrawn.
func (s *Subscription) applyWithdrawn(e *ScheduledChangeWithdrawn) {
	s.UpdatedAt = e.WithdrawnAt
	i := slices.IndexFunc(s.Scheduled, func(c ScheduledChange) bool { return c.ID == e.ChangeID })
	if i < 0 {
		return
	}
	s.Scheduled = slices.Delete(slices.Clone(s.Scheduled), i, i+1)
	s.Items, s.LastChangeDate = slices.Clone(s.ItemsBefore), s.ChangeDateBefore
	for _, c := range s.Scheduled {
		for _, ch := range c.Changes {
			s.applyChange(ch, c.EffectiveDate)
		}
		s.LastChangeDate = c.EffectiveDate
	}
	if len(s.Scheduled) == 0 {
		s.Scheduled, s.ItemsBefore, s.ChangeDateBefore = nil, nil, Date{}
	}
}

// ScheduledOn returns the scheduled changes that have not taken effect on
// date d, oldest first.
func (s *Subscription) ScheduledOn(d Date) []ScheduledChange {
	var out []ScheduledChange
	for _, c := range s.Scheduled {
		if c.EffectiveDate.After(d) {
			out = append(out, c)
		}
	}
	return out
}

// WithdrawScheduledChange decides the withdrawal of scheduled change id
// before it takes effect: the subscription becomes as if the amendment had
// never been made. Today is now's UTC date.
//
// A change that is not scheduled, or that has taken effect, is not found;
// a subscription with a cancellation, pending or in effect, or whose term
// ended, takes no withdrawal (CodeSubscriptionNotActive): the cancellation
// was decided on the changes it had. A later scheduled change that could
// not be made without this one (it changes or removes an item this one
// adds, or it would leave no item in effect) must be withdrawn first
// (CodeScheduledChangePending, naming it).
func (s *Subscription) WithdrawScheduledChange(id uuid.UUID, by Actor, now time.Time) ([]Event, error) {
	today := DateOf(now)
	switch {
	case !s.Exists():
		return nil, NotFound("subscription")
	case !s.CancelDate.IsZero():
		return nil, RuleError(CodeSubscriptionNotActive, "the subscription is cancelled as of %s; its scheduled changes stand", s.CancelDate)
	case s.StatusOn(today) == StatusCancelled:
		return nil, RuleError(CodeSubscriptionNotActive, "the subscription's term ended on %s", s.EndDate())
	}
	i := slices.IndexFunc(s.Scheduled, func(c ScheduledChange) bool { return c.ID == id && c.EffectiveDate.After(today) })
	if i < 0 {
		return nil, NotFound("scheduled change")
	}
	if dep, ok := s.dependent(i); ok {
		return nil, RuleError(CodeScheduledChangePending,
			"scheduled change %s, taking effect on %s, depends on scheduled change %s; withdraw it first",
			dep.ID, dep.EffectiveDate, id).AtField("change_id")
	}
	return []Event{s.withdrawal(s.Scheduled[i], by, now)}, nil
}

// dependent returns the first scheduled change after the one at i that
// could not be made once that one is withdrawn.
func (s *Subscription) dependent(i int) (ScheduledChange, bool) {
	w := &Subscription{Items: slices.Clone(s.ItemsBefore)}
	for j, c := range s.Scheduled {
		if j == i {
			continue
		}
		if j > i && !w.couldMake(c.Changes) {
			return c, true
		}
		for _, ch := range c.Changes {
			w.applyChange(ch, c.EffectiveDate)
		}
	}
	return ScheduledChange{}, false
}

// couldMake reports whether changes, as recorded, pass the checks of
// Amend on s: every item they name is there and not removed, and some
// item stays in effect.
func (s *Subscription) couldMake(changes []Change) bool {
	inEffect := 0
	for _, it := range s.Items {
		if it.EffectiveTo.IsZero() {
			inEffect++
		}
	}
	removed := map[uuid.UUID]bool{}
	for _, c := range changes {
		if c.Type == ChangeAddItem {
			inEffect++
			continue
		}
		it, found := s.Item(c.ItemID)
		if !found || !it.EffectiveTo.IsZero() || removed[c.ItemID] {
			return false
		}
		if c.Type == ChangeRemoveItem {
			removed[c.ItemID], inEffect = true, inEffect-1
		}
	}
	return inEffect > 0
}

func (s *Subscription) withdrawal(c ScheduledChange, by Actor, now time.Time) *ScheduledChangeWithdrawn {
	return &ScheduledChangeWithdrawn{
		SubscriptionID: s.ID, AccountID: s.AccountID, ChangeID: c.ID, AmendmentVersion: c.Version,
		EffectiveDate: c.EffectiveDate, WithdrawnBy: by, WithdrawnAt: now.UTC(),
	}
}

// withdrawAfter returns, for a cancellation on date (field is the input
// that set it), the withdrawals of the scheduled changes that would take
// effect after it, latest first, when withdraw says so; otherwise those
// changes refuse the cancellation (CodeScheduledChangePending, naming
// them). The cancel date may not precede an amendment that stays
// (invalid).
func (s *Subscription) withdrawAfter(date Date, field string, withdraw bool, by Actor, now time.Time) ([]Event, error) {
	var pending []ScheduledChange
	for _, c := range s.Scheduled {
		if c.EffectiveDate.After(date) {
			pending = append(pending, c)
		}
	}
	if len(pending) > 0 && !withdraw {
		names := make([]string, len(pending))
		for i, c := range pending {
			names[i] = fmt.Sprintf("%s (taking effect on %s)", c.ID, c.EffectiveDate)
		}
		return nil, RuleError(CodeScheduledChangePending,
			"scheduled changes take effect after the cancel date %s: %s; withdraw them, or cancel with withdraw_scheduled",
			date, strings.Join(names, ", ")).AtField(field)
	}
	events := make([]Event, 0, len(pending)+1)
	after := s.Clone()
	for i := len(pending) - 1; i >= 0; i-- {
		e := s.withdrawal(pending[i], by, now)
		after.Apply(e)
		events = append(events, e)
	}
	if date.Before(after.LastChangeDate) {
		return nil, Invalid(field, "an amendment takes effect on %s; cancel on or after it", after.LastChangeDate)
	}
	return events, nil
}
