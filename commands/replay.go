package commands

import (
	"context"
	"errors"
	"time"

	"ledger/domain"
)

// replayCheck follows a keyed request whose key was recorded before
// through its command's decision, to learn whether the request, new,
// would be authorized: what the decision decides is dropped, since the
// replay answers with the key's record.
type replayCheck struct {
	// granted and refused say that an authorization of the decision
	// granted, or refused, the request (a decision may authorize several
	// times: usage over several subscriptions).
	granted, refused bool
}

// authorized notes, on a replay's check, that an authorization of req
// granted it or refused it; it does nothing on other requests.
func (r Request) authorized(granted bool) {
	if r.replay == nil {
		return
	}
	if granted {
		r.replay.granted = true
	} else {
		r.replay.refused = true
	}
}

// replaying says whether req is the check of a replay.
func (r Request) replaying() bool { return r.replay != nil }

// reauthorize decides whether req, a keyed request of c recorded before,
// would be authorized were it new: its caller is authenticated already
// (req.Principal), and c's decision runs on v for its authorization only.
// It returns the refusal the new request would get, for the command path
// to give (and audit) as it gives any refusal, or nil. A decision refused
// by the domain after every authorization granted the request (the first
// request changed the state it was decided on) stands as granted: the
// replay answers with the first answer.
func (s *Service) reauthorize(ctx context.Context, v *view, req Request, c command, now time.Time) error {
	check := &replayCheck{}
	req.replay = check
	_, err := c.decide(ctx, v, req, now)
	if err == nil {
		return nil
	}
	var rule *domain.Error
	var d *denied
	if check.granted && !check.refused && errors.As(err, &rule) && !errors.As(err, &d) {
		return nil
	}
	return err
}
