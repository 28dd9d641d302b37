package projections

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
)

// acctOpen opens account id of tenant, created by by with billing, and
// records its events in w.
func acctOpen(t subsT, w *subsWorld, tenant, id uuid.UUID, name string, by domain.Actor, billing domain.BillingInput) *domain.Account {
	t.Helper()
	a := &domain.Account{}
	events, err := a.Create(domain.CreateAccount{AccountID: id, TenantID: tenant, Name: name, Currency: "EUR", Billing: billing},
		by, subsAt("2024-12-01"))
	w.apply(t, "account-"+tenant.String()+"-"+id.String(), a, subsMust(t, events, err))
	return a
}

func acctStream(a *domain.Account) string {
	return "account-" + a.TenantID.String() + "-" + a.ID.String()
}

// acctAnn is the plainest billing: no address, no tax id, the defaults.
var acctAnn = domain.BillingInput{ContactName: "Ann", Email: "ann@example.com"}

// acctWant is the view of a, as the domain's state says it is.
func acctWant(a *domain.Account) AccountView {
	b := a.Billing
	return AccountView{ID: a.ID, Name: a.Name, Currency: a.Currency, Status: a.Status, Version: a.Version,
		Billing: BillingView{ContactName: b.ContactName, Email: b.Email, Address: subsText(b.Address), TaxID: subsText(b.TaxID),
			PaymentTermsDays: b.PaymentTermsDays, InvoiceDelivery: b.InvoiceDelivery},
		CreatedBy: viewActor(a.CreatedBy), CreatedAt: a.CreatedAt}
}

// acctFixture is tenant 1 with accounts A1 (direct, its billing then
// updated), A2 (created by partner P's user), A3 (direct, then closed)
// and A4 (created by partner Q's user); tenant 2 with B1, created by
// partner P's user there.
type acctFixture struct {
	w                  *subsWorld
	t1, t2             uuid.UUID
	a1, a2, a3, a4, b1 *domain.Account
}

func acctNewFixture(t *testing.T) *acctFixture {
	t.Helper()
	w := subsNewWorld(t)
	f := &acctFixture{w: w, t1: subsID(10_000), t2: subsID(20_000)}
	days := 45
	f.a1 = acctOpen(t, w, f.t1, subsID(11), "Alpha", subsTenantUser, domain.BillingInput{ContactName: "Al", Email: "al@Example.COM",
		Address: "1 Main St\nSpringfield", TaxID: "DE123", PaymentTermsDays: &days, InvoiceDelivery: "portal"})
	f.a2 = acctOpen(t, w, f.t1, subsID(12), "Beta", subsPartnerP1, acctAnn)
	f.a3 = acctOpen(t, w, f.t1, subsID(13), "Gamma", subsTenantUser, acctAnn)
	f.a4 = acctOpen(t, w, f.t1, subsID(14), "Delta", subsPartnerQ1, acctAnn)
	f.b1 = acctOpen(t, w, f.t2, subsID(21), "Other", subsPartnerP1, acctAnn)
	events, err := f.a1.UpdateBilling(domain.BillingInput{ContactName: "Al", Email: "billing@example.com"}, subsTenantUser, subsAt("2025-01-05"))
	w.apply(t, acctStream(f.a1), f.a1, subsMust(t, events, err))
	events, err = f.a3.Close("moved away", subsTenantUser, subsAt("2025-01-06"))
	w.apply(t, acctStream(f.a3), f.a3, subsMust(t, events, err))
	w.flush(t, 2, 1, 3)
	return f
}

func acctIDs(views []AccountView) []uuid.UUID {
	ids := make([]uuid.UUID, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	return ids
}

func TestListAccountsScope(t *testing.T) {
	t.Parallel()
	f := acctNewFixture(t)
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		want   []*domain.Account
	}{
		{"tenant user", f.t1, Scope{All: true}, []*domain.Account{f.a1, f.a2, f.a3, f.a4}},
		{"partner: listed and created", f.t1, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerP}, []*domain.Account{f.a2, f.a3}},
		{"partner: created only", f.t1, Scope{PartnerID: subsPartnerQ}, []*domain.Account{f.a4}},
		{"partner: listed only", f.t1, Scope{AccountIDs: []uuid.UUID{f.a1.ID, f.a3.ID}, PartnerID: subsID(9)}, []*domain.Account{f.a1, f.a3}},
		{"partner: nothing", f.t1, Scope{PartnerID: subsID(9)}, nil},
		{"partner: all accounts", f.t1, Scope{All: true, PartnerID: subsPartnerQ}, []*domain.Account{f.a1, f.a2, f.a3, f.a4}},
		{"partner: another tenant's account listed", f.t1, Scope{AccountIDs: []uuid.UUID{f.b1.ID}, PartnerID: subsID(9)}, nil},
		{"other tenant", f.t2, Scope{All: true}, []*domain.Account{f.b1}},
		{"other tenant, partner", f.t2, Scope{PartnerID: subsPartnerP}, []*domain.Account{f.b1}},
		{"other tenant, partner of the first", f.t2, Scope{PartnerID: subsPartnerQ, AccountIDs: []uuid.UUID{f.a4.ID}}, nil},
		{"unknown tenant", subsID(30_000), Scope{All: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			list, err := ListAccounts(t.Context(), f.w.pool, tt.tenant, tt.scope, Page{})
			if err != nil {
				t.Fatal(err)
			}
			want := []AccountView{}
			for _, a := range tt.want {
				want = append(want, acctWant(a))
			}
			slices.SortFunc(want, func(a, b AccountView) int { return audCompareUUID(a.ID, b.ID) })
			if !reflect.DeepEqual(list.Items, want) || list.NextCursor != nil {
				t.Fatalf("got %v (next %v), want %v", acctIDs(list.Items), list.NextCursor, acctIDs(want))
			}
		})
	}
}

