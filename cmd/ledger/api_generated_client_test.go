package main

import (
	"context"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"ledger/internal/apiclient"
)

// TestGeneratedClientWalk walks the API with the client that oapi-codegen
// generates from the OpenAPI document (internal/apiclient), against the
// real binary: the tenant admin creates a product, an account and a
// partner's grant; the partner creates a subscription and amends it with
// If-Match, then with a stale If-Match (412); the tenant reads the MRR
// report and revokes the grant, and the partner's next read is refused.
// Every answer must decode into the generated types with exactly the keys
// they name, and its fields are checked.
func TestGeneratedClientWalk(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	tb := runBootstrap(t, env, "tenant", "Generated Client Co")
	pb := runBootstrap(t, env, "partner", "Generated Resellers")
	w := &generatedWalk{ctx: t.Context(), tenant: tb.ID, partner: pb.ID,
		partnerActor: apiclient.Actor{Type: apiclient.ActorTypePartnerUser, Id: &pb.AdminUserID, PartnerId: &pb.ID},
		admin:        generatedClient(t, srv.base, tb.AdminKey), partnerAdmin: generatedClient(t, srv.base, pb.AdminKey)}

	product, charge := w.createProduct(t)
	account := w.createAccount(t)
	grant := w.grantOperator(t, account.Id)
	sub := w.subscribe(t, account.Id, apiclient.NewItem{ProductId: product.Id, ChargeId: charge.Id, Quantity: 2})
	position := w.amend(t, sub)
	w.checkMRR(t, position)
	w.revoke(t, grant, sub.Id)
}

// generatedWalk is what TestGeneratedClientWalk's steps share.
type generatedWalk struct {
	ctx             context.Context
	tenant, partner uuid.UUID
	partnerActor    apiclient.Actor // the partner's admin
	admin           *apiclient.ClientWithResponses
	partnerAdmin    *apiclient.ClientWithResponses
}

// subscribe has the partner subscribe account to item for 12 months,
// renewing, from the first of last month, and returns the subscription.
func (w *generatedWalk) subscribe(t *testing.T, account uuid.UUID, item apiclient.NewItem) apiclient.Subscription {
	t.Helper()
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	term := apiclient.TermInput{Type: apiclient.TermInputTypeTermed, Months: refTo(12), AutoRenew: refTo(true)}
	r, err := w.partnerAdmin.CreateSubscriptionWithResponse(w.ctx, w.tenant, nil, apiclient.NewSubscription{
		AccountId: account, StartDate: openapi_types.Date{Time: start}, Term: term, Items: []apiclient.NewItem{item}})
	generatedOK(t, "create subscription", err)
	sub := generatedAnswer(t, "create subscription", r, http.StatusCreated, r.JSON201)
	wantMutationHeaders(t, "create subscription", r.Headers201.ETag, r.Headers201.LedgerPosition, sub.Version)
	if sub.AccountId != account || sub.Currency != "USD" || sub.Status != apiclient.SubscriptionStatusActive || sub.Version != 1 ||
		!sub.StartDate.Equal(start) || sub.Mrr != "98.00" || len(sub.Items) != 1 || sub.Items[0].Quantity != 2 ||
		sub.Items[0].ChargeId != item.ChargeId || sub.Items[0].UnitPrice != "49.00" || !reflect.DeepEqual(sub.CreatedBy, w.partnerActor) ||
		sub.Term.Type != apiclient.TermTypeTermed || sub.Term.Months == nil || *sub.Term.Months != 12 || !sub.Term.AutoRenew {
		t.Fatalf("subscription = %+v, want on %s from %s, active, version 1, 2 seats at 49.00 (mrr 98.00), 12 months renewing, by %+v",
			sub, account, start.Format(time.DateOnly), w.partnerActor)
	}
	return sub
}

