package portal

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// policyOption is one way to cancel, as api.md names it.
type policyOption struct{ Value, Label string }

// cancelPolicies are the cancellation policies of api.md.
var cancelPolicies = []policyOption{
	{"end_of_term", "At the end of the current term"},
	{"immediate", "Immediately (today)"},
	{"specific_date", "On a date"},
}

// cancelData is the cancel page's.
type cancelData struct {
	Tenant   uuid.UUID
	Sub      projections.SubscriptionView
	Policies []policyOption
	Preview  *previewData
}

// cancelPage asks to confirm the cancellation of a subscription, to a
// caller who may cancel it (subscriptions.cancel on its account).
func (p *Portal) cancelPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	f.Values.Set("policy", "end_of_term")
	p.renderCancel(w, r, c, req, id, &f, http.StatusOK, nil)
}

// renderCancel renders the cancel form f of subscription id with status;
// a fresh form, or one refused because the subscription changed, holds
// its version as it stands now.
func (p *Portal) renderCancel(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, id uuid.UUID, f *form, status int, preview *previewData) {
	sub, grant, err := p.subscriptionFor(r.Context(), req, id, domain.PermSubscriptionsCancel)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	if r.Method == http.MethodGet || status == http.StatusConflict {
		f.Values.Set("version", strconv.FormatUint(sub.Version, 10))
	}
	data := cancelData{Tenant: req.TenantID, Sub: sub, Policies: cancelPolicies, Preview: preview}
	v := p.tenantView(c, req.TenantID, grant, "Cancel subscription", data)
	v.Form = f
	p.render(w, r, status, "subscription-cancel", v)
}

// cancelSubscription previews (action=preview) or confirms a
// cancellation as POST …/cancel[?preview=true] does, with the version the
// form was shown at as its If-Match.
func (p *Portal) cancelSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	var bad faultList
	cmd := commands.CancelSubscription{Policy: f.Value("policy"), Reason: strings.TrimSpace(f.Value("reason")),
		WithdrawScheduled: f.Value("withdraw_scheduled") == "true"}
	if cmd.Policy == "specific_date" {
		cmd.Date = parseFormDate(f.Values, "date", &bad)
	}
	again := func(status int) { p.renderCancel(w, r, c, req, id, &f, status, nil) }
	creq, verr := p.versionedRequest(w, r, c, req.TenantID, &f)
	if verr != nil {
		bad.add(verr)
	}
	if bad.err() != nil {
		f.refused(bad.err())
		again(http.StatusUnprocessableEntity)
		return
	}
	if f.Value("action") == "preview" {
		pv, err := p.cmds.PreviewCancellation(r.Context(), creq, id, cmd)
		p.showPreview(w, r, c, &f, pv, err, domain.Date{}, again, func(preview *previewData) {
			preview.Credit = true
			p.renderCancel(w, r, c, req, id, &f, http.StatusOK, preview)
		})
		return
	}
	p.act(w, r, c, &f, subscriptionPath(req.TenantID, id), again, func(ctx context.Context) (eventstore.Position, error) {
		out, err := p.cmds.CancelSubscription(ctx, creq, id, cmd)
		return out.Position, err
	})
}

// withdrawData is the page confirming the withdrawal of a scheduled
// change.
type withdrawData struct {
	Tenant uuid.UUID
	Sub    projections.SubscriptionView
	Change projections.ScheduledChangeView
}

// withdrawPage asks to confirm the withdrawal of a scheduled change, to a
// caller who may amend the subscription; a change the subscription does
// not list as scheduled is the 404 page.
func (p *Portal) withdrawPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	p.renderWithdraw(w, r, c, req, id, &f, http.StatusOK)
}

// renderWithdraw renders the withdrawal form f with status.
func (p *Portal) renderWithdraw(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, id uuid.UUID, f *form, status int) {
	change, err := uuid.Parse(r.PathValue("change"))
	if err != nil {
		p.notFound(w, r)
		return
	}
	sub, grant, err := p.subscriptionFor(r.Context(), req, id, domain.PermSubscriptionsAmend)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data := withdrawData{Tenant: req.TenantID, Sub: sub}
	found := false
	for _, ch := range sub.ScheduledChanges {
		if ch.ID == change {
			data.Change, found = ch, true
		}
	}
	if !found {
		p.notFound(w, r)
		return
	}
	if r.Method == http.MethodGet || status == http.StatusConflict {
		f.Values.Set("version", strconv.FormatUint(sub.Version, 10))
	}
	v := p.tenantView(c, req.TenantID, grant, "Withdraw a scheduled change", data)
	v.Form = f
	p.render(w, r, status, "subscription-withdraw", v)
}

// withdrawScheduledChange withdraws a scheduled change as DELETE
// …/scheduled-changes/{id} does, with the version the confirmation was
// shown at as its If-Match.
func (p *Portal) withdrawScheduledChange(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	change, err := uuid.Parse(r.PathValue("change"))
	if err != nil {
		p.notFound(w, r)
		return
	}
	f := postedForm(r)
	again := func(status int) { p.renderWithdraw(w, r, c, req, id, &f, status) }
	creq, verr := p.versionedRequest(w, r, c, req.TenantID, &f)
	if verr != nil {
		f.refused(verr)
		again(http.StatusUnprocessableEntity)
		return
	}
	p.act(w, r, c, &f, subscriptionPath(req.TenantID, id), again, func(ctx context.Context) (eventstore.Position, error) {
		out, err := p.cmds.WithdrawScheduledChange(ctx, creq, id, change)
		return out.Position, err
	})
}