func TestGetAccountScope(t *testing.T) {
	t.Parallel()
	f := acctNewFixture(t)
	tests := []struct {
		name   string
		tenant uuid.UUID
		scope  Scope
		want   *domain.Account
		id     uuid.UUID
	}{
		{"tenant user", f.t1, Scope{All: true}, f.a1, f.a1.ID},
		{"closed account", f.t1, Scope{All: true}, f.a3, f.a3.ID},
		{"partner, listed account", f.t1, Scope{AccountIDs: []uuid.UUID{f.a1.ID}, PartnerID: subsPartnerQ}, f.a1, f.a1.ID},
		{"partner, account it created", f.t1, Scope{PartnerID: subsPartnerP}, f.a2, f.a2.ID},
		{"partner, all accounts", f.t1, Scope{All: true, PartnerID: subsPartnerQ}, f.a2, f.a2.ID},
		{"partner, other account", f.t1, Scope{AccountIDs: []uuid.UUID{f.a3.ID}, PartnerID: subsPartnerP}, nil, f.a1.ID},
		{"partner, account another partner created", f.t1, Scope{PartnerID: subsPartnerQ}, nil, f.a2.ID},
		{"other tenant's account", f.t1, Scope{All: true}, nil, f.b1.ID},
		{"other tenant asks", f.t2, Scope{All: true}, nil, f.a1.ID},
		{"absent", f.t1, Scope{All: true}, nil, uuid.New()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := GetAccount(t.Context(), f.w.pool, tt.tenant, tt.scope, tt.id)
			if tt.want == nil {
				subsWantNotFound(t, err)
				return
			}
			if err != nil || !reflect.DeepEqual(got, acctWant(tt.want)) {
				t.Fatalf("got %+v, %v; want %+v", got, err, acctWant(tt.want))
			}
		})
	}
}

