package http

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"ledger/auditexport"
	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// reviewWorld is a tenant with two partners: Resell, granted access, with
// an admin who acted and a viewer who was refused; and a second partner,
// with a formula for a name, whose grant was revoked before it acted.
type reviewWorld struct {
	*api
	auditor, viewerKey string
	viewer, other      uuid.UUID
	otherAdmin         uuid.UUID
	adminUser          uuid.UUID
}

func newReviewWorld(t *testing.T) *reviewWorld {
	t.Helper()
	w := &reviewWorld{api: newAPI(t)}
	ctx := t.Context()
	op := commands.Request{Principal: domain.Principal{Type: domain.ActorOperator}}
	other, err := w.svc.CreatePartner(ctx, op, commands.CreatePartner{Name: "=SUM(A1)"})
	if err != nil {
		t.Fatal(err)
	}
	w.other, w.otherAdmin = other.ID, other.AdminUserID
	grant := `{"role":"partner_admin","all_accounts":true,"account_ids":[]}`
	for _, p := range []uuid.UUID{w.partner, w.other} {
		wantStatus(t, w.do(t, "PUT", w.path("/partners/%s/access", p), w.adminKey, grant), http.StatusCreated)
	}
	wantStatus(t, w.do(t, "DELETE", w.path("/partners/%s/access", w.other), w.adminKey, ""), http.StatusOK)
	var viewer struct {
		ID  uuid.UUID
		Key string
	}
	x := w.do(t, "POST", "/v1/partners/"+w.partner.String()+"/users", w.partnerKey, `{"name":"Vic","role":"partner_viewer"}`)
	wantStatus(t, x, http.StatusCreated)
	x.decode(t, &viewer)
	w.viewer, w.viewerKey = viewer.ID, viewer.Key
	account := `{"name":"Globex","currency":"USD","billing":{"contact_name":"Hank","email":"hank@globex.test"}}`
	wantStatus(t, w.do(t, "POST", w.path("/accounts"), w.viewerKey, account), http.StatusForbidden)
	// The admin's account comes after the refusal, so that reading at its
	// position reads the refusal too.
	x = w.do(t, "POST", w.path("/accounts"), w.partnerKey, account)
	wantStatus(t, x, http.StatusCreated)
	var acc struct {
		CreatedBy projections.AuditActor `json:"created_by"`
	}
	x.decode(t, &acc)
	w.adminUser = *acc.CreatedBy.ID
	x = w.do(t, "POST", w.path("/users"), w.adminKey, `{"name":"Aud","role":"auditor"}`)
	wantStatus(t, x, http.StatusCreated)
	var u struct{ Key string }
	x.decode(t, &u)
	w.auditor = u.Key
	return w
}

func TestAccessReview(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t)
	var review projections.AccessReview
	w.do(t, "GET", w.path("/reports/access-review"), w.auditor, "").decode(t, &review)
	want := []uuid.UUID{w.partner, w.other}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	if got := review.PartnerIDs(); !slices.Equal(got, want) {
		t.Fatalf("partners %v, want %v", got, want)
	}
	if !review.RefusalsSince.Equal(review.AsOf.Add(-projections.RefusalWindow)) {
		t.Errorf("refusals since %s, as of %s: want 30 days before", review.RefusalsSince, review.AsOf)
	}
	for _, p := range review.Partners {
		switch p.PartnerID {
		case w.partner:
			checkResell(t, w, p)
		case w.other:
			if p.Grant.Status != domain.AccessRevoked || p.Name != "=SUM(A1)" || len(p.Users) != 1 ||
				p.Users[0].ID != w.otherAdmin || p.Users[0].LastAction != nil || p.Refusals.Count != 0 {
				t.Errorf("the revoked partner = %+v", p)
			}
		}
	}

	var own projections.AccessReview
	w.do(t, "GET", w.path("/reports/access-review"), w.partnerKey, "").decode(t, &own)
	if got := own.PartnerIDs(); !slices.Equal(got, []uuid.UUID{w.partner}) {
		t.Errorf("the partner's admin sees partners %v, want only its own", got)
	}
	wantStatus(t, w.do(t, "GET", w.path("/reports/access-review"), w.viewerKey, ""), http.StatusForbidden)
}

// checkResell checks the review of the partner granted access.
func checkResell(t *testing.T, w *reviewWorld, p projections.AccessReviewPartner) {
	t.Helper()
	if p.Name != "Resell" || p.Grant.Status != domain.AccessActive || p.Grant.Role != domain.RolePartnerAdmin || !p.Grant.AllAccounts {
		t.Errorf("grant of %s = %+v", p.Name, p.Grant)
	}
	if len(p.Users) != 2 {
		t.Fatalf("users %+v, want the admin and the viewer", p.Users)
	}
	for _, u := range p.Users {
		switch u.ID {
		case w.adminUser:
			if u.Role != domain.RolePartnerAdmin || u.LastAction == nil || u.LastAction.Type != "AccountCreated" {
				t.Errorf("the admin = %+v, last action %+v", u, u.LastAction)
			}
		case w.viewer:
			if u.Role != domain.RolePartnerViewer || u.Status != domain.UserActive || u.LastAction != nil {
				t.Errorf("the viewer = %+v: a refusal is no action", u)
			}
		default:
			t.Errorf("unknown user %+v", u)
		}
	}
	r := p.Refusals
	if r.Count != 1 || len(r.Latest) != 1 || r.Latest[0].Permission != string(domain.PermAccountsCreate) ||
		r.Latest[0].Actor.ID == nil || *r.Latest[0].Actor.ID != w.viewer || r.Latest[0].Count != 1 {
		t.Errorf("refusals = %+v", r)
	}
}

func TestAccessReviewCSV(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t)
	x := w.do(t, "GET", w.path("/reports/access-review"), w.auditor, "", "Accept", "text/csv")
	wantStatus(t, x, http.StatusOK)
	if ct := x.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("Content-Type = %q, want text/csv", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(x.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !slices.Equal(rows[0], auditexport.AccessReviewCSVHeader) {
		t.Fatalf("rows %q: want the header, two rows of Resell's users and one of the other partner", rows)
	}
	col := func(name string) int { return slices.Index(auditexport.AccessReviewCSVHeader, name) }
	byUser := map[string][]string{}
	for _, row := range rows[1:] {
		byUser[row[col("user_id")]] = row
	}
	other := byUser[w.otherAdmin.String()]
	if other == nil || other[col("partner_name")] != "'=SUM(A1)" || other[col("grant_status")] != "revoked" || other[col("last_action_at")] != "" {
		t.Errorf("the other partner's row = %q", other)
	}
	viewer := byUser[w.viewer.String()]
	if viewer == nil || viewer[col("refusals_30d")] != "1" || viewer[col("user_role")] != "partner_viewer" || viewer[col("last_refusal_at")] == "" {
		t.Errorf("the viewer's row = %q", viewer)
	}
	admin := byUser[w.adminUser.String()]
	if admin == nil || admin[col("last_action_type")] != "AccountCreated" || admin[col("all_accounts")] != "true" {
		t.Errorf("the admin's row = %q", admin)
	}
}