// amend has the partner amend sub to 5 seats with If-Match, then to 9 with
// the same, now stale, If-Match, which must be 412 and change nothing. It
// returns the Ledger-Position of the amendment.
func (w *generatedWalk) amend(t *testing.T, sub apiclient.Subscription) int64 {
	t.Helper()
	now, seat := time.Now().UTC(), sub.Items[0].Id
	ifMatch := &apiclient.AmendSubscriptionParams{IfMatch: refTo(etag(1))}
	r, err := w.partnerAdmin.AmendSubscriptionWithResponse(w.ctx, w.tenant, sub.Id, ifMatch, quantityAmendment(t, seat, 5, now))
	generatedOK(t, "amend with If-Match", err)
	amended := generatedAnswer(t, "amend with If-Match", r, http.StatusOK, r.JSON200)
	// An amendment's ETag is optional in the document: a preview
	// (?preview=true) answers a subscription that does not exist yet.
	if r.Headers200.ETag == nil {
		t.Fatalf("amend with If-Match: no ETag")
	}
	wantMutationHeaders(t, "amend with If-Match", *r.Headers200.ETag, r.Headers200.LedgerPosition, amended.Version)
	if amended.Id != sub.Id || amended.Version != 2 || amended.Mrr != "245.00" || len(amended.Items) != 1 ||
		amended.Items[0].Id != seat || amended.Items[0].Quantity != 5 {
		t.Errorf("amended subscription = %+v, want %s at version 2 with 5 seats (mrr 245.00)", amended, sub.Id)
	}
	position := r.Headers200.LedgerPosition

	sr, err := w.partnerAdmin.AmendSubscriptionWithResponse(w.ctx, w.tenant, sub.Id, ifMatch, quantityAmendment(t, seat, 9, now))
	generatedOK(t, "amend with a stale If-Match", err)
	problem := generatedAnswer(t, "amend with a stale If-Match", sr, http.StatusPreconditionFailed, sr.ApplicationproblemJSON412)
	wantGeneratedProblem(t, "amend with a stale If-Match", problem, http.StatusPreconditionFailed, apiclient.ProblemCodePreconditionFailed)
	gr, err := w.admin.GetSubscriptionWithResponse(w.ctx, w.tenant, sub.Id, &apiclient.GetSubscriptionParams{LedgerMinPosition: &position})
	generatedOK(t, "get subscription", err)
	if got := generatedAnswer(t, "get subscription", gr, http.StatusOK, gr.JSON200); !reflect.DeepEqual(got.Items, amended.Items) ||
		got.Version != amended.Version || got.Mrr != amended.Mrr {
		t.Errorf("after a stale If-Match the subscription = %+v, want it unchanged, %+v", got, amended)
	}
	return position
}

// revoke has the tenant revoke grant; the partner's next read of sub is
// then 403 partner_access_revoked.
func (w *generatedWalk) revoke(t *testing.T, grant apiclient.Grant, sub uuid.UUID) {
	t.Helper()
	r, err := w.admin.RevokePartnerAccessWithResponse(w.ctx, w.tenant, w.partner, nil)
	generatedOK(t, "revoke access", err)
	revoked := generatedAnswer(t, "revoke access", r, http.StatusOK, r.JSON200)
	wantMutationHeaders(t, "revoke access", r.Headers200.ETag, r.Headers200.LedgerPosition, revoked.Version)
	if revoked.Status != apiclient.GrantStatusRevoked || revoked.Version <= grant.Version || revoked.PartnerId != w.partner ||
		revoked.TenantId != w.tenant || revoked.Role != grant.Role || !reflect.DeepEqual(revoked.AccountIds, grant.AccountIds) {
		t.Errorf("revoked grant = %+v, want the grant %+v revoked at a later version", revoked, grant)
	}
	pr, err := w.partnerAdmin.GetSubscriptionWithResponse(w.ctx, w.tenant, sub, nil)
	generatedOK(t, "the partner's read after revocation", err)
	problem := generatedAnswer(t, "the partner's read after revocation", pr, http.StatusForbidden, pr.ApplicationproblemJSON403)
	wantGeneratedProblem(t, "the partner's read after revocation", problem, http.StatusForbidden, apiclient.ProblemCodePartnerAccessRevoked)
}