// TestAccountViewRepresentation pins the JSON of api.md: null address
// and tax id when absent, both ids of the actor (null when none), and a
// billing update or a closing reflected with a higher version.
func TestAccountViewRepresentation(t *testing.T) {
	t.Parallel()
	f := acctNewFixture(t)
	tests := []struct {
		a    *domain.Account
		want string
	}{
		{f.a1, `{"id":"00000000-0000-7000-8000-000000000011","name":"Alpha","currency":"EUR","status":"active",` +
			`"billing":{"contact_name":"Al","email":"billing@example.com","address":null,"tax_id":null,"payment_terms_days":30,"invoice_delivery":"email"},` +
			`"version":2,"created_by":{"type":"tenant_user","id":"00000000-0000-7000-8000-000000000001","partner_id":null},` +
			`"created_at":"2024-12-01T12:00:00Z"}`},
		{f.a2, `{"id":"00000000-0000-7000-8000-000000000012","name":"Beta","currency":"EUR","status":"active",` +
			`"billing":{"contact_name":"Ann","email":"ann@example.com","address":null,"tax_id":null,"payment_terms_days":30,"invoice_delivery":"email"},` +
			`"version":1,"created_by":{"type":"partner_user","id":"00000000-0000-7000-8000-000000000004","partner_id":"00000000-0000-7000-8000-000000000002"},` +
			`"created_at":"2024-12-01T12:00:00Z"}`},
		{f.a3, `{"id":"00000000-0000-7000-8000-000000000013","name":"Gamma","currency":"EUR","status":"closed",` +
			`"billing":{"contact_name":"Ann","email":"ann@example.com","address":null,"tax_id":null,"payment_terms_days":30,"invoice_delivery":"email"},` +
			`"version":2,"created_by":{"type":"tenant_user","id":"00000000-0000-7000-8000-000000000001","partner_id":null},` +
			`"created_at":"2024-12-01T12:00:00Z"}`},
	}
	for _, tt := range tests {
		got, err := GetAccount(t.Context(), f.w.pool, f.t1, Scope{All: true}, tt.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := json.Marshal(got); string(raw) != tt.want {
			t.Errorf("got  %s\nwant %s", raw, tt.want)
		}
	}
}

func TestAccountBillingWithEveryField(t *testing.T) {
	t.Parallel()
	w := subsNewWorld(t)
	days := 45
	a := acctOpen(t, w, subsID(10_000), subsID(11), "Alpha", subsTenantUser, domain.BillingInput{ContactName: "Al",
		Email: "al@Example.COM", Address: "1 Main St\nSpringfield", TaxID: "DE123", PaymentTermsDays: &days, InvoiceDelivery: "portal"})
	w.flush(t)
	got, err := GetAccount(t.Context(), w.pool, a.TenantID, Scope{All: true}, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(got.Billing)
	want := `{"contact_name":"Al","email":"al@example.com","address":"1 Main St\nSpringfield","tax_id":"DE123","payment_terms_days":45,"invoice_delivery":"portal"}`
	if string(raw) != want || got.Version != 1 {
		t.Fatalf("got %s (version %d), want %s (version 1)", raw, got.Version, want)
	}
}

func TestListAccountsPages(t *testing.T) {
	t.Parallel()
	w := subsNewWorld(t)
	tenant := subsID(10_000)
	var all, partners []uuid.UUID
	for i := range 23 {
		by := subsTenantUser
		if i%3 == 0 {
			by = subsPartnerP1
		}
		a := acctOpen(t, w, tenant, uuid.New(), "Account", by, acctAnn)
		all = append(all, a.ID)
		if by == subsPartnerP1 {
			partners = append(partners, a.ID)
		}
	}
	acctOpen(t, w, subsID(20_000), uuid.New(), "Elsewhere", subsPartnerP1, acctAnn)
	w.flush(t, 5)
	listed := []uuid.UUID{all[1], all[2]}
	scopes := []struct {
		scope Scope
		want  []uuid.UUID
	}{
		{Scope{All: true}, all},
		{Scope{AccountIDs: listed, PartnerID: subsPartnerP}, append(slices.Clone(partners), listed...)},
	}
	for _, s := range scopes {
		for _, limit := range []int{1, 5, 9, 10, 500} {
			got := audPages(t, limit, func(p Page) (List[AccountView], error) {
				return ListAccounts(t.Context(), w.pool, tenant, s.scope, p)
			})
			if ids := acctIDs(got); !slices.Equal(ids, subsSorted(s.want...)) {
				t.Fatalf("scope %+v, limit %d: got %v, want %v", s.scope, limit, ids, subsSorted(s.want...))
			}
		}
	}
	for _, page := range []Page{{Limit: 501}, {Limit: -1}, {Cursor: "not a cursor"}} {
		if _, err := ListAccounts(t.Context(), w.pool, tenant, Scope{All: true}, page); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("page %+v: got %v, want invalid", page, err)
		}
	}
}

// TestAccountsReapplyChangesNothing applies every batch again: the
// checkpoint skips what was applied, and the rows do not change. The
// same log applied in one batch, as a rebuild would, makes the same rows.
func TestAccountsReapplyChangesNothing(t *testing.T) {
	t.Parallel()
	f := acctNewFixture(t)
	dump := func(schema string) []string {
		rows, err := f.w.pool.Query(t.Context(), `SELECT row_to_json(r)::text FROM `+table(schema, "accounts")+` r ORDER BY 1`)
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
	f.w.applyBatch(t, f.w.applied)
	f.w.applyBatch(t, f.w.applied[len(f.w.applied)/2:])
	if after := dump(LiveSchema); !reflect.DeepEqual(before, after) || len(after) != 5 {
		t.Fatalf("re-applying changed the accounts:\n%v\n%v", before, after)
	}
	err := pgx.BeginFunc(t.Context(), f.w.pool, func(tx pgx.Tx) error {
		if err := setupSchema(t.Context(), tx, "acct_scratch", []Projection{Accounts{}}, false); err != nil {
			return err
		}
		return Accounts{}.Apply(t.Context(), tx, "acct_scratch", f.w.applied)
	})
	if err != nil {
		t.Fatal(err)
	}
	if whole := dump("acct_scratch"); !reflect.DeepEqual(before, whole) {
		t.Fatalf("applied in one batch, the accounts differ:\n%v\n%v", before, whole)
	}
}
