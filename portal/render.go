package portal

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/internal/dberr"
	"ledger/projections"
)

// pages are the parsed templates, by page name.
type pages map[string]*template.Template

// view is what every page is rendered with.
type view struct {
	Title string
	// CSRF is the token of the page's forms.
	CSRF string
	// Message is a notice or an error of the sign-in form.
	Message string
	// Principal is who is signed in; its zero value is no one.
	Principal domain.Principal
	// Status and Code describe an error page.
	Status int
	Code   string
	// Tenant is the tenant the page is of, when it is one tenant's: the
	// layout then shows the tenant's sections the caller may open.
	Tenant uuid.UUID
	// Perms are what the caller may do on Tenant (for a partner user,
	// under its grant now): pages offer only the actions it may take.
	Perms []domain.Permission
	// Form is the page's form, when it has one that writes.
	Form *form
	// Data is the page's own.
	Data any
}

// SignedIn reports whether the page is shown to a signed-in user.
func (v view) SignedIn() bool { return v.Principal.Type != "" }

// HasTenant reports whether the page is one tenant's.
func (v view) HasTenant() bool { return v.Tenant != uuid.Nil }

// Can reports whether the caller may do perm on the page's tenant.
func (v view) Can(perm string) bool { return slices.Contains(v.Perms, domain.Permission(perm)) }

// IsTenantUser reports whether the caller is one of the tenant's users.
func (v view) IsTenantUser() bool { return v.Principal.Type == domain.ActorTenantUser }

// IsPartnerUser reports whether the caller is one of a partner's users.
func (v view) IsPartnerUser() bool { return v.Principal.Type == domain.ActorPartnerUser }

// IsPartnerAdmin reports whether the caller is a partner_admin user.
func (v view) IsPartnerAdmin() bool {
	return v.IsPartnerUser() && v.Principal.Role == domain.RolePartnerAdmin
}

// tenantView is the view of a page of tenant for c: its permissions there
// are those of grant (nil for a tenant user) now.
func (p *Portal) tenantView(c caller, tenant uuid.UUID, grant *domain.PartnerAccess, title string, data any) view {
	return view{Title: title, CSRF: c.csrf, Principal: c.principal, Tenant: tenant,
		Perms: domain.EffectivePermissions(c.principal, grant, p.now()), Data: data}
}

// parsePages parses every page of templates/: each file is a page of
// its name, rendered inside layout.html, except the layout itself and the
// partials (files named partial-*.html), which every page may use.
func parsePages() (pages, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := pages{}
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" || strings.HasPrefix(name, "partial-") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partial-*.html", file)
		if err != nil {
			return nil, fmt.Errorf("portal template %s: %w", name, err)
		}
		ps[name] = t
	}
	return ps, nil
}

// render writes page name with status. The page is rendered to a buffer
// first, so that a template failure is a 500 page, not half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	page, ok := p.pages[name]
	if !ok {
		p.logger.ErrorContext(r.Context(), "render portal page", "request_id", requestID(w), "page", name, "error", "no such template")
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	if err := page.Execute(&buf, v); err != nil {
		p.logger.ErrorContext(r.Context(), "render portal page", "request_id", requestID(w), "page", name, "error", err)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = buf.WriteTo(w) // the client went away: nothing to do
	}
}

// errorTitles name the error pages' statuses.
var errorTitles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusForbidden:             "Not permitted",
	http.StatusNotFound:              "Not found",
	http.StatusRequestTimeout:        "Request timed out",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusInternalServerError:   "Something went wrong",
	http.StatusServiceUnavailable:    "Try again shortly",
}

// renderError renders the error page of status with code, the reason
// the API gives. The 404 page is always the same, whatever was asked.
func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, status int, code string, principal *domain.Principal) {
	title, ok := errorTitles[status]
	if !ok {
		title = http.StatusText(status)
	}
	v := view{Title: title, Status: status, Code: code}
	if principal != nil {
		v.Principal = *principal
	}
	if status == http.StatusNotFound {
		v = view{Title: errorTitles[status], Status: status, Code: domain.CodeNotFound}
	}
	p.render(w, r, status, "error", v)
}

// RenderProblem renders a refusal the HTTP server answered before the
// portal saw the request (a body over the limit, a request timed out), as
// the error page of status with the API's code.
func (p *Portal) RenderProblem(w http.ResponseWriter, r *http.Request, status int, code string) {
	securityHeaders(w.Header())
	p.renderError(w, r, status, code, nil)
}

// notFound is the one 404 page: it tells nothing of what exists.
func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.renderError(w, r, http.StatusNotFound, domain.CodeNotFound, nil)
}

// fail answers err as the API's error table would: a 404 page for what
// is absent or out of scope, a 403 page with the refusal's code, a 503
// page for an outage or a read model behind; anything else is logged and
// a 500 page that tells nothing.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.failAs(w, r, err, nil)
}

func (p *Portal) failAs(w http.ResponseWriter, r *http.Request, err error, principal *domain.Principal) {
	var derr *domain.Error
	var stale *projections.StaleError
	switch {
	case errors.Is(err, domain.ErrNotFound):
		p.notFound(w, r)
	case errors.Is(err, domain.ErrForbidden) && errors.As(err, &derr):
		p.renderError(w, r, http.StatusForbidden, derr.Code, principal)
	case errors.As(err, &stale), errors.Is(err, projections.ErrLagging), dberr.Unavailable(err):
		w.Header().Set("Retry-After", "1")
		p.renderError(w, r, http.StatusServiceUnavailable, "unavailable", principal)
	case errors.Is(err, domain.ErrInvalid) && errors.As(err, &derr):
		p.renderError(w, r, http.StatusBadRequest, derr.Code, principal) // a cursor or filter edited by hand
	default:
		p.logger.ErrorContext(r.Context(), "portal request failed", "request_id", requestID(w),
			"method", r.Method, "error", err)
		p.renderError(w, r, http.StatusInternalServerError, "internal", principal)
	}
}
