package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// createItemRows is how many item rows the new subscription form offers;
// blank rows are left out of the command.
const createItemRows = 3

// subscriptionFormRoutes registers the pages of the subscription write pages (create, amend, cancel, withdraw a scheduled change), the state at an instant, and usage upload.
func (p *Portal) subscriptionFormRoutes(mux *http.ServeMux) {
	subs := Prefix + "/tenants/{tenant}/subscriptions"
	mux.HandleFunc("GET "+subs+"/new", p.signedIn(p.newSubscription))
	mux.HandleFunc("POST "+subs, p.signedIn(p.createSubscription))
	mux.HandleFunc("GET "+subs+"/{id}/amend", p.signedIn(p.amendPage))
	mux.HandleFunc("POST "+subs+"/{id}/amend", p.signedIn(p.amendSubscription))
	mux.HandleFunc("GET "+subs+"/{id}/cancel", p.signedIn(p.cancelPage))
	mux.HandleFunc("POST "+subs+"/{id}/cancel", p.signedIn(p.cancelSubscription))
	mux.HandleFunc("GET "+subs+"/{id}/scheduled-changes/{change}/withdraw", p.signedIn(p.withdrawPage))
	mux.HandleFunc("POST "+subs+"/{id}/scheduled-changes/{change}/withdraw", p.signedIn(p.withdrawScheduledChange))
	mux.HandleFunc("GET "+Prefix+"/tenants/{tenant}/usage", p.signedIn(p.usagePage))
	mux.HandleFunc("POST "+Prefix+"/tenants/{tenant}/usage", p.signedIn(p.uploadUsage))
}

// chargeOption is one charge of the catalog a form may subscribe to: its
// value is "product id/charge id".
type chargeOption struct{ Value, Label string }

// itemRow is one row of a form to choose an item: the names of its
// fields, with what the row's template needs to render them (the form,
// the charges offered, whether a price override is offered).
type itemRow struct {
	Charge, Quantity, Price string
	Form                    *form
	Charges                 []chargeOption
	Override                bool
}

// itemRowOf is the row of fields under prefix ("items[0]").
func itemRowOf(prefix string) itemRow {
	return itemRow{Charge: prefix + ".charge_id", Quantity: prefix + ".quantity", Price: prefix + ".unit_price"}
}

// itemRows are n rows under list ("items"), for f.
func itemRows(list string, n int, f *form, charges []chargeOption, override bool) []itemRow {
	rows := make([]itemRow, n)
	for i := range rows {
		rows[i] = itemRowOf(fmt.Sprintf("%s[%d]", list, i))
		rows[i].Form, rows[i].Charges, rows[i].Override = f, charges, override
	}
	return rows
}

// createData is the new subscription page's.
type createData struct {
	Tenant   uuid.UUID
	Accounts []projections.AccountView
	Charges  []chargeOption
	Rows     []itemRow
	Override bool
	Terms    []string
}

// newSubscription shows the form to subscribe an account, to a caller who
// may create subscriptions on the tenant.
func (p *Portal) newSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := newForm()
	f.Values.Set("term.type", "termed")
	f.Values.Set("term.months", "12")
	f.Values.Set("start_date", p.today().String())
	p.renderCreate(w, r, c, req, &f, http.StatusOK)
}

// renderCreate renders the new subscription form f with status, after
// authorizing subscriptions.create on the tenant as a whole: the
// accounts offered are those of the caller's scope, the charges the
// tenant's catalog.
func (p *Portal) renderCreate(w http.ResponseWriter, r *http.Request, c caller, req commands.Request, f *form, status int) {
	ctx := r.Context()
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermSubscriptionsCreate, "subscriptions")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data := createData{Tenant: req.TenantID, Override: domain.CanOverridePrice(c.principal, grant, p.now()),
		Terms: []string{"termed", "evergreen"}}
	if data.Accounts, data.Charges, err = p.accountsAndCharges(ctx, req); err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data.Rows = itemRows("items", createItemRows, f, data.Charges, data.Override)
	v := p.tenantView(c, req.TenantID, grant, "New subscription", data)
	v.Form = f
	p.render(w, r, status, "subscription-new", v)
}

