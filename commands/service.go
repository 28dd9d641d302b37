// Package commands is the application layer: for every write of the API it
// loads the aggregates it needs from the event store, authorizes the caller
// on their current state, lets the aggregate decide, and appends the
// events with the metadata that records who acted, for whom and why.
package commands

import (
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// Service handles commands. It is safe for concurrent use.
type Service struct {
	store      eventstore.KeyedAppender
	now        func() time.Time
	newID      func() uuid.UUID
	maxRetries int
	logger     *slog.Logger
	snapshots  *snapshots
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock that stamps events and evaluates grant expiry.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithSnapshots sets how many aggregates' latest states the service keeps
// in memory, so that loading one reads only its newest events; 0 keeps
// none.
func WithSnapshots(n int) Option { return func(s *Service) { s.snapshots = newSnapshots(n) } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.logger = l } }

// New returns a Service on store.
func New(store eventstore.KeyedAppender, opts ...Option) *Service {
	s := &Service{
		store:      store,
		now:        time.Now,
		newID:      func() uuid.UUID { return uuid.Must(uuid.NewV7()) },
		maxRetries: 5,
		logger:     slog.New(slog.DiscardHandler),
		snapshots:  newSnapshots(DefaultSnapshots),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Request carries who issues a command and the metadata that its events
// record.
type Request struct {
	Principal      domain.Principal
	TenantID       uuid.UUID
	CorrelationID  string
	CausationID    string
	RequestID      string
	IdempotencyKey string
	// IfMatch, when set, is the version the caller expects the aggregate to
	// be at; any other version refuses the command with ErrPrecondition.
	IfMatch *uint64
}

// Outcome is a command's result: the aggregate's state after it, where the
// last event landed, and whether this is the replay of an earlier request
// with the same idempotency key.
type Outcome[A any] struct {
	State    *A
	Stream   string
	Version  uint64
	Position eventstore.Position
	// Subject is the id of what the command created inside the aggregate,
	// such as a tenant's new user, when it created something there.
	Subject  uuid.UUID
	Replayed bool
}

func (s *Service) metadata(req Request, now time.Time) eventstore.Metadata {
	correlation := req.CorrelationID
	if correlation == "" {
		correlation = req.RequestID
	}
	return eventstore.Metadata{
		TenantID: uuidString(req.TenantID),
		Actor: eventstore.Actor{
			Type: string(req.Principal.Type), ID: uuidString(req.Principal.ID), PartnerID: uuidString(req.Principal.PartnerID),
		},
		CorrelationID:  correlation,
		CausationID:    req.CausationID,
		RequestID:      req.RequestID,
		IdempotencyKey: req.IdempotencyKey,
		OccurredAt:     now,
	}
}

func uuidString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}