// createProduct has the tenant create a product with one charge, a seat at 49.00
// USD a month, and returns both.
func (w *generatedWalk) createProduct(t *testing.T) (apiclient.Product, apiclient.Charge) {
	t.Helper()
	month := apiclient.NewChargeBillingPeriodMonth
	r, err := w.admin.CreateProductWithResponse(w.ctx, w.tenant, nil, apiclient.NewProduct{Name: "Seats", Sku: "SEAT-1", Charges: []apiclient.NewCharge{
		{Name: "Seat", Type: apiclient.ChargeTypeRecurring, Price: "49.00", Currency: "USD", BillingPeriod: &month}}})
	generatedOK(t, "create product", err)
	p := generatedAnswer(t, "create product", r, http.StatusCreated, r.JSON201)
	wantMutationHeaders(t, "create product", r.Headers201.ETag, r.Headers201.LedgerPosition, p.Version)
	if p.Name != "Seats" || p.Sku != "SEAT-1" || p.Version != 1 || len(p.Charges) != 1 {
		t.Fatalf("product = %+v, want Seats, SEAT-1, version 1, one charge", p)
	}
	ch := p.Charges[0]
	if ch.Name != "Seat" || ch.Type != apiclient.ChargeTypeRecurring || ch.Price != "49.00" || ch.Currency != "USD" ||
		ch.BillingPeriod == nil || *ch.BillingPeriod != apiclient.ChargeBillingPeriodMonth || ch.Unit != nil {
		t.Errorf("charge = %+v, want Seat, recurring, 49.00 USD a month, no unit", ch)
	}
	return p, ch
}

// createAccount has the tenant open an account in USD and returns it.
func (w *generatedWalk) createAccount(t *testing.T) apiclient.Account {
	t.Helper()
	r, err := w.admin.CreateAccountWithResponse(w.ctx, w.tenant, nil, apiclient.NewAccount{Name: "Hooli", Currency: "USD",
		Billing: apiclient.BillingInput{ContactName: "Gavin Belson", Email: "ap@hooli.example", PaymentTermsDays: refTo(45)}})
	generatedOK(t, "create account", err)
	a := generatedAnswer(t, "create account", r, http.StatusCreated, r.JSON201)
	wantMutationHeaders(t, "create account", r.Headers201.ETag, r.Headers201.LedgerPosition, a.Version)
	want := apiclient.Billing{ContactName: "Gavin Belson", Email: "ap@hooli.example", PaymentTermsDays: 45,
		InvoiceDelivery: apiclient.BillingInvoiceDeliveryEmail}
	if a.Name != "Hooli" || a.Currency != "USD" || a.Status != apiclient.AccountStatusActive || a.Version != 1 ||
		!reflect.DeepEqual(a.Billing, want) || a.CreatedBy.Type != apiclient.ActorTypeTenantUser || a.CreatedAt.IsZero() {
		t.Errorf("account = %+v, want Hooli in USD, active, version 1, billing %+v, by a tenant user", a, want)
	}
	return a
}

// grantOperator has the tenant grant the partner partner_operator on account and
// returns the grant.
func (w *generatedWalk) grantOperator(t *testing.T, account uuid.UUID) apiclient.Grant {
	t.Helper()
	r, err := w.admin.PutPartnerAccessWithResponse(w.ctx, w.tenant, w.partner, nil, apiclient.GrantTerms{
		Role: apiclient.PartnerRolePartnerOperator, AccountIds: []apiclient.ID{account}})
	generatedOK(t, "grant access", err)
	g := generatedAnswer(t, "grant access", r, http.StatusCreated, r.JSON201)
	wantMutationHeaders(t, "grant access", r.Headers201.ETag, r.Headers201.LedgerPosition, g.Version)
	if g.TenantId != w.tenant || g.PartnerId != w.partner || g.Role != apiclient.PartnerRolePartnerOperator || g.AllAccounts ||
		!reflect.DeepEqual(g.AccountIds, []apiclient.ID{account}) || g.Status != apiclient.GrantStatusActive || g.Actions != nil || g.ExpiresAt != nil {
		t.Errorf("grant = %+v, want partner_operator of %s to %s on %s, active", g, w.tenant, w.partner, account)
	}
	return g
}

