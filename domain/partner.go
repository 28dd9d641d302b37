package domain

import (
	"time"

	"github.com/google/uuid"
)

// PartnerUser is a user of a partner.
type PartnerUser = User

// CreatePartner is the command to create a partner with its first
// partner_admin.
type CreatePartner struct {
	PartnerID uuid.UUID
	Name      string
	Admin     NewUser
}

// Partner is a reseller or managed service provider, with its users. It
// is platform-level, not tenant-scoped; its stream is per partner.
type Partner struct {
	ID        uuid.UUID
	Name      string
	CreatedBy Actor
	CreatedAt time.Time
	Users     map[uuid.UUID]User
	Version   uint64
}

// PartnerCreated records a new partner.
type PartnerCreated struct {
	PartnerID uuid.UUID `json:"partner_id"`
	Name      string    `json:"name"`
	CreatedBy Actor     `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// PartnerUserAdded records a new user of a partner and its key's hash.
type PartnerUserAdded struct {
	PartnerID uuid.UUID `json:"partner_id"`
	UserID    uuid.UUID `json:"user_id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	KeyHash   string    `json:"key_hash"`
	AddedBy   Actor     `json:"added_by"`
	AddedAt   time.Time `json:"added_at"`
}

// PartnerUserRemoved records a partner user's removal; its key stops
// working at once.
type PartnerUserRemoved struct {
	PartnerID uuid.UUID `json:"partner_id"`
	UserID    uuid.UUID `json:"user_id"`
	RemovedBy Actor     `json:"removed_by"`
	RemovedAt time.Time `json:"removed_at"`
}

// EventType implements Event.
func (*PartnerCreated) EventType() string { return "PartnerCreated" }

// EventType implements Event.
func (*PartnerUserAdded) EventType() string { return "PartnerUserAdded" }

// EventType implements Event.
func (*PartnerUserRemoved) EventType() string { return "PartnerUserRemoved" }

func init() {
	register(
		func() Event { return &PartnerCreated{} },
		func() Event { return &PartnerUserAdded{} },
		func() Event { return &PartnerUserRemoved{} },
	)
}

// Exists reports whether the partner was created.
func (p *Partner) Exists() bool { return p.ID != uuid.Nil }

// UserByKeyHash returns the active user whose key hashes to h.
func (p *Partner) UserByKeyHash(h string) (PartnerUser, bool) {
	return activeUserByKeyHash(p.Users, h)
}

// Apply evolves the partner by one of its events.
func (p *Partner) Apply(e Event) {
	p.Version++
	switch e := e.(type) {
	case *PartnerCreated:
		p.ID, p.Name, p.CreatedBy, p.CreatedAt = e.PartnerID, e.Name, e.CreatedBy, e.CreatedAt
	case *PartnerUserAdded:
		p.Users = addMember(p.Users, User{ID: e.UserID, Name: e.Name, Role: e.Role, KeyHash: e.KeyHash,
			Status: UserActive, AddedBy: e.AddedBy, AddedAt: e.AddedAt})
	case *PartnerUserRemoved:
		removeMember(p.Users, e.UserID, e.RemovedBy, e.RemovedAt)
	}
}

// Create decides a new partner with its first user, who must be a
// partner_admin. A partner that exists already is a Conflict.
func (p *Partner) Create(cmd CreatePartner, by Actor, now time.Time) ([]Event, error) {
	if p.Exists() {
		return nil, Conflict("partner already exists")
	}
	name, err := checkMemberName("name", cmd.Name)
	if err != nil {
		return nil, err
	}
	if cmd.PartnerID == uuid.Nil {
		return nil, Invalid("partner_id", "must be a UUID")
	}
	if cmd.Admin.Role != RolePartnerAdmin {
		return nil, Invalid("admin.role", "the first user must be a partner_admin")
	}
	created := &PartnerCreated{PartnerID: cmd.PartnerID, Name: name, CreatedBy: by, CreatedAt: now.UTC()}
	var fresh Partner
	fresh.Apply(created)
	added, err := fresh.AddUser(cmd.Admin, by, now)
	if err != nil {
		return nil, prefixFields(err, "admin.")
	}
	return append([]Event{created}, added...), nil
}

// AddUser decides a new user of the partner with a partner role. A user
// id or key hash in use already is a Conflict.
func (p *Partner) AddUser(u NewUser, by Actor, now time.Time) ([]Event, error) {
	if !p.Exists() {
		return nil, NotFound("partner")
	}
	u, err := decideAddMember(p.Users, u, Role.IsPartnerRole,
		"a partner role (partner_admin, partner_operator, partner_viewer)")
	if err != nil {
		return nil, err
	}
	return []Event{&PartnerUserAdded{PartnerID: p.ID, UserID: u.ID, Name: u.Name, Role: u.Role,
		KeyHash: u.KeyHash, AddedBy: by, AddedAt: now.UTC()}}, nil
}

// RemoveUser decides the removal of an active user of the partner. An
// unknown or removed user is NotFound; the last active partner_admin is
// refused with the rule CodeLastAdmin.
func (p *Partner) RemoveUser(userID uuid.UUID, by Actor, now time.Time) ([]Event, error) {
	if !p.Exists() {
		return nil, NotFound("partner")
	}
	if err := decideRemoveMember(p.Users, userID, RolePartnerAdmin); err != nil {
		return nil, err
	}
	return []Event{&PartnerUserRemoved{PartnerID: p.ID, UserID: userID, RemovedBy: by, RemovedAt: now.UTC()}}, nil
}
