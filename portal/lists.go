package portal

import (
	"context"
	"net/http"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// listed is one page of a tenant's list as the caller may read it: the
// request it was read for, the grant the read was authorized under (nil
// for a tenant user), the page asked for, and the page's items.
type listed[T any] struct {
	req   commands.Request
	grant *domain.PartnerAccess
	page  projections.Page
	items []T
	next  string
}

// listQuery reads one page of a list in one snapshot of the read models,
// for req under grant.
type listQuery[T any] func(ctx context.Context, db projections.Querier, req commands.Request,
	grant *domain.PartnerAccess, page projections.Page) (projections.List[T], error)

// readList reads one page of the path's tenant's list as the API's list
// routes do: ?limit= and ?cursor= (a bad one is the 400 page), perm
// authorized on resource (a refusal is its page), then query. On false
// the answer has been written.
func readList[T any](p *Portal, w http.ResponseWriter, r *http.Request, c caller,
	perm domain.Permission, resource string, query listQuery[T]) (listed[T], bool) {
	ctx := r.Context()
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return listed[T]{}, false
	}
	page, err := pageOf(r)
	if err != nil {
		p.failAs(w, r, err, &c.principal)
		return listed[T]{}, false
	}
	grant, err := p.cmds.AuthorizeRead(ctx, req, perm, resource)
	if err != nil {
		p.refuse(w, r, c, err)
		return listed[T]{}, false
	}
	list, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[T], error) {
		return query(ctx, db, req, grant, page)
	})
	if err != nil {
		p.refuse(w, r, c, err)
		return listed[T]{}, false
	}
	out := listed[T]{req: req, grant: grant, page: page, items: list.Items}
	if list.NextCursor != nil {
		out.next = *list.NextCursor
	}
	return out, true
}
