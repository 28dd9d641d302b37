package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// userRoutes registers the pages of a tenant's users and of a partner's
// users: the list, adding one (its key shown once), and removing one
// after a confirmation.
func (p *Portal) userRoutes(mux *http.ServeMux) {
	for _, base := range []string{Prefix + "/tenants/{tenant}/users", Prefix + "/partners/{partner}/users"} {
		mux.HandleFunc("GET "+base, p.signedIn(p.usersPage))
		mux.HandleFunc("POST "+base, p.signedIn(p.addUser))
		mux.HandleFunc("GET "+base+"/{id}/remove", p.signedIn(p.removeUserPage))
		mux.HandleFunc("POST "+base+"/{id}/remove", p.signedIn(p.removeUser))
	}
}

// userRow is one user as the users page shows it.
type userRow struct {
	ID      uuid.UUID
	Name    string
	Role    domain.Role
	Status  domain.UserStatus
	AddedAt time.Time
}

// userDir is the users of one tenant or one partner, as a request of the
// caller's may see and change them.
type userDir struct {
	// base is the path of the users page.
	base string
	// roles are those a new user may have.
	roles []domain.Role
	// list reads the users, removed ones included.
	list func(ctx context.Context) ([]userRow, error)
	// add and remove run the commands of POST and DELETE …/users.
	add    func(ctx context.Context, req commands.Request, cmd commands.AddUser) (commands.UserAdded, error)
	remove func(ctx context.Context, req commands.Request, id uuid.UUID) (eventstore.Position, error)
	// tenant is the tenant of a tenant's users, uuid.Nil for a partner's.
	tenant uuid.UUID
	grant  *domain.PartnerAccess
}

// usersData is the data of the users pages.
type usersData struct {
	Base  string
	Roles []domain.Role
	Users []userRow
	// Self is the caller's user id, marked in the list.
	Self uuid.UUID
	// User is the user a confirmation is about, or the user just added.
	User userRow
	// Key is the API key of the user just added, shown this once.
	Key string
}

// userDirOf is the users the path names: a tenant's (users.manage,
// authorized as the API's POST /v1/tenants/{t}/users is when authorize is
// set; a POST leaves it to the command) or a partner's (a partner_admin of
// it, domain.AuthorizePartnerUsers as the API's commands decide).
func (p *Portal) userDirOf(w http.ResponseWriter, r *http.Request, c caller, authorize bool) (userDir, bool) {
	if r.PathValue("partner") != "" {
		return p.partnerUserDir(w, r, c, authorize)
	}
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return userDir{}, false
	}
	d := userDir{base: Prefix + "/tenants/" + req.TenantID.String() + "/users", tenant: req.TenantID,
		roles: []domain.Role{domain.RoleTenantAdmin, domain.RoleFinance, domain.RoleAuditor},
		list:  func(ctx context.Context) ([]userRow, error) { return p.tenantUsers(ctx, req.TenantID) },
		add:   p.cmds.AddTenantUser,
		remove: func(ctx context.Context, req commands.Request, id uuid.UUID) (eventstore.Position, error) {
			out, err := p.cmds.RemoveTenantUser(ctx, req, id)
			return out.Position, err
		}}
	if !authorize {
		return d, true
	}
	resource := "users"
	if id := r.PathValue("id"); id != "" {
		resource += "/" + id
	}
	var err error
	if d.grant, err = p.cmds.AuthorizeRead(r.Context(), req, domain.PermUsersManage, resource); err != nil {
		p.refuse(w, r, c, err)
		return userDir{}, false
	}
	return d, true
}

// pageView is the view of a page of d's.
func (d userDir) pageView(p *Portal, c caller, title string, data usersData) view {
	data.Base, data.Roles, data.Self = d.base, d.roles, c.principal.ID
	if d.tenant == uuid.Nil {
		return view{Title: title, CSRF: c.csrf, Principal: c.principal, Data: data}
	}
	return p.tenantView(c, d.tenant, d.grant, title, data)
}

// usersPage lists the users with a form to add one.
func (p *Portal) usersPage(w http.ResponseWriter, r *http.Request, c caller) {
	d, ok := p.userDirOf(w, r, c, true)
	if !ok {
		return
	}
	f := newForm()
	p.renderUsers(w, r, c, d, http.StatusOK, &f)
}

// renderUsers renders the users page of d with the add form f.
func (p *Portal) renderUsers(w http.ResponseWriter, r *http.Request, c caller, d userDir, status int, f *form) {
	users, err := d.list(r.Context())
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	v := d.pageView(p, c, "Users", usersData{Users: users})
	v.Form = f
	p.render(w, r, status, "users", v)
}

// addUser adds a user (POST …/users of the API) and answers with the new
// key, this once: the page is the POST's own answer, 201, never a
// redirect to a page that could show the key again, and it is not
// cached (Cache-Control: no-store on every portal response).
func (p *Portal) addUser(w http.ResponseWriter, r *http.Request, c caller) {
	d, ok := p.userDirOf(w, r, c, false)
	if !ok {
		return
	}
	f := postedForm(r)
	cmd := commands.AddUser{Name: f.Value("name"), Role: domain.Role(f.Value("role"))}
	out, err := d.add(r.Context(), p.commandRequest(w, r, c, d.tenant), cmd)
	if err != nil {
		again := func(status int) { p.renderUsers(w, r, c, d, status, &f) }
		p.act(w, r, c, &f, "", again, func(context.Context) (eventstore.Position, error) { return 0, err })
		return
	}
	p.waitVisible(r.Context(), w, out.Position)
	data := usersData{Key: out.Key}
	if out.State != nil {
		data.User = userRow{ID: out.State.ID, Name: out.State.Name, Role: out.State.Role, Status: out.State.Status}
	}
	p.render(w, r, http.StatusCreated, "user-added", d.pageView(p, c, "User added", data))
}

// removeUserPage asks to confirm a user's removal.
func (p *Portal) removeUserPage(w http.ResponseWriter, r *http.Request, c caller) {
	d, ok := p.userDirOf(w, r, c, true)
	if !ok {
		return
	}
	f := newForm()
	p.renderRemoveUser(w, r, c, d, http.StatusOK, &f)
}

// renderRemoveUser renders the confirmation of the path's user's removal;
// a user that is not an active one of d is the 404 page.
func (p *Portal) renderRemoveUser(w http.ResponseWriter, r *http.Request, c caller, d userDir, status int, f *form) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		p.notFound(w, r)
		return
	}
	users, err := d.list(r.Context())
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	for _, u := range users {
		if u.ID == id && u.Status == domain.UserActive {
			v := d.pageView(p, c, "Remove user", usersData{User: u})
			v.Form = f
			p.render(w, r, status, "user-remove", v)
			return
		}
	}
	p.notFound(w, r)
}

// removeUser removes the path's user (DELETE …/users/{u} of the API): its
// key stops working at once. Back to the users page.
func (p *Portal) removeUser(w http.ResponseWriter, r *http.Request, c caller) {
	d, ok := p.userDirOf(w, r, c, false)
	if !ok {
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		p.notFound(w, r)
		return
	}
	f := postedForm(r)
	again := func(status int) { p.renderRemoveUser(w, r, c, d, status, &f) }
	p.act(w, r, c, &f, d.base, again, func(ctx context.Context) (eventstore.Position, error) {
		return d.remove(ctx, p.commandRequest(w, r, c, d.tenant), id)
	})
}
