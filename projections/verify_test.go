package projections

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// TestVerifyReportsEachDrift plants, one at a time, each kind of drift
// that Verify must report in the subscriptions read model, and repairs it
// with a rebuild: a price whose value is kept but not its scale (10.00
// read back as 10.000000), a quantity that changes the MRR the read
// model's SQL computes (against the domain's fold of the stream), and a
// projection behind the head of the log.
func TestVerifyReportsEachDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	svc := commands.New(e.store)
	admin, sub, item := verifyWriteLog(t, svc)
	p := Subscriptions{}
	verifyCatchUp(t, e, subsProjections...)
	verifyWant(t, e, p, nil)

	items := table(LiveSchema, "subscription_items")
	e.exec(t, `UPDATE `+items+` SET unit_price = unit_price::numeric(20, 6) WHERE item_id = $1`, item)
	diffs := verifyWant(t, e, p, []string{SideLive, SideRebuilt})
	if !strings.Contains(diffs[0].Row+diffs[1].Row, `"unit_price":"10.000000"`) {
		t.Errorf("the changed scale: %+v; want the price as 10.000000 on one side", diffs)
	}
	verifyRebuild(t, e, p)

	e.exec(t, `UPDATE `+items+` SET quantity = quantity + 1 WHERE item_id = $1`, item)
	diffs = verifyWant(t, e, p, []string{SideLive, SideRebuilt, SideDomain})
	drift := diffs[len(diffs)-1]
	if !strings.Contains(drift.Row, sub.String()) || !strings.Contains(drift.Row, `"read_model":{"version":1,"mrr":"40"}`) ||
		!strings.Contains(drift.Row, `"domain":{"version":1,"mrr":"30"}`) {
		t.Errorf("the MRR drift: %s; want subscription %s at 40 in the read model and 30 in the domain", drift.Row, sub)
	}
	verifyRebuild(t, e, p)

	e.exec(t, `UPDATE `+items+` SET subscription_end_date = current_date WHERE item_id = $1`, item)
	diffs = verifyWant(t, e, p, []string{SideLive, SideRebuilt, SideSubscription})
	copied := diffs[len(diffs)-1]
	if !strings.Contains(copied.Row, item.String()) || !strings.Contains(copied.Row, `"end_date" : null`) {
		t.Errorf("the item's copy of its subscription: %s; want item %s, its subscription with no end date", copied.Row, item)
	}
	verifyRebuild(t, e, p)

	_, err := svc.AmendSubscription(ctx, admin, sub, commands.AmendSubscription{EffectiveDate: domain.DateOf(time.Now()),
		Changes: []commands.Change{{Type: "change_quantity", ItemID: item, Quantity: decimal.NewFromInt(4)}}})
	if err != nil {
		t.Fatal(err)
	}
	diffs = verifyWant(t, e, p, []string{SideHead})
	if !strings.HasPrefix(diffs[0].Row, "behind the head by 1 event ") {
		t.Errorf("the projection behind: %q; want behind the head by 1 event", diffs[0].Row)
	}
	verifyCatchUp(t, e, subsProjections...)
	verifyWant(t, e, p, nil)
}

// verifyWriteLog writes a tenant with an account, a product and a
// subscription to 3 seats at 10.00 a month (MRR 30) through svc. It
// returns the tenant's admin, the subscription and its item.
func verifyWriteLog(t *testing.T, svc *commands.Service) (admin commands.Request, sub, item uuid.UUID) {
	t.Helper()
	ctx := t.Context()
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator, ID: uuid.New()}}
	tb, err := svc.CreateTenant(ctx, op, commands.CreateTenant{Name: "T"})
	if err != nil {
		t.Fatal(err)
	}
	admin = commands.Request{TenantID: tb.ID, Principal: domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID,
		TenantID: tb.ID, Role: domain.RoleTenantAdmin}}
	acc, err := svc.CreateAccount(ctx, admin, commands.CreateAccount{Name: "A", Currency: "EUR",
		Billing: commands.Billing{ContactName: "Ann", Email: "ann@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := svc.CreateProduct(ctx, admin, commands.CreateProduct{Name: "Plan", SKU: "plan", Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "10.00", Currency: "EUR", BillingPeriod: "month"}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.CreateSubscription(ctx, admin, commands.CreateSubscription{AccountID: acc.State.ID,
		StartDate: domain.DateOf(time.Now().AddDate(0, -1, 0)), Term: commands.Term{Type: "evergreen"},
		Items: []commands.SubscriptionItem{{ProductID: plan.State.ID, ChargeID: plan.State.Charges[0].ID, Quantity: decimal.NewFromInt(3)}}})
	if err != nil {
		t.Fatal(err)
	}
	return admin, out.State.ID, out.State.Items[0].ID
}

// verifyCatchUp sets up ps and applies the log to them up to its head.
func verifyCatchUp(t *testing.T, e env, ps ...Projection) {
	t.Helper()
	ctx := t.Context()
	if err := Setup(ctx, e.pool, ps); err != nil {
		t.Fatal(err)
	}
	head, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		after := e.checkpoint(t, p.Name())
		for after < head {
			batch, err := e.store.ReadAll(ctx, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) == 0 { // behind the horizon of transactions still open
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if err := applyBatch(ctx, e.pool, LiveSchema, p, batch); err != nil {
				t.Fatal(err)
			}
			after = batch[len(batch)-1].Position
		}
	}
}

// verifyWant verifies p and fails unless the differences are of sides,
// in order, and returns them.
func verifyWant(t *testing.T, e env, p Projection, sides []string) []Difference {
	t.Helper()
	diffs, err := Verify(t.Context(), e.pool, e.store, p, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	got := make([]string, len(diffs))
	for i, d := range diffs {
		got[i] = d.Side
	}
	if strings.Join(got, ",") != strings.Join(sides, ",") {
		t.Fatalf("verify found %+v; want differences of the sides %v", diffs, sides)
	}
	return diffs
}

// verifyRebuild rebuilds p, which must then verify.
func verifyRebuild(t *testing.T, e env, p Projection) {
	t.Helper()
	if _, err := Rebuild(t.Context(), e.pool, e.store, p, nil); err != nil {
		t.Fatal(err)
	}
	verifyWant(t, e, p, nil)
}

func (e env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}
