package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// amendAddRows is how many rows to add an item the amend form offers.
const amendAddRows = 2

// maxFormRows bounds the item rows a posted form is read for.
const maxFormRows = domain.MaxItems

// currentRow is one item in effect on the amend form, and the names of
// its fields.
type currentRow struct {
	Item                      projections.ItemView
	ID, Was, Quantity, Remove string
}

// amendData is the amend page's.
type amendData struct {
	Tenant   uuid.UUID
	Sub      projections.SubscriptionView
	Current  []currentRow
	Adds     []itemRow
	Charges  []chargeOption
	Override bool
	Preview  *previewData
}

// previewData is what a change would do, as the API's ?preview=true
// answers: the subscription as it would stand on On (the change's date,
// or today when that is past), and the proration of invoiced periods.
type previewData struct {
	On        domain.Date
	Sub       projections.SubscriptionView
	Proration projections.ProrationView
	// Credit is true for a cancellation, whose proration is a credit.
	Credit bool
}

// ProrationCaption is the caption of the preview's proration table.
func (d previewData) ProrationCaption() string {
	if d.Credit {
		return "Credit: what the cancellation adds to periods already invoiced"
	}
	return "Proration: what the change adds to periods already invoiced"
}

// ProrationTotal names the preview's proration total.
func (d previewData) ProrationTotal() string {
	if d.Credit {
		return "Credit total"
	}
	return "Proration total"
}

// subscriptionFor reads subscription id of req's tenant for a form that
// exercises perm on it: authorized on its account as the command will be
// (out of scope is not found), then read as GET …/subscriptions/{s}.
func (p *Portal) subscriptionFor(ctx context.Context, req commands.Request, id uuid.UUID, perm domain.Permission) (projections.SubscriptionView, *domain.PartnerAccess, error) {
	grant, err := p.cmds.AuthorizeSubscriptionRead(ctx, req, id, perm)
	if err != nil {
		return projections.SubscriptionView{}, nil, err
	}
	sub, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.SubscriptionView, error) {
		return projections.GetSubscription(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), id, p.today())
	})
	return sub, grant, err
}

// subscriptionPath is the portal's page of subscription id of tenant.
func subscriptionPath(tenant, id uuid.UUID) string {
	return Prefix + "/tenants/" + tenant.String() + "/subscriptions/" + id.String()
}

// currentRows are the rows of sub's items in effect (not removed).
func currentRows(sub projections.SubscriptionView) []currentRow {
	var rows []currentRow
	for _, it := range sub.Items {
		if !it.EffectiveTo.IsZero() {
			continue
		}
		k := fmt.Sprintf("items[%d]", len(rows))
		rows = append(rows, currentRow{Item: it, ID: k + ".id", Was: k + ".was", Quantity: k + ".quantity", Remove: k + ".remove"})
	}
	return rows
}

// resetCurrent sets f's values of the rows of sub's items and its
// version to those of sub, as the form shows them first.
func resetCurrent(f *form, sub projections.SubscriptionView) {
	for i := 0; f.Values.Has(fmt.Sprintf("items[%d].id", i)); i++ {
		for _, leaf := range []string{"id", "was", "quantity", "remove"} {
			f.Values.Del(fmt.Sprintf("items[%d].%s", i, leaf))
		}
	}
	for _, row := range currentRows(sub) {
		q := strconv.Itoa(row.Item.Quantity)
		f.Values.Set(row.ID, row.Item.ID.String())
		f.Values.Set(row.Was, q)
		f.Values.Set(row.Quantity, q)
	}
	f.Values.Set("version", strconv.FormatUint(sub.Version, 10))
}

// amendPage shows the form to amend a subscription, with its items in
// effect, to a caller who may amend it (subscriptions.amend on its
// account); one out of scope is the 404 page.
func (p *Portal) amendPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	f.Values.Set("effective_date", p.today().String())
	p.renderAmend(w, r, c, req, id, &f, http.StatusOK, nil)
}

// renderAmend renders the amend form f of subscription id with status,
// and preview when there is one. A fresh form, or one refused because
// the subscription changed (409), shows the subscription's items and
// version as they stand now.
func (p *Portal) renderAmend(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, id uuid.UUID, f *form, status int, preview *previewData) {
	ctx := r.Context()
	sub, grant, err := p.subscriptionFor(ctx, req, id, domain.PermSubscriptionsAmend)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	if r.Method == http.MethodGet || status == http.StatusConflict {
		resetCurrent(f, sub)
	}
	data := amendData{Tenant: req.TenantID, Sub: sub, Current: currentRows(sub), Preview: preview,
		Override: domain.CanOverridePrice(c.principal, grant, p.now())}
	if data.Charges, err = p.charges(ctx, req); err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data.Adds = itemRows("add", amendAddRows, f, data.Charges, data.Override)
	v := p.tenantView(c, req.TenantID, grant, "Amend subscription", data)
	v.Form = f
	p.render(w, r, status, "subscription-amend", v)
}

