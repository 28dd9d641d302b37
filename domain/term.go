package domain

// TermType is whether a subscription runs until cancelled or for a term.
type TermType string

// The types of term.
const (
	TermEvergreen TermType = "evergreen"
	TermTermed    TermType = "termed"
)

// MaxTermMonths is the longest term.
const MaxTermMonths = 120

// Term is a subscription's term. A termed subscription runs Months months
// from its start date; with AutoRenew it renews for as long again at each
// term's end, and without it ends at the end of its term. An evergreen
// subscription has no months and does not renew: it runs until cancelled.
type Term struct {
	Type      TermType `json:"type"`
	Months    int      `json:"months,omitempty"`
	AutoRenew bool     `json:"auto_renew"`
}

// TermInput is a term as a caller gives it; Months 0 means none.
type TermInput struct {
	Type      string
	Months    int
	AutoRenew bool
}

// newTerm validates a term: a termed subscription needs 1 to 120 months,
// and an evergreen one has neither months nor auto-renewal
// (CodeInvalidTerm).
func newTerm(in TermInput) (Term, *Error) {
	t := Term{Type: TermType(in.Type), Months: in.Months, AutoRenew: in.AutoRenew}
	switch t.Type {
	case TermTermed:
		if t.Months < 1 || t.Months > MaxTermMonths {
			return t, RuleError(CodeInvalidTerm, "a termed subscription runs 1 to %d months", MaxTermMonths).AtField("term.months")
		}
	case TermEvergreen:
		if t.Months != 0 {
			return t, RuleError(CodeInvalidTerm, "an evergreen subscription has no months").AtField("term.months")
		}
		if t.AutoRenew {
			return t, RuleError(CodeInvalidTerm, "an evergreen subscription does not renew").AtField("term.auto_renew")
		}
	default:
		return t, Invalid("term.type", "must be \"evergreen\" or \"termed\"")
	}
	return t, nil
}

// checkTermEnd refuses a term whose first end, start plus its months,
// would pass MaxDate (CodeDateOutOfRange): the read model stores it, and
// a termed subscription ends or renews on it. A start out of bounds is
// refused on its own.
func checkTermEnd(start Date, t Term) *Error {
	if t.Type != TermTermed || !start.InBounds() {
		return nil
	}
	if end := start.AddMonths(t.Months); !end.InBounds() {
		return dateOutOfRange("term.months", "the end of the first term, "+end.String()+",")
	}
	return nil
}

// CurrentTermEnd returns the end of the term that contains date d: the
// first day no longer in it, or the zero Date for an evergreen
// subscription. Without auto-renewal that is start date plus months,
// whatever d. With auto-renewal, terms follow one another, each anchored
// to the start date (start + k × months, clamped to the month's end, so a
// monthly term from Jan 31 ends Feb 28, Mar 31, Apr 30...), and the
// current term is the one with start + (k-1) × months <= d < start + k ×
// months; before the start date it is the first.
func (s *Subscription) CurrentTermEnd(d Date) Date {
	if s.Term.Type != TermTermed || s.Term.Months < 1 {
		return Date{}
	}
	if !s.Term.AutoRenew {
		return s.StartDate.AddMonths(s.Term.Months)
	}
	return periodEndAfter(s.StartDate, s.Term.Months, d)
}

// periodEndAfter returns start + k × months for the least k >= 1 for which
// it is after d.
func periodEndAfter(start Date, months int, d Date) Date {
	k := max(1, start.monthsFrom(d)/months)
	for !start.AddMonths(k * months).After(d) {
		k++
	}
	for k > 1 && start.AddMonths((k-1)*months).After(d) {
		k--
	}
	return start.AddMonths(k * months)
}

// EndDate returns the first day the subscription is no longer in force:
// its cancel date when cancelled, else the end of its term when termed
// without auto-renewal, else the zero Date (it runs on).
func (s *Subscription) EndDate() Date {
	switch {
	case !s.CancelDate.IsZero():
		return s.CancelDate
	case s.Term.Type == TermTermed && !s.Term.AutoRenew && s.Term.Months > 0:
		return s.StartDate.AddMonths(s.Term.Months)
	}
	return Date{}
}

// StatusOn returns the subscription's status on date d: cancelled from
// its EndDate on (so a termed subscription without auto-renewal is
// cancelled from the end of its term), pending_cancellation before a set
// cancel date, else active (also before the start date). A subscription
// that does not exist has the empty status.
func (s *Subscription) StatusOn(d Date) Status {
	end := s.EndDate()
	switch {
	case !s.Exists():
		return ""
	case !end.IsZero() && !d.Before(end):
		return StatusCancelled
	case !s.CancelDate.IsZero():
		return StatusPendingCancellation
	}
	return StatusActive
}
