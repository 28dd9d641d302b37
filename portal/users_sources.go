package portal

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// partnerUserDir is the users of the path's partner, for a partner_admin
// of it (domain.AuthorizePartnerUsers, as the API's POST and DELETE
// /v1/partners/{p}/users decide; a POST leaves it to the command): read
// from the partner's stream as the access review reads them.
func (p *Portal) partnerUserDir(w http.ResponseWriter, r *http.Request, c caller, authorize bool) (userDir, bool) {
	partner, err := uuid.Parse(r.PathValue("partner"))
	if err != nil {
		p.notFound(w, r)
		return userDir{}, false
	}
	if authorize {
		if err := domain.AuthorizePartnerUsers(c.principal, partner); err != nil {
			p.failAs(w, r, err, &c.principal)
			return userDir{}, false
		}
	}
	return userDir{base: Prefix + "/partners/" + partner.String() + "/users",
		roles: []domain.Role{domain.RolePartnerAdmin, domain.RolePartnerOperator, domain.RolePartnerViewer},
		list: func(ctx context.Context) ([]userRow, error) {
			users, err := p.cmds.PartnerUsers(ctx, []uuid.UUID{partner})
			if err != nil {
				return nil, err
			}
			return userRows(users[partner]), nil
		},
		add: func(ctx context.Context, req commands.Request, cmd commands.AddUser) (commands.UserAdded, error) {
			return p.cmds.AddPartnerUser(ctx, req, partner, cmd)
		},
		remove: func(ctx context.Context, req commands.Request, id uuid.UUID) (eventstore.Position, error) {
			out, err := p.cmds.RemovePartnerUser(ctx, req, partner, id)
			return out.Position, err
		}}, true
}

// tenantUsers are the users of tenant, removed ones included, in the
// order they were added, as the tenant's stream holds them now (the API
// has no list of a tenant's users; the access review reads partners'
// users the same way). Its caller has authorized users.manage.
func (p *Portal) tenantUsers(ctx context.Context, tenant uuid.UUID) ([]userRow, error) {
	users, err := p.cmds.TenantUsers(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return userRows(users), nil
}

// userRows are the rows of the users page of users.
func userRows(users []domain.User) []userRow {
	rows := make([]userRow, len(users))
	for i, u := range users {
		rows[i] = userRow{ID: u.ID, Name: u.Name, Role: u.Role, Status: u.Status, AddedAt: u.AddedAt}
	}
	return rows
}