// accountsAndCharges reads the accounts of the caller's scope and the
// catalog's charges, each as the API lists them (at most one page of
// projections.MaxLimit).
func (p *Portal) accountsAndCharges(ctx context.Context, req commands.Request) ([]projections.AccountView, []chargeOption, error) {
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermAccountsRead, "accounts")
	if err != nil {
		return nil, nil, err
	}
	accounts, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.AccountView], error) {
		return projections.ListAccounts(ctx, db, req.TenantID, projections.ScopeOf(req.Principal, grant), projections.Page{Limit: projections.MaxLimit})
	})
	if err != nil {
		return nil, nil, err
	}
	charges, err := p.charges(ctx, req)
	return accounts.Items, charges, err
}

// charges are the catalog's charges as options, as GET …/products lists
// them (catalog.read).
func (p *Portal) charges(ctx context.Context, req commands.Request) ([]chargeOption, error) {
	if _, err := p.cmds.AuthorizeRead(ctx, req, domain.PermCatalogRead, "products"); err != nil {
		return nil, err
	}
	products, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.List[projections.ProductView], error) {
		return projections.ListProducts(ctx, db, req.TenantID, projections.Page{Limit: projections.MaxLimit})
	})
	if err != nil {
		return nil, err
	}
	var out []chargeOption
	for _, prod := range products.Items {
		for _, ch := range prod.Charges {
			label := fmt.Sprintf("%s: %s, %s %s %s", prod.Name, ch.Name, ch.Type, ch.Price, ch.Currency)
			if ch.BillingPeriod != nil {
				label += " per " + string(*ch.BillingPeriod)
			} else if ch.Unit != nil {
				label += " per " + *ch.Unit
			}
			out = append(out, chargeOption{Value: prod.ID.String() + "/" + ch.ID.String(), Label: label})
		}
	}
	return out, nil
}

// createSubscription subscribes an account as POST
// /v1/tenants/{t}/subscriptions does (commands.CreateSubscription, which
// authorizes), then shows the new subscription.
func (p *Portal) createSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	cmd, rows, bad := parseCreate(f.Values, createItemRows)
	again := func(status int) {
		renameFields(&f, "items", rows)
		p.renderCreate(w, r, c, req, &f, status)
	}
	if bad != nil {
		f.refused(bad)
		again(http.StatusUnprocessableEntity)
		return
	}
	base := Prefix + "/tenants/" + req.TenantID.String() + "/subscriptions/"
	p.actTo(w, r, c, &f, again, func(ctx context.Context) (eventstore.Position, string, error) {
		out, err := p.cmds.CreateSubscription(ctx, p.commandRequest(w, r, c, req.TenantID), cmd)
		if err != nil {
			return 0, "", err
		}
		return out.Position, base + out.State.ID.String(), nil
	})
}

// parseCreate reads the new subscription form: the command, the row
// of each of its items (blank rows are left out), and the
// refusal of every malformed field, nil when there is none.
func parseCreate(v url.Values, rows int) (commands.CreateSubscription, []fieldTarget, *domain.Error) {
	var cmd commands.CreateSubscription
	var bad faultList
	if s := v.Get("account_id"); s == "" {
		bad.add(domain.Invalid("account_id", "is required"))
	} else if id, err := uuid.Parse(s); err != nil {
		bad.add(domain.Invalid("account_id", "must be one of the accounts offered"))
	} else {
		cmd.AccountID = id
	}
	cmd.StartDate = parseFormDate(v, "start_date", &bad)
	cmd.Term.Type, cmd.Term.AutoRenew = v.Get("term.type"), v.Get("term.auto_renew") == "true"
	if s := strings.TrimSpace(v.Get("term.months")); s != "" && cmd.Term.Type != "evergreen" {
		n, err := strconv.Atoi(s)
		if err != nil {
			bad.add(domain.Invalid("term.months", "must be a whole number of months"))
		}
		cmd.Term.Months = n
	}
	var targets []fieldTarget
	for i := range rows {
		row := itemRowOf(fmt.Sprintf("items[%d]", i))
		if v.Get(row.Charge) == "" && strings.TrimSpace(v.Get(row.Quantity)) == "" {
			continue
		}
		item := commands.SubscriptionItem{}
		item.ProductID, item.ChargeID = parseCharge(v, row.Charge, &bad)
		item.Quantity = parseQuantity(v, row.Quantity, &bad)
		if s := strings.TrimSpace(v.Get(row.Price)); s != "" {
			item.UnitPrice = &s
		}
		cmd.Items = append(cmd.Items, item)
		targets = append(targets, fieldTarget{fmt.Sprintf("items[%d]", i), renameCharge})
	}
	return cmd, targets, bad.err()
}

