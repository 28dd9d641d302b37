package projections

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

// catNewWorld is a subsWorld with the catalog read model set up too.
func catNewWorld(t *testing.T) *subsWorld {
	t.Helper()
	w := subsNewWorld(t)
	if err := Setup(t.Context(), w.pool, []Projection{Catalog{}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// catFlush applies the pending events of w to its projections and the
// catalog, in batches of size.
func catFlush(t *testing.T, w *subsWorld, size int) {
	t.Helper()
	from := len(w.applied)
	w.flush(t, slices.Repeat([]int{size}, len(w.pending))...)
	for batch := range slices.Chunk(w.applied[from:], size) {
		if err := applyBatch(t.Context(), w.pool, LiveSchema, Catalog{}, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// catProduct adds product id to tenant's catalog, with charges of
// (name, type, price, currency, period, unit) and ids id+1, id+2…
func catProduct(t *testing.T, w *subsWorld, tenant, id uuid.UUID, name, sku string, charges ...[6]string) *domain.Product {
	t.Helper()
	in := make([]domain.ChargeInput, len(charges))
	for i, c := range charges {
		in[i] = domain.ChargeInput{Name: c[0], Type: c[1], Price: c[2], Currency: c[3], BillingPeriod: c[4], Unit: c[5]}
	}
	next := id
	p := &domain.Product{}
	events, err := p.Create(domain.CreateProduct{ProductID: id, TenantID: tenant, Name: name, SKU: sku, Charges: in,
		NewID: func() uuid.UUID { next[15]++; return next }}, subsTenantUser, subsAt("2025-02-01"))
	w.apply(t, "product-"+tenant.String()+"-"+id.String(), p, subsMust(t, events, err))
	return p
}

func catIDs(views []ProductView) []uuid.UUID {
	ids := make([]uuid.UUID, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	return ids
}

// TestProductViewRepresentation pins the JSON of api.md: prices at the
// currency's minor unit (more places when the price has them), null
// billing period but for recurring charges, null unit but for usage.
func TestProductViewRepresentation(t *testing.T) {
	t.Parallel()
	w := catNewWorld(t)
	tenant := subsID(10_000)
	catProduct(t, w, tenant, subsID(200), "Mixed", "mixed-1",
		[6]string{"Plan", "recurring", "49", "EUR", "quarter", ""},
		[6]string{"Onboarding", "one_time", "150000", "JPY", "", ""},
		[6]string{"Calls", "usage", "0.0001", "EUR", "", "call"},
		[6]string{"Storage", "usage", "2.5", "KWD", "", "GB"})
	catFlush(t, w, 1)
	want := `{"id":"00000000-0000-7000-8000-000000000200","name":"Mixed","sku":"mixed-1","charges":[` +
		`{"id":"00000000-0000-7000-8000-000000000201","name":"Plan","type":"recurring","price":"49.00","currency":"EUR","billing_period":"quarter","unit":null},` +
		`{"id":"00000000-0000-7000-8000-000000000202","name":"Onboarding","type":"one_time","price":"150000","currency":"JPY","billing_period":null,"unit":null},` +
		`{"id":"00000000-0000-7000-8000-000000000203","name":"Calls","type":"usage","price":"0.0001","currency":"EUR","billing_period":null,"unit":"call"},` +
		`{"id":"00000000-0000-7000-8000-000000000204","name":"Storage","type":"usage","price":"2.500","currency":"KWD","billing_period":null,"unit":"GB"}],` +
		`"version":1,"created_by":{"type":"tenant_user","id":"00000000-0000-7000-8000-000000000001","partner_id":null},` +
		`"created_at":"2025-02-01T12:00:00Z"}`
	got, err := GetProduct(t.Context(), w.pool, tenant, subsID(200))
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(got); string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
	list, err := ListProducts(t.Context(), w.pool, tenant, Page{})
	if err != nil || len(list.Items) != 1 || !reflect.DeepEqual(list.Items[0], got) {
		t.Fatalf("list = %+v, %v; want the product as got", list, err)
	}
}

func TestListAndGetProducts(t *testing.T) {
	t.Parallel()
	w := catNewWorld(t)
	t1, t2 := subsID(10_000), subsID(20_000)
	seat := [6]string{"Seat", "recurring", "10", "EUR", "month", ""}
	var want []uuid.UUID
	for i := range 23 {
		id := uuid.Must(uuid.NewV7())
		id[15] = 0 // room for the charge ids
		catProduct(t, w, t1, id, "Product", "sku-"+string(rune('a'+i)), seat)
		want = append(want, id)
	}
	other := catProduct(t, w, t2, subsID(300), "Elsewhere", "else", seat)
	catFlush(t, w, 4)
	for _, limit := range []int{1, 5, 22, 23, 500} {
		got := audPages(t, limit, func(p Page) (List[ProductView], error) { return ListProducts(t.Context(), w.pool, t1, p) })
		if ids := catIDs(got); !slices.Equal(ids, subsSorted(want...)) {
			t.Fatalf("limit %d: got %v, want %v", limit, ids, subsSorted(want...))
		}
	}
	list, err := ListProducts(t.Context(), w.pool, t2, Page{})
	if err != nil || !slices.Equal(catIDs(list.Items), []uuid.UUID{other.ID}) || list.Items[0].Charges[0].Price != "10.00" {
		t.Fatalf("other tenant's list = %+v, %v; want only %s", list, err, other.ID)
	}
	for _, page := range []Page{{Limit: 501}, {Limit: -1}, {Cursor: "not a cursor"}} {
		if _, err := ListProducts(t.Context(), w.pool, t1, page); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("page %+v: got %v, want invalid", page, err)
		}
	}
	tests := []struct {
		name       string
		tenant, id uuid.UUID
		found      bool
	}{
		{"own product", t1, want[7], true},
		{"other tenant's product", t1, other.ID, false},
		{"asked by the other tenant", t2, want[7], false},
		{"absent", t1, uuid.New(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := GetProduct(t.Context(), w.pool, tt.tenant, tt.id)
			if !tt.found {
				subsWantNotFound(t, err)
				return
			}
			if err != nil || got.ID != tt.id || len(got.Charges) != 1 {
				t.Fatalf("got %+v, %v; want %s", got, err, tt.id)
			}
		})
	}
}

// TestCatalogReapplyChangesNothing applies the log again, through the
// checkpoint and straight to the tables, and in one batch into a scratch
// schema: the rows are the same each time.
func TestCatalogReapplyChangesNothing(t *testing.T) {
	t.Parallel()
	w := catNewWorld(t)
	w.tenant(t, 1)
	w.tenant(t, 2)
	catProduct(t, w, subsID(10_000), subsID(200), "Extra", "extra", [6]string{"Calls", "usage", "0.002", "EUR", "", "call"})
	catFlush(t, w, 2)
	dump := func(schema string) []string {
		rows, err := w.pool.Query(t.Context(), `SELECT row_to_json(r)::text FROM `+table(schema, "catalog_products")+` r ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return lines
	}
	before := dump(LiveSchema)
	if len(before) != 3 {
		t.Fatalf("%d products, want 3", len(before))
	}
	if err := applyBatch(t.Context(), w.pool, LiveSchema, Catalog{}, w.applied); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(t.Context(), w.pool, func(tx pgx.Tx) error {
		if err := (Catalog{}).Apply(t.Context(), tx, LiveSchema, w.applied); err != nil {
			return err
		}
		if err := setupSchema(t.Context(), tx, "cat_scratch", []Projection{Catalog{}}, false); err != nil {
			return err
		}
		return Catalog{}.Apply(t.Context(), tx, "cat_scratch", w.applied)
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := dump(LiveSchema); !reflect.DeepEqual(before, after) {
		t.Fatalf("re-applying changed the catalog:\n%v\n%v", before, after)
	}
	if whole := dump("cat_scratch"); !reflect.DeepEqual(before, whole) {
		t.Fatalf("applied in one batch, the catalog differs:\n%v\n%v", before, whole)
	}
}

// TestRebuildAndVerifyEveryReadModel writes a log through the command
// layer, applies it live in small batches, and checks that Verify finds
// every read model, the catalog included, equal to a fresh replay; that
// RebuildAll leaves the same answers; and that Verify sees a tampered
// catalog row.
func TestRebuildAndVerifyEveryReadModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	l := catWriteLog(t, commands.New(e.store))
	if err := Setup(ctx, e.pool, All()); err != nil {
		t.Fatal(err)
	}
	head, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for after := eventstore.Position(0); after < head; {
		batch, err := e.store.ReadAll(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 { // behind the horizon of transactions still open
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, p := range All() {
			if err := applyBatch(ctx, e.pool, LiveSchema, p, batch); err != nil {
				t.Fatal(err)
			}
		}
		after = batch[len(batch)-1].Position
	}
	before := l.read(t, e.pool)
	l.check(t, before)
	catVerify(t, e, 0)
	if _, err := RebuildAll(ctx, e.pool, e.store, All(), nil); err != nil {
		t.Fatal(err)
	}
	catVerify(t, e, 0)
	if after := l.read(t, e.pool); !reflect.DeepEqual(before, after) {
		t.Fatalf("after the rebuild:\n%+v\nwant\n%+v", after, before)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE `+table(LiveSchema, "catalog_products")+` SET charges = '[]' WHERE product_id = $1`, l.plan); err != nil {
		t.Fatal(err)
	}
	catVerify(t, e, 2)
}

// catVerify verifies every projection and fails unless they differ in
// want rows in all.
func catVerify(t *testing.T, e env, want int) {
	t.Helper()
	var diffs []Difference
	for _, p := range All() {
		d, err := Verify(t.Context(), e.pool, e.store, p, nil)
		if err != nil {
			t.Fatalf("verify %s: %v", p.Name(), err)
		}
		diffs = append(diffs, d...)
	}
	if len(diffs) != want {
		t.Fatalf("verify found %+v; want %d differences", diffs, want)
	}
}

// catLog is what catWriteLog wrote: tenant T with accounts A1 (by its
// admin, billing updated twice) and A2 (by partner P's admin), and
// products Plan and Meter; tenant U with product Other.
type catLog struct {
	tenant, other, partner uuid.UUID
	a1, a2, plan, meter    uuid.UUID
}

func catWriteLog(t *testing.T, svc *commands.Service) catLog {
	t.Helper()
	ctx := t.Context()
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator, ID: uuid.New()}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tb, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "T"})
	must(err)
	ub, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "U"})
	must(err)
	pb, err := svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "P"})
	must(err)
	admin := commands.Request{TenantID: tb.ID, Principal: domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}}
	other := commands.Request{TenantID: ub.ID, Principal: domain.Principal{Type: domain.ActorTenantUser, ID: ub.AdminUserID, TenantID: ub.ID, Role: domain.RoleTenantAdmin}}
	partner := commands.Request{TenantID: tb.ID, Principal: domain.Principal{Type: domain.ActorPartnerUser, ID: pb.AdminUserID, PartnerID: pb.ID, Role: domain.RolePartnerAdmin}}
	ann := commands.Billing{ContactName: "Ann", Email: "ann@example.com"}
	a1, err := svc.CreateAccount(ctx, admin, commands.CreateAccount{Name: "A1", Currency: "EUR", Billing: ann})
	must(err)
	_, err = svc.PutPartnerAccess(ctx, admin, pb.ID, commands.PutAccess{Role: domain.RolePartnerAdmin})
	must(err)
	a2, err := svc.CreateAccount(ctx, partner, commands.CreateAccount{Name: "A2", Currency: "USD", Billing: ann})
	must(err)
	_, err = svc.UpdateBilling(ctx, admin, a1.State.ID, commands.Billing{ContactName: "Ann", Email: "ann@example.com", TaxID: "X1"})
	must(err)
	_, err = svc.UpdateBilling(ctx, admin, a1.State.ID, commands.Billing{ContactName: "Bo", Email: "bo@example.com", Address: "Road 1"})
	must(err)
	plan, err := svc.CreateProduct(ctx, admin, commands.CreateProduct{Name: "Plan", SKU: "plan", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"},
		{Name: "Setup", Type: "one_time", Price: "99.5", Currency: "USD"}}})
	must(err)
	meter, err := svc.CreateProduct(ctx, admin, commands.CreateProduct{Name: "Meter", SKU: "meter", Charges: []commands.Charge{
		{Name: "Calls", Type: "usage", Price: "0.0025", Currency: "EUR", Unit: "call"}}})
	must(err)
	_, err = svc.CreateProduct(ctx, other, commands.CreateProduct{Name: "Other", SKU: "other", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "1", Currency: "EUR", BillingPeriod: "year"}}})
	must(err)
	return catLog{tenant: tb.ID, other: ub.ID, partner: pb.ID, a1: a1.State.ID, a2: a2.State.ID, plan: plan.State.ID, meter: meter.State.ID}
}

