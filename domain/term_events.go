package domain

import (
	"time"

	"github.com/google/uuid"
)

// TermEndedReason is the reason recorded when a term ends a subscription.
const TermEndedReason = "term_ended"

// maxTermEventsAtOnce bounds the renewals recorded in one decision, so
// that one append stays small after a long downtime; the next decision
// records the rest.
const maxTermEventsAtOnce = 120

// SubscriptionRenewed records that a termed subscription with auto-renewal
// began its next term, Term (the first is 1), on TermStart, until TermEnd.
type SubscriptionRenewed struct {
	SubscriptionID uuid.UUID `json:"subscription_id"`
	AccountID      uuid.UUID `json:"account_id"`
	Term           int       `json:"term"`
	TermStart      Date      `json:"term_start"`
	TermEnd        Date      `json:"term_end"`
	RenewedAt      time.Time `json:"renewed_at"`
}

// SubscriptionTermEnded records that a termed subscription without
// auto-renewal ended with its term, on EndedOn.
type SubscriptionTermEnded struct {
	SubscriptionID uuid.UUID `json:"subscription_id"`
	AccountID      uuid.UUID `json:"account_id"`
	EndedOn        Date      `json:"ended_on"`
	EndedAt        time.Time `json:"ended_at"`
}

// EventType implements Event.
func (*SubscriptionRenewed) EventType() string { return "SubscriptionRenewed" }

// EventType implements Event.
func (*SubscriptionTermEnded) EventType() string { return "SubscriptionTermEnded" }

func init() {
	register(
		func() Event { return &SubscriptionRenewed{} },
		func() Event { return &SubscriptionTermEnded{} },
	)
}

// NextTermEnd returns the end of the first term whose end is not yet
// recorded, or the zero Date when there is none to record: an evergreen
// subscription, one whose term ended, or one cancelled on or before it.
func (s *Subscription) NextTermEnd() Date {
	if !s.Exists() || s.Term.Type != TermTermed || s.Term.Months < 1 || s.TermEnded {
		return Date{}
	}
	end := s.StartDate.AddMonths((s.TermsRenewed + 1) * s.Term.Months)
	if !s.CancelDate.IsZero() && !s.CancelDate.After(end) && s.CancelReason != TermEndedReason {
		return Date{}
	}
	return end
}

// RecordTermEnds decides what the term of s has come to by today: for each
// term end on or before today not yet recorded, SubscriptionRenewed with
// auto-renewal, else SubscriptionTermEnded, after which nothing more.
// Nothing when no term has ended since the last decision: so a term end
// is recorded once, whoever decides it and however late.
func (s *Subscription) RecordTermEnds(today Date, now time.Time) []Event {
	if s.NextTermEnd().IsZero() {
		return nil
	}
	var out []Event
	renewed := s.TermsRenewed
	for len(out) < maxTermEventsAtOnce {
		end := s.StartDate.AddMonths((renewed + 1) * s.Term.Months)
		if end.After(today) {
			return out
		}
		if !s.Term.AutoRenew {
			return append(out, &SubscriptionTermEnded{SubscriptionID: s.ID, AccountID: s.AccountID, EndedOn: end, EndedAt: now.UTC()})
		}
		if !s.CancelDate.IsZero() && !s.CancelDate.After(end) {
			return out
		}
		renewed++
		next := s.StartDate.AddMonths((renewed + 1) * s.Term.Months)
		if !next.InBounds() {
			return out
		}
		out = append(out, &SubscriptionRenewed{SubscriptionID: s.ID, AccountID: s.AccountID, Term: renewed + 1,
			TermStart: end, TermEnd: next, RenewedAt: now.UTC()})
	}
	return out
}

// applyTermEvent evolves s by a renewal or the end of its term.
func (s *Subscription) applyTermEvent(e Event) {
	switch e := e.(type) {
	case *SubscriptionRenewed:
		s.TermsRenewed = e.Term - 1
		s.UpdatedAt = e.RenewedAt
	case *SubscriptionTermEnded:
		s.TermEnded = true
		s.CancelDate, s.CancelPolicy, s.CancelReason = e.EndedOn, CancelEndOfTerm, TermEndedReason
		s.UpdatedAt = e.EndedAt
	}
}
