package portal

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"ledger/domain"
	"ledger/internal/dberr"
	"ledger/projections"
)

// pageNames are the pages, each a template of templates/ rendered inside
// layout.html.
var pageNames = []string{"sign-in", "home", "subscriptions", "subscription", "error"}

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
	// Data is the page's own.
	Data any
}

// SignedIn reports whether the page is shown to a signed-in user.
func (v view) SignedIn() bool { return v.Principal.Type != "" }

func parsePages() (pages, error) {
	ps := pages{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
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
	if err := p.pages[name].Execute(&buf, v); err != nil {
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
	http.StatusBadRequest:          "Bad request",
	http.StatusForbidden:           "Not permitted",
	http.StatusNotFound:            "Not found",
	http.StatusInternalServerError: "Something went wrong",
	http.StatusServiceUnavailable:  "Try again shortly",
}

// renderError renders the error page of status with code, the reason
// the API gives. The 404 page is always the same, whatever was asked.
func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, status int, code string, principal *domain.Principal) {
	v := view{Title: errorTitles[status], Status: status, Code: code}
	if principal != nil {
		v.Principal = *principal
	}
	if status == http.StatusNotFound {
		v = view{Title: errorTitles[status], Status: status, Code: domain.CodeNotFound}
	}
	p.render(w, r, status, "error", v)
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
