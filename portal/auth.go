package portal

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"

	"ledger/domain"
)

// Cookies of the portal, both HttpOnly, SameSite=Strict and scoped to
// /portal.
const (
	// sessionCookie holds the session id.
	sessionCookie = "ledger_portal_session"
	// signInCookie holds the CSRF token of the sign-in form, before any
	// session exists (a double-submit token: a form posted from another
	// site carries no SameSite=Strict cookie).
	signInCookie = "ledger_portal_signin"
	// csrfField is the hidden field of every form that holds its token.
	csrfField = "csrf_token"
	// keyField is the sign-in form's field of the API key.
	keyField = "api_key"
)

// caller is a signed-in request: the session and the principal its key
// resolves to now.
type caller struct {
	session   session
	principal domain.Principal
	csrf      string
	// key is the session's API key, opened for this request only: the
	// portal's commands present it as the API's do, so that a command
	// authenticates its caller on the states it decides on. Never
	// rendered or logged.
	key string
}

// signedIn runs h for a request of a live session whose key still
// authenticates, checked through the commands layer on every request as
// the API checks a key: a revoked key or removed user ends the session
// here. A POST must carry the session's CSRF token. Anyone else gets the
// sign-in page.
func (p *Portal) signedIn(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		cookie, err := r.Cookie(sessionCookie)
		if err != nil {
			p.renderSignIn(w, r, http.StatusUnauthorized, "")
			return
		}
		s, err := p.sessions.touch(ctx, cookie.Value, p.now())
		if errors.Is(err, errNoSession) {
			p.sessionEnded(w, r)
			return
		}
		if err != nil {
			p.fail(w, r, err)
			return
		}
		c := caller{session: s, csrf: base64.RawURLEncoding.EncodeToString(s.csrf)}
		if r.Method == http.MethodPost && !tokenMatches(r.PostFormValue(csrfField), c.csrf) {
			p.renderError(w, r, http.StatusForbidden, "csrf_token_invalid", nil)
			return
		}
		c.principal, c.key, err = p.authenticate(ctx, s)
		if errors.Is(err, domain.ErrUnauthenticated) {
			p.endSession(ctx, w, r, s)
			p.sessionEnded(w, r)
			return
		}
		if err != nil {
			p.fail(w, r, err)
			return
		}
		h(w, r, c)
	}
}

// authenticate opens the session's key and authenticates it as the API
// authenticates a read's key; it returns the principal and the key.
func (p *Portal) authenticate(ctx context.Context, s session) (domain.Principal, string, error) {
	key, err := p.seal.open(s.sealedKey, s.idHash)
	if err != nil {
		return domain.Principal{}, "", domain.Unauthenticated() // another server key: sign in again
	}
	principal, err := p.cmds.Authenticate(ctx, string(key))
	return principal, string(key), err
}

// endSession deletes s and clears the browser's cookie.
func (p *Portal) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s session) {
	if err := p.sessions.delete(ctx, s.idHash); err != nil {
		p.logger.ErrorContext(ctx, "end portal session", "request_id", requestID(w), "error", err)
	}
	clearCookie(w, r, sessionCookie)
}

// sessionEnded answers a request whose session has ended (or never
// was): the sign-in page, saying so, and no session cookie.
func (p *Portal) sessionEnded(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, r, sessionCookie)
	p.renderSignIn(w, r, http.StatusUnauthorized, "Your session has ended. Sign in again.")
}

// tokenMatches compares a posted CSRF token with the expected one in
// constant time.
func tokenMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie sets one of the portal's cookies: HttpOnly, SameSite=Strict,
// Path=/portal, Secure when the request came over TLS; a session cookie
// of the browser (the server ends the session on its own clock).
func setCookie(w http.ResponseWriter, r *http.Request, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// clearCookie deletes one of the portal's cookies from the browser.
func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// requestID is the server's id of the request, as the HTTP server's
// middleware set it on the response (Ledger-Request-ID), for the audit
// log and log lines.
func requestID(w http.ResponseWriter) string {
	return w.Header().Get("Ledger-Request-ID")
}
