package domain

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

const maxMemberNameChars = MaxNameChars

// UserStatus says whether a user's key still works.
type UserStatus string

// The statuses of a user.
const (
	UserActive  UserStatus = "active"
	UserRemoved UserStatus = "removed"
)

// User is a member of a tenant or a partner, who calls the API with a key.
// The domain keeps only the key's hash.
type User struct {
	ID        uuid.UUID
	Name      string
	Role      Role
	KeyHash   string
	Status    UserStatus
	AddedBy   Actor
	AddedAt   time.Time
	RemovedBy Actor
	RemovedAt time.Time
}

// TenantUser is a user of a tenant.
type TenantUser = User

// NewUser is the command to add a user: its id, name, role and the hash of
// the key the command layer made for it.
type NewUser struct {
	ID      uuid.UUID
	Name    string
	Role    Role
	KeyHash string
}

// CreateTenant is the command to create a tenant with its first
// tenant_admin.
type CreateTenant struct {
	TenantID uuid.UUID
	Name     string
	Admin    NewUser
}

// Tenant is a business that runs its subscriptions on the ledger, with
// its users; its stream is per tenant.
type Tenant struct {
	ID        uuid.UUID
	Name      string
	CreatedBy Actor
	CreatedAt time.Time
	Users     map[uuid.UUID]User
	Version   uint64
}

// TenantCreated records a new tenant.
type TenantCreated struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	Name      string    `json:"name"`
	CreatedBy Actor     `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// TenantUserAdded records a new user of a tenant and its key's hash.
type TenantUserAdded struct {
	TenantID uuid.UUID `json:"tenant_id"`
	UserID   uuid.UUID `json:"user_id"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	KeyHash  string    `json:"key_hash"`
	AddedBy  Actor     `json:"added_by"`
	AddedAt  time.Time `json:"added_at"`
}

// TenantUserRemoved records a tenant user's removal; its key stops
// working at once.
type TenantUserRemoved struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	UserID    uuid.UUID `json:"user_id"`
	RemovedBy Actor     `json:"removed_by"`
	RemovedAt time.Time `json:"removed_at"`
}

// EventType implements Event.
func (*TenantCreated) EventType() string { return "TenantCreated" }

// EventType implements Event.
func (*TenantUserAdded) EventType() string { return "TenantUserAdded" }

// EventType implements Event.
func (*TenantUserRemoved) EventType() string { return "TenantUserRemoved" }

func init() {
	register(
		func() Event { return &TenantCreated{} },
		func() Event { return &TenantUserAdded{} },
		func() Event { return &TenantUserRemoved{} },
	)
}

// Exists reports whether the tenant was created.
func (t *Tenant) Exists() bool { return t.ID != uuid.Nil }

// UserByKeyHash returns the active user whose key hashes to h.
func (t *Tenant) UserByKeyHash(h string) (TenantUser, bool) {
	return activeUserByKeyHash(t.Users, h)
}

// Apply evolves the tenant by one of its events.
func (t *Tenant) Apply(e Event) {
	t.Version++
	switch e := e.(type) {
	case *TenantCreated:
		t.ID, t.Name, t.CreatedBy, t.CreatedAt = e.TenantID, e.Name, e.CreatedBy, e.CreatedAt
	case *TenantUserAdded:
		t.Users = addMember(t.Users, User{ID: e.UserID, Name: e.Name, Role: e.Role, KeyHash: e.KeyHash,
			Status: UserActive, AddedBy: e.AddedBy, AddedAt: e.AddedAt})
	case *TenantUserRemoved:
		removeMember(t.Users, e.UserID, e.RemovedBy, e.RemovedAt)
	}
}

// Create decides a new tenant with its first user, who must be a
// tenant_admin. A tenant that exists already is a Conflict.
func (t *Tenant) Create(cmd CreateTenant, by Actor, now time.Time) ([]Event, error) {
	if t.Exists() {
		return nil, Conflict("tenant already exists")
	}
	name, err := checkMemberName("name", cmd.Name)
	if err != nil {
		return nil, err
	}
	if cmd.TenantID == uuid.Nil {
		return nil, Invalid("tenant_id", "must be a UUID")
	}
	if cmd.Admin.Role != RoleTenantAdmin {
		return nil, Invalid("admin.role", "the first user must be a tenant_admin")
	}
	created := &TenantCreated{TenantID: cmd.TenantID, Name: name, CreatedBy: by, CreatedAt: now.UTC()}
	var fresh Tenant
	fresh.Apply(created)
	added, err := fresh.AddUser(cmd.Admin, by, now)
	if err != nil {
		return nil, prefixFields(err, "admin.")
	}
	return append([]Event{created}, added...), nil
}

