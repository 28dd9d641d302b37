package portal

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// idempotencyField is the hidden field of every form that writes: a key
// drawn when the form is rendered, sent as the command's Idempotency-Key,
// so that a form submitted twice (a double click, a retry after a lost
// response) acts once.
const idempotencyField = "idempotency_key"

// writeVisibleWait bounds how long the page after a form waits for the
// form's write to reach the read models before it is shown anyway.
const writeVisibleWait = 5 * time.Second

// form is a form as a page renders it: the values to show (what the user
// typed, on a refusal), the refusal's message and code, the message of
// each field at fault, by the field's name, and the idempotency key of
// its next submission. The names of a form's fields are the API's JSON
// paths ("items[0].quantity"), so that a refusal's field errors mark the
// fields as they are.
type form struct {
	Values         url.Values
	Code           string
	Message        string
	Fields         map[string]string
	IdempotencyKey string
}

// newForm is an empty form with a fresh idempotency key.
func newForm() form {
	return form{Values: url.Values{}, Fields: map[string]string{}, IdempotencyKey: randomToken()}
}

// postedForm is the form r submitted, its values kept to show again, with
// a fresh idempotency key for the next submission.
func postedForm(r *http.Request) form {
	f := newForm()
	if err := r.ParseForm(); err == nil {
		f.Values = r.PostForm
	}
	return f
}

// Value is the value of the field name to show.
func (f form) Value(name string) string { return f.Values.Get(name) }

// Error is the message of the field name at fault, or "".
func (f form) Error(name string) string { return f.Fields[name] }

// refused records on f the refusal err of its submission: its message,
// its code, and the message of each field it names.
func (f *form) refused(err *domain.Error) {
	f.Code, f.Message = err.Code, err.Message
	for _, fe := range err.Fields {
		f.Fields[fe.Field] = fe.Message
	}
}

// commandRequest is the commands.Request of a form of the caller's on
// tenant: the session's key, authenticated again by the command on the
// states it decides on as the API's commands are, the server's request
// id, and the form's idempotency key. The command's events record the
// same actor and metadata as the API's.
func (p *Portal) commandRequest(w http.ResponseWriter, r *http.Request, c caller, tenant uuid.UUID) commands.Request {
	return commands.Request{Key: c.key, Principal: c.principal, TenantID: tenant, RequestID: requestID(w),
		IdempotencyKey: r.PostFormValue(idempotencyField)}
}

// act runs a form's command and answers the browser:
//
//   - done: after the read models include the command's position (at most
//     writeVisibleWait), 303 to next, so that the next page shows the write
//     and a reload does not post again;
//   - the input refused (a malformed field or a business rule): again,
//     with 422 and f carrying the refusal, so the page shows the user's
//     input with the fields at fault marked;
//   - a conflict (the state changed since the form was shown): again with
//     409 and the refusal's message;
//   - anything else: the error page the API's refusal maps to.
func (p *Portal) act(w http.ResponseWriter, r *http.Request, c caller, f *form, next string,
	again func(status int), run func(ctx context.Context) (eventstore.Position, error)) {
	p.actTo(w, r, c, f, again, func(ctx context.Context) (eventstore.Position, string, error) {
		pos, err := run(ctx)
		return pos, next, err
	})
}

// actTo is act for a command whose next page is known only once it has
// run (the id it created, the count it recorded): run returns it.
func (p *Portal) actTo(w http.ResponseWriter, r *http.Request, c caller, f *form, again func(status int),
	run func(ctx context.Context) (eventstore.Position, string, error)) {
	ctx := r.Context()
	pos, next, err := run(ctx)
	if err == nil {
		p.waitVisible(ctx, w, pos)
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if status, ok := formRefusal(f, err); ok {
		again(status)
		return
	}
	p.refuse(w, r, c, err)
}

// formRefusal records on f a refusal that a form answers itself, and
// gives its status: 422 for input refused (a malformed field or a
// business rule), 409 for a conflict (the state changed since the form was
// shown). Any other error is not the form's.
func formRefusal(f *form, err error) (int, bool) {
	var derr *domain.Error
	if !errors.As(err, &derr) {
		return 0, false
	}
	switch {
	case errors.Is(err, domain.ErrInvalid) || errors.Is(err, domain.ErrRule):
		f.refused(derr)
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrPrecondition):
		f.refused(derr)
		return http.StatusConflict, true
	}
	return 0, false
}

// waitVisible waits until the read models include pos, at most
// writeVisibleWait; a page shown before that may not show the write yet,
// which is logged, not refused: the write is done.
func (p *Portal) waitVisible(ctx context.Context, w http.ResponseWriter, pos eventstore.Position) {
	if pos == 0 {
		return
	}
	if err := p.waiter.Wait(ctx, pos, writeVisibleWait); err != nil {
		p.logger.WarnContext(ctx, "portal write not yet visible", "request_id", requestID(w), "position", uint64(pos), "error", err)
	}
}

// fieldID is the HTML id of the control of the form field name: its
// letters and digits, every other rune a hyphen ("items[0].quantity" is
// "f-items-0--quantity").
func fieldID(name string) string {
	return "f-" + strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '-'
	}, name)
}

// fieldMessage is one field's error, for the field-error template.
type fieldMessage struct{ Name, Msg string }

// fieldErr is the error of field name on f, for the field-error template.
func fieldErr(f *form, name string) fieldMessage {
	if f == nil {
		return fieldMessage{Name: name}
	}
	return fieldMessage{Name: name, Msg: f.Error(name)}
}

// invalidAttrs are the attributes of a control whose field is at fault on
// f: aria-invalid, and aria-describedby naming its message; none when the
// field is fine. The field's name is escaped into the id, so the
// attributes are safe to insert as they are.
func invalidAttrs(f *form, name string) template.HTMLAttr {
	if f == nil || f.Error(name) == "" {
		return ""
	}
	return template.HTMLAttr(` aria-invalid="true" aria-describedby="` + fieldID(name) + `-error"`)
}
