package domain

import "github.com/google/uuid"

// AccessDenied records a refused request of a caller known to the tenant:
// what it tried, on what, and why it was refused. It is appended to the
// tenant's audit stream; the refused command appends nothing else.
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

// AuditLog is the state of a tenant's audit stream: how many refusals it
// holds. Nothing is decided on it; it exists so that the stream replays
// like every other.
type AuditLog struct {
	Denied int
}

// Apply implements the evolve step of the audit stream.
func (l *AuditLog) Apply(e Event) {
	switch e.(type) {
	case *AccessDenied:
		l.Denied++
	}
}

func init() {
	register(func() Event { return &AccessDenied{} })
}
