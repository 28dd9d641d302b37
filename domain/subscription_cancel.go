package domain

import (
	"time"

	"github.com/google/uuid"
)

// CancelPolicy is when a cancellation takes effect.
type CancelPolicy string

// The cancellation policies.
const (
	CancelImmediate    CancelPolicy = "immediate"
	CancelEndOfTerm    CancelPolicy = "end_of_term"
	CancelSpecificDate CancelPolicy = "specific_date"
)

// SubscriptionCancelled records a cancellation: the subscription is
// pending cancellation until CancelDate, and cancelled from then on.
type SubscriptionCancelled struct {
	SubscriptionID uuid.UUID    `json:"subscription_id"`
	AccountID      uuid.UUID    `json:"account_id"`
	Policy         CancelPolicy `json:"policy"`
	CancelDate     Date         `json:"cancel_date"`
	Reason         string       `json:"reason,omitempty"`
	CancelledBy    Actor        `json:"cancelled_by"`
	CancelledAt    time.Time    `json:"cancelled_at"`
}

// EventType implements Event.
func (*SubscriptionCancelled) EventType() string { return "SubscriptionCancelled" }

// CancelSubscription is the command to cancel a subscription. Date is for
// the specific_date policy only. WithdrawScheduled withdraws the scheduled
// changes that would take effect after the cancel date, which otherwise
// refuse it.
type CancelSubscription struct {
	Policy            string
	Date              Date
	Reason            string
	WithdrawScheduled bool
}

// Cancel decides a cancellation. Today is now's UTC date. The cancel date
// is, by policy:
//   - immediate: today, or the start date when the subscription has not
//     started yet (it then never runs);
//   - end_of_term: for a termed subscription, the end of the current term
//     (CurrentTermEnd of today); for an evergreen one, the next monthly
//     anniversary of the start date after today;
//   - specific_date: Date, which must be neither before the start date nor
//     in the past (invalid).
//
// The cancel date may not precede a scheduled change's effective date
// (CodeScheduledChangePending, naming it) unless cmd.WithdrawScheduled,
// which withdraws those changes first, in the same decision; nor an
// amendment's in effect, nor follow the end of a term that does not renew
// (invalid), nor pass MaxDate (CodeDateOutOfRange: an end of term or
// monthly anniversary after 9999-12-31). A second cancellation is refused with
// CodeAlreadyCancelled, and one of a subscription whose term ended with
// CodeSubscriptionNotActive.
func (s *Subscription) Cancel(cmd CancelSubscription, by Actor, now time.Time) ([]Event, error) {
	today := DateOf(now)
	switch {
	case !s.Exists():
		return nil, NotFound("subscription")
	case !s.CancelDate.IsZero():
		return nil, RuleError(CodeAlreadyCancelled, "the subscription is already cancelled as of %s", s.CancelDate)
	case s.StatusOn(today) == StatusCancelled:
		return nil, RuleError(CodeSubscriptionNotActive, "the subscription's term ended on %s", s.EndDate())
	}
	reason, rerr := cleanMultiline("reason", cmd.Reason, maxReasonChars)
	if rerr != nil {
		return nil, rerr
	}
	date, field, err := s.cancelDate(cmd, today)
	if err != nil {
		return nil, err
	}
	if err := checkDate(field, "the cancel date", date); err != nil {
		return nil, err
	}
	if end := s.EndDate(); !end.IsZero() && date.After(end) {
		return nil, Invalid(field, "the term ends on %s, before %s", end, date)
	}
	events, err := s.withdrawAfter(date, field, cmd.WithdrawScheduled, by, now)
	if err != nil {
		return nil, err
	}
	return append(events, &SubscriptionCancelled{
		SubscriptionID: s.ID, AccountID: s.AccountID, Policy: CancelPolicy(cmd.Policy),
		CancelDate: date, Reason: reason, CancelledBy: by, CancelledAt: now.UTC(),
	}), nil
}

// cancelDate returns the cancel date by cmd's policy, with the field to
// blame should it not fit the subscription.
func (s *Subscription) cancelDate(cmd CancelSubscription, today Date) (Date, string, error) {
	p := CancelPolicy(cmd.Policy)
	if p != CancelSpecificDate && !cmd.Date.IsZero() {
		return Date{}, "", Invalid("date", "only the specific_date policy takes a date")
	}
	switch p {
	case CancelImmediate:
		if today.Before(s.StartDate) {
			return s.StartDate, "policy", nil
		}
		return today, "policy", nil
	case CancelEndOfTerm:
		if s.Term.Type == TermTermed {
			return s.CurrentTermEnd(today), "policy", nil
		}
		return periodEndAfter(s.StartDate, 1, today), "policy", nil
	case CancelSpecificDate:
		switch d := cmd.Date; {
		case d.IsZero():
			return Date{}, "", Invalid("date", "is required with the specific_date policy")
		case d.Before(s.StartDate):
			return Date{}, "", Invalid("date", "must not be before the start date, %s", s.StartDate)
		case d.Before(today):
			return Date{}, "", Invalid("date", "must not be in the past (today is %s)", today)
		default:
			return d, "date", nil
		}
	}
	return Date{}, "", Invalid("policy", "must be \"immediate\", \"end_of_term\" or \"specific_date\"")
}
