// Package portal is the partner portal: server-rendered HTML pages over
// the same command and query layers as the API, for people who sign in
// by pasting an API key once (docs/portal.md). The HTTP server mounts it
// at /portal/.
package portal

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/audit"
	"ledger/commands"
	"ledger/projections"
)

// Prefix is the path the portal is served under.
const Prefix = "/portal"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*.css static/*.js static/LICENSE.*
var staticFS embed.FS

// Config is what the portal uses.
type Config struct {
	// Pool holds the read models and the sessions table.
	Pool *pgxpool.Pool
	// Commands authenticates keys and authorizes every read, as for the
	// API.
	Commands *commands.Service
	// SessionKey seals the API keys of sessions (AES-256-GCM): 32 bytes,
	// from LoadSessionKey.
	SessionKey []byte
	// Logger receives failures; nil discards them. Keys and session ids
	// are never logged.
	Logger *slog.Logger
	// Now is the clock of sessions and reads; time.Now when nil.
	Now func() time.Time
	// Waiter is how a page after a form waits for the form's write to
	// reach the read models: the process's shared one (the HTTP server's);
	// a new one when nil.
	Waiter *projections.Waiter
	// Audit holds the tenants' Merkle trees and signed checkpoints, for
	// the auditor's tamper-evidence page; without it that page says the
	// checkpoints are not served here.
	Audit *audit.Store
}

// Portal serves the portal's pages. It is an http.Handler.
type Portal struct {
	cmds     *commands.Service
	pool     *pgxpool.Pool
	sessions sessions
	seal     *sealer
	logger   *slog.Logger
	now      func() time.Time
	pages    pages
	waiter   *projections.Waiter
	audit    *audit.Store
	mux      *http.ServeMux
}

// New returns the portal, having created its sessions table when
// missing.
func New(ctx context.Context, c Config) (*Portal, error) {
	if c.Pool == nil || c.Commands == nil {
		return nil, errors.New("portal: a pool and the commands are required")
	}
	seal, err := newSealer(c.SessionKey)
	if err != nil {
		return nil, err
	}
	tpl, err := parsePages()
	if err != nil {
		return nil, err
	}
	p := &Portal{cmds: c.Commands, pool: c.Pool, sessions: sessions{c.Pool}, seal: seal,
		logger: c.Logger, now: c.Now, pages: tpl, waiter: c.Waiter, audit: c.Audit}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.waiter == nil {
		p.waiter = projections.NewWaiter(c.Pool, c.Commands.Head)
	}
	if err := p.sessions.setup(ctx); err != nil {
		return nil, err
	}
	p.mux = p.routes()
	return p, nil
}

// routes are the portal's pages; anything else is the 404 page.
func (p *Portal) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"/static/{file}", p.static)
	mux.HandleFunc("GET "+Prefix+"/sign-in", p.signInPage)
	mux.HandleFunc("POST "+Prefix+"/sign-in", p.signIn)
	mux.HandleFunc("POST "+Prefix+"/sign-out", p.signedIn(p.signOut))
	mux.HandleFunc("GET "+Prefix+"/{$}", p.signedIn(p.home))
	mux.HandleFunc("GET "+Prefix+"/tenants/{tenant}/subscriptions", p.signedIn(p.subscriptions))
	mux.HandleFunc("GET "+Prefix+"/tenants/{tenant}/subscriptions/{id}", p.signedIn(p.subscription))
	p.subscriptionFormRoutes(mux)
	p.accountRoutes(mux)
	p.partnerRoutes(mux)
	p.financeRoutes(mux)
	p.auditRoutes(mux)
	mux.HandleFunc(Prefix+"/", p.notFound)
	return mux
}

// static serves one of the vendored files of static/ (no listing).
func (p *Portal) static(w http.ResponseWriter, r *http.Request) {
	name := "static/" + r.PathValue("file")
	if _, err := fs.Stat(staticFS, name); err != nil {
		p.notFound(w, r)
		return
	}
	http.ServeFileFS(w, r, staticFS, name)
}

// ServeHTTP serves one request, with the portal's security headers on
// every response.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	p.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the portal's own scripts, styles and
// forms only: no inline script or style, no frames, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every portal response carries.
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