// checkMRR has the tenant read the MRR report by partner once it includes
// position: the partner's one subscription, 5 seats at 49.00 a month.
func (w *generatedWalk) checkMRR(t *testing.T, position int64) {
	t.Helper()
	by := apiclient.GetMRRReportParamsGroupByPartner
	r, err := w.admin.GetMRRReportWithResponse(w.ctx, w.tenant, &apiclient.GetMRRReportParams{GroupBy: &by, LedgerMinPosition: &position})
	generatedOK(t, "MRR report", err)
	report := generatedAnswer(t, "MRR report", r, http.StatusOK, r.JSON200)
	mrr, arr := revenue(t, line{5, "49.00", 1})
	totals := []apiclient.RevenueTotal{{Currency: "USD", Mrr: mrr, Arr: arr}}
	groups := []apiclient.RevenueGroup{{Key: w.partner.String(), Name: "Generated Resellers", Currency: "USD", Mrr: mrr, Arr: arr}}
	today := time.Now().UTC().Format(time.DateOnly)
	if report.AsOf.Format(time.DateOnly) != today || !reflect.DeepEqual(report.Totals, totals) || !reflect.DeepEqual(report.Groups, groups) {
		t.Errorf("MRR report = %+v, want as of %s totals %+v and groups %+v", report, today, totals, groups)
	}
}

// generatedClient is the generated client of the server at base, sending
// key as the bearer key.
func generatedClient(t *testing.T, base, key string) *apiclient.ClientWithResponses {
	t.Helper()
	c, err := apiclient.NewClientWithResponses(base,
		apiclient.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
	if err != nil {
		t.Fatalf("make the generated client: %v", err)
	}
	return c
}

// quantityAmendment changes item's quantity to qty from day.
func quantityAmendment(t *testing.T, item uuid.UUID, qty int, day time.Time) apiclient.Amendment {
	t.Helper()
	var change apiclient.Change
	if err := change.FromChangeQuantity(apiclient.ChangeQuantity{ItemId: item, Quantity: qty, Type: apiclient.ChangeQuantityTypeChangeQuantity}); err != nil {
		t.Fatalf("make a change_quantity: %v", err)
	}
	return apiclient.Amendment{EffectiveDate: openapi_types.Date{Time: day}, Changes: []apiclient.Change{change}}
}

// generatedReply is what every generated ...WithResponse returns.
type generatedReply interface {
	StatusCode() int
	ContentType() string
	GetBody() []byte
}

// generatedOK fails t when the generated client returned an error: the
// request was not sent or its answer did not decode.
func generatedOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: the generated client: %v", what, err)
	}
}

// generatedAnswer checks that r has status and the media type of its kind (JSON,
// or a problem from 400 on), and that the generated client decoded the
// body into got, the same as an exact decode with exactly got's keys.
func generatedAnswer[T any](t *testing.T, what string, r generatedReply, status int, got *T) T {
	t.Helper()
	if r.StatusCode() != status {
		t.Fatalf("%s = %d, want %d; body: %s", what, r.StatusCode(), status, r.GetBody())
	}
	want := "application/json"
	if status >= http.StatusBadRequest {
		want = "application/problem+json"
	}
	if mt, _, err := mime.ParseMediaType(r.ContentType()); err != nil || mt != want {
		t.Errorf("%s: Content-Type %q, want %s", what, r.ContentType(), want)
	}
	if got == nil {
		t.Fatalf("%s: the generated client decoded no %T from the %d answer; body: %s", what, got, status, r.GetBody())
	}
	var exact T
	decodeExact(t, what, r.GetBody(), &exact)
	if !reflect.DeepEqual(exact, *got) {
		t.Errorf("%s: the generated client decoded %+v, an exact decode %+v", what, *got, exact)
	}
	return *got
}

// wantGeneratedProblem checks a problem's status, code, type and title.
func wantGeneratedProblem(t *testing.T, what string, p apiclient.Problem, status int, code apiclient.ProblemCode) {
	t.Helper()
	if p.Status != status || p.Code != code || p.Type != "urn:ledger:problem:"+string(code) || p.Title == "" {
		t.Errorf("%s: problem %+v, want status %d, code %s, its type and a title", what, p, status, code)
	}
}

// wantMutationHeaders checks a mutation's ETag, the quoted version, and its
// positive Ledger-Position.
func wantMutationHeaders(t *testing.T, what, etag string, position int64, version apiclient.Version) {
	t.Helper()
	if want := strconv.Quote(strconv.FormatInt(version, 10)); etag != want || position <= 0 {
		t.Errorf("%s: ETag %s, Ledger-Position %d; want ETag %s and a positive position", what, etag, position, want)
	}
}

func refTo[T any](v T) *T { return &v }
