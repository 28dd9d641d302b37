package domain

import (
	"time"

	"github.com/google/uuid"
)

// AccessDenied records a refused request of a caller known to the tenant:
// what it tried, on what, and why it was refused. It names only what the
// caller sent (the resource and the ids in its request), never facts
// looked up about resources outside the caller's scope. It is appended to
// the tenant's audit stream; the refused command appends nothing else.
// Each AccessDenied stands for one refused request.
type AccessDenied struct {
	Permission     string    `json:"permission"`
	Resource       string    `json:"resource"`
	Reason         string    `json:"reason"`
	Actor          Actor     `json:"actor"`
	AccountID      uuid.UUID `json:"account_id,omitzero"`
	SubscriptionID uuid.UUID `json:"subscription_id,omitzero"`
}

// EventType implements Event.
func (*AccessDenied) EventType() string { return "AccessDenied" }

// AccessDeniedRepeated records Count more refusals identical to an
// AccessDenied (same actor, permission, resource, reason and ids), made
// between FirstAt and LastAt: the repeats of a refusal within a window
// are recorded once, so that a flood cannot grow the audit log without
// bound while the log still says who tried what and how often.
type AccessDeniedRepeated struct {
	Permission     string    `json:"permission"`
	Resource       string    `json:"resource"`
	Reason         string    `json:"reason"`
	Actor          Actor     `json:"actor"`
	AccountID      uuid.UUID `json:"account_id,omitzero"`
	SubscriptionID uuid.UUID `json:"subscription_id,omitzero"`
	Count          int       `json:"count"`
	FirstAt        time.Time `json:"first_at"`
	LastAt         time.Time `json:"last_at"`
}

// EventType implements Event.
func (*AccessDeniedRepeated) EventType() string { return "AccessDeniedRepeated" }

// AuditLog is the state of a tenant's audit stream: how many refused
// requests it records. Nothing is decided on it; it exists so that the
// stream replays like every other.
type AuditLog struct {
	Denied int
}

// Apply implements the evolve step of the audit stream.
func (l *AuditLog) Apply(e Event) {
	switch e := e.(type) {
	case *AccessDenied:
		l.Denied++
	case *AccessDeniedRepeated:
		l.Denied += e.Count
	}
}

// SeesActionInFull is the one rule for what viewer sees of the metadata
// of an action by actor (on a subscription's history, the audit log and
// any export): a partner's user sees its own partner's actions in full,
// and anyone else's with the actor reduced to its type and no keys or
// request ids; the tenant's users, the operator and the system see every
// action in full.
func SeesActionInFull(viewer Principal, actor Actor) bool {
	if viewer.Type != ActorPartnerUser {
		return true
	}
	return actor.Type == ActorPartnerUser && viewer.PartnerID != uuid.Nil && actor.PartnerID == viewer.PartnerID
}

func init() {
	register(func() Event { return &AccessDenied{} }, func() Event { return &AccessDeniedRepeated{} })
}
