package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// catalogRoutes registers the catalog's pages.
func (p *Portal) catalogRoutes(mux *http.ServeMux) {
	const t = Prefix + "/tenants/{tenant}"
	mux.HandleFunc("GET "+t+"/products", p.signedIn(p.products))
	mux.HandleFunc("GET "+t+"/products/new", p.signedIn(p.newProductPage))
	mux.HandleFunc("POST "+t+"/products/new", p.signedIn(p.createProduct))
}

// productsData is the catalog page's.
type productsData struct {
	Tenant uuid.UUID
	Items  []projections.ProductView
	Next   string
}

// products lists the tenant's catalog as GET /v1/tenants/{t}/products
// does: catalog.read, the whole catalog, 50 products a page.
func (p *Portal) products(w http.ResponseWriter, r *http.Request, c caller) {
	l, ok := readList(p, w, r, c, domain.PermCatalogRead, "products",
		func(ctx context.Context, db projections.Querier, req commands.Request, _ *domain.PartnerAccess, page projections.Page) (projections.List[projections.ProductView], error) {
			return projections.ListProducts(ctx, db, req.TenantID, page)
		})
	if !ok {
		return
	}
	data := productsData{Tenant: l.req.TenantID, Items: l.items, Next: l.next}
	p.render(w, r, http.StatusOK, "products", p.tenantView(c, l.req.TenantID, l.grant, "Catalog", data))
}

// productFormData is the new product page's: the charge rows to show,
// numbered from 0, and the choices of their fields.
type productFormData struct {
	Tenant   uuid.UUID
	Rows     []chargeRow
	Types    []domain.ChargeType
	Periods  []string
	AddField string
}

// chargeRow is one charge row of the new product form: its index in the
// field paths, from 0, and its number as shown, from 1.
type chargeRow struct{ I, N int }

// addChargeField is the name of the new product form's button that adds
// a charge row instead of saving (it works with JavaScript off).
const addChargeField = "add_charge"

// newProductPage shows the new product form to a caller who may manage
// the catalog (catalog.manage, authorized as POST …/products would be).
func (p *Portal) newProductPage(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	grant, err := p.cmds.AuthorizeRead(r.Context(), req, domain.PermCatalogManage, "products")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	f := newForm()
	p.renderProductForm(w, r, c, http.StatusOK, req.TenantID, grant, &f, 1)
}

// createProduct adds a product with commands.CreateProduct, as POST
// /v1/tenants/{t}/products, and lands on the catalog. The form's "Add a
// charge" button shows the form again with one more charge row.
func (p *Portal) createProduct(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	f := postedForm(r)
	rows := chargeRows(f.Values)
	if f.Value(addChargeField) != "" {
		grant, err := p.cmds.AuthorizeRead(r.Context(), req, domain.PermCatalogManage, "products")
		if err != nil {
			p.refuse(w, r, c, err)
			return
		}
		f.IdempotencyKey = r.PostFormValue(idempotencyField) // nothing was submitted yet
		p.renderProductForm(w, r, c, http.StatusOK, req.TenantID, grant, &f, min(rows+1, domain.MaxCharges))
		return
	}
	again := func(status int) {
		grant, _ := p.cmds.AuthorizeRead(r.Context(), req, domain.PermCatalogRead, "products") // the tenant's sections only
		p.renderProductForm(w, r, c, status, req.TenantID, grant, &f, max(rows, 1))
	}
	next := Prefix + "/tenants/" + req.TenantID.String() + "/products"
	p.act(w, r, c, &f, next, again, func(ctx context.Context) (eventstore.Position, error) {
		out, err := p.cmds.CreateProduct(ctx, p.commandRequest(w, r, c, req.TenantID), productOf(f.Values, rows))
		return out.Position, err
	})
}

// renderProductForm renders the new product form with rows charge rows.
func (p *Portal) renderProductForm(w http.ResponseWriter, r *http.Request, c caller, status int, tenant uuid.UUID,
	grant *domain.PartnerAccess, f *form, rows int) {
	data := productFormData{Tenant: tenant, Types: []domain.ChargeType{domain.ChargeRecurring, domain.ChargeOneTime, domain.ChargeUsage},
		Periods: []string{"month", "quarter", "year"}, AddField: addChargeField}
	for i := range rows {
		data.Rows = append(data.Rows, chargeRow{I: i, N: i + 1})
	}
	v := p.tenantView(c, tenant, grant, "New product", data)
	v.Form = f
	p.render(w, r, status, "product-new", v)
}

// chargeFields are the fields of a charge row, by their JSON names.
var chargeFields = []string{"name", "type", "price", "currency", "billing_period", "unit"}

// chargeField is the form field of charge i's field name, its API path.
func chargeField(i int, name string) string { return fmt.Sprintf("charges[%d].%s", i, name) }

// chargeRows is the number of charge rows of a posted form, up to its
// last row with any field filled in: blank rows at the end are the form's
// spare rows, not charges.
func chargeRows(v url.Values) int {
	rows := 0
	for i := range domain.MaxCharges {
		for _, name := range chargeFields {
			if strings.TrimSpace(v.Get(chargeField(i, name))) != "" {
				rows = i + 1
			}
		}
	}
	return rows
}

// productOf is the command of a posted new product form with rows charges.
func productOf(v url.Values, rows int) commands.CreateProduct {
	cmd := commands.CreateProduct{Name: v.Get("name"), SKU: v.Get("sku"), Charges: []commands.Charge{}}
	for i := range rows {
		cmd.Charges = append(cmd.Charges, commands.Charge{Name: v.Get(chargeField(i, "name")), Type: v.Get(chargeField(i, "type")),
			Price: v.Get(chargeField(i, "price")), Currency: v.Get(chargeField(i, "currency")),
			BillingPeriod: v.Get(chargeField(i, "billing_period")), Unit: v.Get(chargeField(i, "unit"))})
	}
	return cmd
}
