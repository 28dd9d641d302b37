package commands

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// DefaultRefusalWindow is how long the repeats of a refusal are gathered
// into one AccessDeniedRepeated event.
const DefaultRefusalWindow = time.Minute

// refusalFlushWait bounds the append of a window's repeats.
const refusalFlushWait = 10 * time.Second

// WithRefusalWindow sets how long the repeats of an identical refusal are
// counted before they are recorded as one event; the default is
// DefaultRefusalWindow.
func WithRefusalWindow(d time.Duration) Option {
	return func(s *Service) { s.refusals.window = d }
}

// refusalKey identifies identical refusals: same tenant, principal,
// permission, resource, reason and ids.
type refusalKey struct {
	tenant string
	event  domain.AccessDenied
}

// refusalRepeats counts the repeats of one refusal in its open window.
type refusalRepeats struct {
	count       int
	first, last time.Time
	meta        eventstore.Metadata
	event       domain.AccessDenied
}

// refusalLog bounds what refusals write to the audit log. The first
// refusal of its kind in a window is recorded as an AccessDenied, as it
// happens and conditioned on the states it was decided on; its repeats in
// the window are counted in memory and recorded at the window's end as
// one AccessDeniedRepeated with their count. Each replica counts its own
// refusals, so the counts of all replicas sum to the refusals; a replica
// that dies loses at most the repeats of its open windows. The zero value
// is ready to use, with DefaultRefusalWindow.
type refusalLog struct {
	window time.Duration
	mu     sync.Mutex
	open   map[refusalKey]*refusalRepeats
}

// repeat counts a refusal identical to one recorded in the open window,
// made with meta, and reports true, or reports false when there is none:
// the refusal is to be recorded.
func (l *refusalLog) repeat(k refusalKey, meta eventstore.Metadata, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.open[k]
	if !ok {
		return false
	}
	if r.count == 0 {
		r.first = now
	}
	r.count++
	r.last, r.meta = now, meta
	return true
}

// opened starts the window of a refusal just recorded as e; flush is
// called at its end with the repeats counted, if any. A window opened
// meanwhile by a concurrent refusal is kept.
func (l *refusalLog) opened(k refusalKey, e domain.AccessDenied, flush func(*refusalRepeats)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[k]; ok {
		return
	}
	if l.open == nil {
		l.open = map[refusalKey]*refusalRepeats{}
	}
	window := l.window
	if window <= 0 {
		window = DefaultRefusalWindow
	}
	r := &refusalRepeats{event: e}
	l.open[k] = r
	time.AfterFunc(window, func() {
		l.mu.Lock()
		mine := l.open[k] == r // not drained, nor replaced since
		if mine {
			delete(l.open, k)
		}
		l.mu.Unlock()
		if mine && r.count > 0 {
			flush(r)
		}
	})
}

// recordDenied records the refusal d of req in the tenant's audit log,
// once per window and kind (refusalLog): the first as an AccessDenied
// conditioned on v, its repeats counted. A conflict on the conditions is
// returned as ErrConcurrency, to decide again.
func (s *Service) recordDenied(ctx context.Context, v *view, req Request, d *denied, now time.Time) error {
	k := refusalKey{tenant: req.TenantID.String(), event: *d.event}
	meta := s.metadata(req, now)
	if s.refusals.repeat(k, meta, now) {
		return nil
	}
	events, err := s.envelope(meta, []domain.Event{d.event})
	if err != nil {
		return err
	}
	areq := eventstore.To(AuditStream(req.TenantID), eventstore.Any(), events...)
	areq.Conditions = v.conditions(map[string]bool{AuditStream(req.TenantID): true})
	if _, err := s.appendUntilKnown(ctx, areq); err != nil {
		return fmt.Errorf("record access denied: %w", err)
	}
	tenant := req.TenantID
	s.refusals.opened(k, *d.event, func(r *refusalRepeats) { s.flushRepeats(tenant, r) })
	return nil
}

// flushRepeats appends the repeats r counted to tenant's audit log.
func (s *Service) flushRepeats(tenant uuid.UUID, r *refusalRepeats) {
	ctx, cancel := context.WithTimeout(context.Background(), refusalFlushWait)
	defer cancel()
	e := r.event
	events, err := s.envelope(r.meta, []domain.Event{&domain.AccessDeniedRepeated{
		Permission: e.Permission, Resource: e.Resource, Reason: e.Reason, Actor: e.Actor,
		AccountID: e.AccountID, SubscriptionID: e.SubscriptionID, Count: r.count, FirstAt: r.first, LastAt: r.last,
	}})
	if err == nil {
		_, err = s.appendUntilKnown(ctx, eventstore.To(AuditStream(tenant), eventstore.Any(), events...))
	}
	if err != nil {
		s.logger.Error("record repeated access denied", "tenant_id", tenant, "actor_type", e.Actor.Type,
			"actor_id", e.Actor.ID, "permission", e.Permission, "count", r.count, "error", err)
	}
}

// FlushRefusals records at once the repeats counted in every open window,
// as a graceful stop must: the windows' timers die with the process.
// Refusals after it open new windows.
func (s *Service) FlushRefusals() {
	for k, r := range s.refusals.drain() {
		tenant, err := uuid.Parse(k.tenant)
		if err != nil {
			continue // every key is made from a tenant's id
		}
		s.flushRepeats(tenant, r)
	}
}

// drain closes every open window and returns those with repeats.
func (l *refusalLog) drain() map[refusalKey]*refusalRepeats {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[refusalKey]*refusalRepeats)
	for k, r := range l.open {
		if r.count > 0 {
			out[k] = r
		}
		delete(l.open, k)
	}
	return out
}
