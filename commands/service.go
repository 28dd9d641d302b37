// Package commands is the application layer: for every write of the API it
// loads the aggregates it needs from the event store, authorizes the caller
// on their current state, lets the aggregate decide, and appends the
// events with the metadata that records who acted, for whom and why.
package commands

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// Service handles commands. It is safe for concurrent use.
type Service struct {
	store      eventstore.Store
	now        func() time.Time
	newID      func() uuid.UUID
	logger     *slog.Logger
	snapshots  *snapshots
	persisted  SnapshotStore
	turns      *turns
	contention time.Duration
	refusals   refusalLog
	index      BillingIndex
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

// DefaultContention is how long a command goes on deciding again while
// other processes keep winning the races on its streams, before it is
// refused as contended (domain.CodeConcurrencyConflict).
const DefaultContention = 5 * time.Second

// WithContention sets how long a command goes on deciding again while it
// loses races to other processes; the default is DefaultContention.
func WithContention(d time.Duration) Option { return func(s *Service) { s.contention = d } }

// New returns a Service on store.
func New(store eventstore.Store, opts ...Option) *Service {
	s := &Service{
		store:      store,
		now:        time.Now,
		newID:      func() uuid.UUID { return uuid.Must(uuid.NewV7()) },
		logger:     slog.New(slog.DiscardHandler),
		snapshots:  newSnapshots(DefaultSnapshots),
		turns:      newTurns(),
		contention: DefaultContention,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Head is the position of the last event in the log, 0 when it is empty.
func (s *Service) Head(ctx context.Context) (eventstore.Position, error) {
	head, err := s.store.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	return head, nil
}

// Request carries who issues a command and the metadata that its events
// record.
type Request struct {
	// Key is the caller's API key as presented: a command authenticates
	// it itself, on the states it decides on, so that the key's owner is
	// one of the conditions of its append. Empty for callers in this
	// process, which give Principal instead.
	Key string
	// Principal is who issues the request when Key is empty: the
	// platform operator, the system, or a caller authenticated already
	// (a read). A command given a Key sets it to the principal the key
	// names.
	Principal      domain.Principal
	TenantID       uuid.UUID
	CorrelationID  string
	CausationID    string
	RequestID      string
	IdempotencyKey string

	// ClientRequestID is the caller's X-Request-ID, recorded beside
	// RequestID, the server's own.
	ClientRequestID string

	// IfMatch, when set, is the version the caller expects the aggregate to
	// be at; any other version refuses the command with ErrPrecondition.
	IfMatch *uint64
	// replay, set while a replay's authorization is checked, notes that
	// the decision granted it.
	replay *replayCheck
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
	Subject uuid.UUID
	// Created is true when the command's events began the aggregate's
	// stream: it created the aggregate.
	Created  bool
	Replayed bool
	// Principal is who the command ran for: the key's user, as
	// authenticated by the command.
	Principal domain.Principal
}

// caller is who owns req's idempotency keys: the user its key names, or
// its principal.
func (req Request) caller() string {
	if k, ok := parseAPIKey(req.Key); ok {
		if k.ownerKind == keyOfPartner {
			return string(domain.ActorPartnerUser) + ":" + k.userID.String()
		}
		return string(domain.ActorTenantUser) + ":" + k.userID.String()
	}
	return string(req.Principal.Type) + ":" + req.Principal.ID.String()
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

		ClientRequestID: req.ClientRequestID,
	}
}

func uuidString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}
