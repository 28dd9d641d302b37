package domain

import "github.com/google/uuid"

// ActorType says what kind of principal acted.
type ActorType string

// The kinds of actor that api.md names.
const (
	ActorTenantUser  ActorType = "tenant_user"
	ActorPartnerUser ActorType = "partner_user"
	ActorOperator    ActorType = "operator"
	ActorSystem      ActorType = "system"
)

// Role is a user's role: a tenant user's or a partner user's.
type Role string

// The roles of api.md.
const (
	RoleTenantAdmin     Role = "tenant_admin"
	RoleFinance         Role = "finance"
	RoleAuditor         Role = "auditor"
	RolePartnerAdmin    Role = "partner_admin"
	RolePartnerOperator Role = "partner_operator"
	RolePartnerViewer   Role = "partner_viewer"
)

// Principal is who issues a command or a query: a tenant user of TenantID,
// a partner user of PartnerID, the platform operator, or the system.
type Principal struct {
	Type      ActorType `json:"type"`
	ID        uuid.UUID `json:"id"`
	TenantID  uuid.UUID `json:"tenant_id,omitzero"`
	PartnerID uuid.UUID `json:"partner_id,omitzero"`
	Role      Role      `json:"role,omitempty"`
}

// Actor is the record of who acted, as events and representations carry
// it.
type Actor struct {
	Type      ActorType `json:"type"`
	ID        uuid.UUID `json:"id,omitzero"`
	PartnerID uuid.UUID `json:"partner_id,omitzero"`
}

// Actor returns the record of p as the actor of an event.
func (p Principal) Actor() Actor {
	return Actor{Type: p.Type, ID: p.ID, PartnerID: p.PartnerID}
}
