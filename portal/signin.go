package portal

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ledger/domain"
)

// signInPage shows the sign-in form, with a fresh CSRF token in the form
// and in the sign-in cookie.
func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request) {
	p.renderSignIn(w, r, http.StatusOK, "")
}

// signIn authenticates the pasted key through the commands layer, as the
// API authenticates a key, and on success starts a session: a new
// random id in the session cookie, the key sealed in the sessions table.
// The key is never echoed back, logged or put in a URL.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cookie, err := r.Cookie(signInCookie)
	if err != nil || !tokenMatches(r.PostFormValue(csrfField), cookie.Value) {
		p.renderError(w, r, http.StatusForbidden, "csrf_token_invalid", nil)
		return
	}
	key := strings.TrimSpace(r.PostFormValue(keyField))
	if key == "" {
		p.renderSignIn(w, r, http.StatusUnprocessableEntity, "Paste an API key to sign in.")
		return
	}
	if _, err := p.cmds.Authenticate(ctx, key); err != nil {
		if errors.Is(err, domain.ErrUnauthenticated) {
			p.renderSignIn(w, r, http.StatusUnauthorized, "That API key was not accepted.")
			return
		}
		p.fail(w, r, err)
		return
	}
	now := p.now()
	if err := p.sessions.sweep(ctx, now); err != nil {
		p.logger.WarnContext(ctx, "sweep portal sessions", "request_id", requestID(w), "error", err)
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		if hash := hashID(old.Value); hash != nil {
			if err := p.sessions.delete(ctx, hash); err != nil {
				p.logger.WarnContext(ctx, "end the previous portal session", "request_id", requestID(w), "error", err)
			}
		}
	}
	id, err := p.sessions.create(ctx, p.seal, key, now)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, id)
	clearCookie(w, r, signInCookie)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// signOut deletes the session and returns to the sign-in page.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request, c caller) {
	p.endSession(r.Context(), w, r, c.session)
	http.Redirect(w, r, Prefix+"/sign-in", http.StatusSeeOther)
}

// renderSignIn renders the sign-in form with status and message (none
// when empty), and a new sign-in CSRF token. The key field is always
// empty.
func (p *Portal) renderSignIn(w http.ResponseWriter, r *http.Request, status int, message string) {
	token := randomToken()
	setCookie(w, r, signInCookie, token)
	p.render(w, r, status, "sign-in", view{Title: "Sign in", CSRF: token, Message: message})
}

// RefuseSignIn answers a sign-in refused by the server's rate limit of
// unknown keys per client address: the sign-in form again, 429, saying
// when to try again, with Retry-After. The key posted was not looked up.
func (p *Portal) RefuseSignIn(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	securityHeaders(w.Header())
	seconds := int(math.Ceil(retryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	p.renderSignIn(w, r, http.StatusTooManyRequests,
		fmt.Sprintf("Too many keys were not accepted from your address. Try again in %d seconds.", seconds))
}