// catAnswers is what the queries answer about a catLog.
type catAnswers struct {
	accounts, partnerAccounts []AccountView
	products, otherProducts   []ProductView
}

func (l catLog) read(t *testing.T, db Querier) catAnswers {
	t.Helper()
	var (
		a        catAnswers
		errs     [4]error
		accounts List[AccountView]
		products List[ProductView]
	)
	accounts, errs[0] = ListAccounts(t.Context(), db, l.tenant, Scope{All: true}, Page{})
	a.accounts = accounts.Items
	accounts, errs[1] = ListAccounts(t.Context(), db, l.tenant, Scope{PartnerID: l.partner}, Page{})
	a.partnerAccounts = accounts.Items
	products, errs[2] = ListProducts(t.Context(), db, l.tenant, Page{})
	a.products = products.Items
	products, errs[3] = ListProducts(t.Context(), db, l.other, Page{})
	a.otherProducts = products.Items
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	return a
}

// check holds the answers to what the commands did.
func (l catLog) check(t *testing.T, a catAnswers) {
	t.Helper()
	if got := acctIDs(a.accounts); !slices.Equal(got, subsSorted(l.a1, l.a2)) {
		t.Fatalf("accounts %v, want %v", got, subsSorted(l.a1, l.a2))
	}
	if got := acctIDs(a.partnerAccounts); !slices.Equal(got, []uuid.UUID{l.a2}) || *a.partnerAccounts[0].CreatedBy.PartnerID != l.partner {
		t.Fatalf("partner's accounts %+v, want only %s", a.partnerAccounts, l.a2)
	}
	a1 := a.accounts[slices.Index(acctIDs(a.accounts), l.a1)]
	if a1.Version != 3 || a1.Billing.Email != "bo@example.com" || a1.Billing.TaxID != nil || *a1.Billing.Address != "Road 1" {
		t.Fatalf("A1 = %+v; want version 3 with the last billing", a1)
	}
	if got := catIDs(a.products); !slices.Equal(got, subsSorted(l.plan, l.meter)) || len(a.otherProducts) != 1 {
		t.Fatalf("products %v and %d of the other tenant, want %v and 1", got, len(a.otherProducts), subsSorted(l.plan, l.meter))
	}
	var prices []string
	for _, p := range a.products {
		for _, c := range p.Charges {
			prices = append(prices, c.Name+" "+c.Price+" "+string(c.Currency))
		}
	}
	slices.Sort(prices)
	if want := []string{"Calls 0.0025 EUR", "Seat 10.00 EUR", "Setup 99.50 USD"}; !slices.Equal(prices, want) {
		t.Fatalf("charges %v, want %v", prices, want)
	}
}