// AddUser decides a new user of the tenant with a tenant role. A user id
// or key hash in use already is a Conflict.
func (t *Tenant) AddUser(u NewUser, by Actor, now time.Time) ([]Event, error) {
	if !t.Exists() {
		return nil, NotFound("tenant")
	}
	u, err := decideAddMember(t.Users, u, Role.IsTenantRole, "a tenant role (tenant_admin, finance, auditor)")
	if err != nil {
		return nil, err
	}
	return []Event{&TenantUserAdded{TenantID: t.ID, UserID: u.ID, Name: u.Name, Role: u.Role,
		KeyHash: u.KeyHash, AddedBy: by, AddedAt: now.UTC()}}, nil
}

// RemoveUser decides the removal of an active user of the tenant. An
// unknown or removed user is NotFound; the last active tenant_admin is
// refused with the rule CodeLastAdmin.
func (t *Tenant) RemoveUser(userID uuid.UUID, by Actor, now time.Time) ([]Event, error) {
	if !t.Exists() {
		return nil, NotFound("tenant")
	}
	if err := decideRemoveMember(t.Users, userID, RoleTenantAdmin); err != nil {
		return nil, err
	}
	return []Event{&TenantUserRemoved{TenantID: t.ID, UserID: userID, RemovedBy: by, RemovedAt: now.UTC()}}, nil
}

// prefixFields returns err with the fields at fault of an invalid input
// renamed under prefix, such as "admin.".
func prefixFields(err error, prefix string) error {
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	c := *e
	c.Message = prefix + e.Message
	c.Fields = make([]FieldError, len(e.Fields))
	for i, f := range e.Fields {
		c.Fields[i] = FieldError{Field: prefix + f.Field, Message: f.Message}
	}
	return &c
}

// checkMemberName trims a tenant's, partner's or user's name and checks
// that it is present, follows the rule of names (checkNameRunes) and is
// at most 200 characters (else CodeValueTooLong).
func checkMemberName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Invalid(field, "must not be empty")
	}
	if err := checkNameRunes(field, name); err != nil {
		return "", err
	}
	if err := checkLength(field, name, maxMemberNameChars); err != nil {
		return "", err
	}
	return name, nil
}

// decideAddMember validates u against the users so far and returns it
// with its name trimmed.
func decideAddMember(users map[uuid.UUID]User, u NewUser, validRole func(Role) bool, roles string) (NewUser, error) {
	name, err := checkMemberName("name", u.Name)
	if err != nil {
		return u, err
	}
	u.Name = name
	switch {
	case u.ID == uuid.Nil:
		return u, Invalid("id", "must be a UUID")
	case !validRole(u.Role):
		return u, Invalid("role", "%q is not %s", u.Role, roles)
	case u.KeyHash == "":
		return u, Invalid("key_hash", "must not be empty")
	case utf8.RuneCountInString(u.KeyHash) > MaxKeyChars:
		return u, checkLength("key_hash", u.KeyHash, MaxKeyChars)
	}
	if _, dup := users[u.ID]; dup {
		return u, Conflict("user already exists")
	}
	for _, other := range users {
		if other.KeyHash == u.KeyHash {
			return u, Conflict("key already in use")
		}
	}
	return u, nil
}

// decideRemoveMember checks that userID is an active user and not the
// last active user of role admin.
func decideRemoveMember(users map[uuid.UUID]User, userID uuid.UUID, admin Role) error {
	u, ok := users[userID]
	if !ok || u.Status != UserActive {
		return NotFound("user")
	}
	if u.Role != admin {
		return nil
	}
	for _, other := range users {
		if other.ID != userID && other.Role == admin && other.Status == UserActive {
			return nil
		}
	}
	return RuleError(CodeLastAdmin, "cannot remove the last active %s; add another first", admin)
}

func addMember(users map[uuid.UUID]User, u User) map[uuid.UUID]User {
	if users == nil {
		users = map[uuid.UUID]User{}
	}
	users[u.ID] = u
	return users
}

func removeMember(users map[uuid.UUID]User, id uuid.UUID, by Actor, at time.Time) {
	u, ok := users[id]
	if !ok {
		return
	}
	u.Status, u.RemovedBy, u.RemovedAt = UserRemoved, by, at
	users[id] = u
}

func activeUserByKeyHash(users map[uuid.UUID]User, h string) (User, bool) {
	if h == "" {
		return User{}, false
	}
	for _, u := range users {
		if u.Status == UserActive && u.KeyHash == h {
			return u, true
		}
	}
	return User{}, false
}