// amendSubscription previews (action=preview) or applies an amendment as
// POST …/amendments[?preview=true] does, with the version the form was
// shown at as its If-Match.
func (p *Portal) amendSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	req, id, ok := p.resourceRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	cmd, targets, bad := parseAmend(f.Values)
	again := func(status int) {
		renameFields(&f, "changes", targets)
		p.renderAmend(w, r, c, req, id, &f, status, nil)
	}
	creq, verr := p.versionedRequest(w, r, c, req.TenantID, &f)
	if bad == nil && verr != nil {
		bad = verr
	}
	if bad != nil {
		f.refused(bad)
		again(http.StatusUnprocessableEntity)
		return
	}
	if f.Value("action") == "preview" {
		pv, err := p.cmds.PreviewAmendment(r.Context(), creq, id, cmd)
		p.showPreview(w, r, c, &f, pv, err, cmd.EffectiveDate, again, func(preview *previewData) {
			renameFields(&f, "changes", targets)
			p.renderAmend(w, r, c, req, id, &f, http.StatusOK, preview)
		})
		return
	}
	p.act(w, r, c, &f, subscriptionPath(req.TenantID, id), again, func(ctx context.Context) (eventstore.Position, error) {
		out, err := p.cmds.AmendSubscription(ctx, creq, id, cmd)
		return out.Position, err
	})
}

// versionedRequest is the command request of form f, with the version
// the form was shown at (its "version" field) as If-Match.
func (p *Portal) versionedRequest(w http.ResponseWriter, r *http.Request, c caller, tenant uuid.UUID, f *form) (commands.Request, *domain.Error) {
	creq := p.commandRequest(w, r, c, tenant)
	v, err := strconv.ParseUint(f.Value("version"), 10, 64)
	if err != nil {
		return creq, domain.Invalid("version", "the form lacks the version it was shown at; reload the page")
	}
	creq.IfMatch = &v
	return creq, nil
}

// showPreview answers a preview: shown by show when decided, the form
// again with its refusal when refused, else the error page.
func (p *Portal) showPreview(w http.ResponseWriter, r *http.Request, c caller, f *form, pv commands.Preview, err error,
	eff domain.Date, again func(int), show func(*previewData)) {
	if err != nil {
		if status, ok := formRefusal(f, err); ok {
			again(status)
			return
		}
		p.refuse(w, r, c, err)
		return
	}
	on := p.today()
	if on.Before(eff) {
		on = eff
	}
	sub, err := projections.SubscriptionViewOf(pv.Subscription, on)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	proration, err := projections.ProrationViewOf(pv.Subscription.Currency, pv.Proration, pv.Total)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	show(&previewData{On: on, Sub: sub, Proration: proration})
}

// parseAmend reads the amend form: a change_quantity for each item whose
// quantity was changed, a remove_item for each item to remove, an
// add_item for each add row filled in; the form's field of each change;
// and the refusal of every malformed field.
func parseAmend(v url.Values) (commands.AmendSubscription, []fieldTarget, *domain.Error) {
	var cmd commands.AmendSubscription
	var bad faultList
	var targets []fieldTarget
	cmd.EffectiveDate = parseFormDate(v, "effective_date", &bad)
	for k := 0; k < maxFormRows && v.Has(fmt.Sprintf("items[%d].id", k)); k++ {
		prefix := fmt.Sprintf("items[%d]", k)
		item, err := uuid.Parse(v.Get(prefix + ".id"))
		if err != nil {
			bad.add(domain.Invalid(prefix+".quantity", "the form is damaged; reload the page"))
			continue
		}
		switch {
		case v.Get(prefix+".remove") == "true":
			cmd.Changes = append(cmd.Changes, commands.Change{Type: string(domain.ChangeRemoveItem), ItemID: item})
			targets = append(targets, fieldTarget{prefix, map[string]string{"item_id": "remove"}})
		case v.Has(prefix+".quantity") && strings.TrimSpace(v.Get(prefix+".quantity")) != v.Get(prefix+".was"):
			q := parseQuantity(v, prefix+".quantity", &bad)
			cmd.Changes = append(cmd.Changes, commands.Change{Type: string(domain.ChangeQuantity), ItemID: item, Quantity: q})
			targets = append(targets, fieldTarget{prefix, map[string]string{"item_id": "quantity"}})
		}
	}
	for j := range amendAddRows {
		row := itemRowOf(fmt.Sprintf("add[%d]", j))
		if v.Get(row.Charge) == "" && strings.TrimSpace(v.Get(row.Quantity)) == "" {
			continue
		}
		ch := commands.Change{Type: string(domain.ChangeAddItem)}
		ch.ProductID, ch.ChargeID = parseCharge(v, row.Charge, &bad)
		ch.Quantity = parseQuantity(v, row.Quantity, &bad)
		if s := strings.TrimSpace(v.Get(row.Price)); s != "" {
			ch.UnitPrice = &s
		}
		cmd.Changes = append(cmd.Changes, ch)
		targets = append(targets, fieldTarget{fmt.Sprintf("add[%d]", j), renameCharge})
	}
	return cmd, targets, bad.err()
}