// parseCharge reads a "product id/charge id" field.
func parseCharge(v url.Values, name string, bad *faultList) (uuid.UUID, uuid.UUID) {
	s := v.Get(name)
	if s == "" {
		bad.add(domain.Invalid(name, "choose a charge"))
		return uuid.Nil, uuid.Nil
	}
	prod, charge, _ := strings.Cut(s, "/")
	pid, err1 := uuid.Parse(prod)
	cid, err2 := uuid.Parse(charge)
	if err1 != nil || err2 != nil {
		bad.add(domain.Invalid(name, "must be one of the charges offered"))
	}
	return pid, cid
}

// parseQuantity reads a quantity field as a number; the domain decides
// whether it is a quantity it takes.
func parseQuantity(v url.Values, name string, bad *faultList) decimal.Decimal {
	q, err := decimal.NewFromString(strings.TrimSpace(v.Get(name)))
	if err != nil {
		bad.add(domain.Invalid(name, "must be a whole number from %d to %d", domain.MinQuantity, domain.MaxQuantity))
	}
	return q
}

// parseFormDate reads a date field; blank is the zero date, which the
// domain refuses where one is required.
func parseFormDate(v url.Values, name string, bad *faultList) domain.Date {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return domain.Date{}
	}
	d, err := domain.ParseDate(name, s)
	var derr *domain.Error
	if errors.As(err, &derr) {
		bad.add(derr)
	}
	return d
}

// faultList gathers the refusals of a form's fields into one.
type faultList struct{ first *domain.Error }

// add records err, a refusal of one field.
func (l *faultList) add(err *domain.Error) {
	if l.first == nil {
		c := *err
		l.first = &c
		return
	}
	l.first.Fields = append(l.first.Fields, err.Fields...)
}

// err is the refusal of every field recorded, nil when there is none.
func (l *faultList) err() *domain.Error { return l.first }

// renameCharge marks a refusal of an item's product on the field that
// chooses its product and charge together.
var renameCharge = map[string]string{"product_id": "charge_id"}

// listField matches a field path under a list: "items[2].quantity".
var listField = regexp.MustCompile(`^([a-z_]+)\[(\d+)\]\.([a-z_]+)$`)

// fieldTarget is where the fields of one entry of a command's list are
// on the form: under Prefix, each leaf renamed by Rename when there.
type fieldTarget struct {
	Prefix string
	Rename map[string]string
}

// renameFields renames the fields at fault on f from the command's paths
// to the form's: field list[n].leaf is targets[n]'s.
func renameFields(f *form, list string, targets []fieldTarget) {
	out := make(map[string]string, len(f.Fields))
	for name, msg := range f.Fields {
		m := listField.FindStringSubmatch(name)
		if m != nil && m[1] == list {
			if n, err := strconv.Atoi(m[2]); err == nil && n < len(targets) {
				leaf := m[3]
				if to, ok := targets[n].Rename[leaf]; ok {
					leaf = to
				}
				name = targets[n].Prefix + "." + leaf
			}
		}
		out[name] = msg
	}
	f.Fields = out
}
