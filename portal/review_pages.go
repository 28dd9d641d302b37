package portal

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/projections"
)

// reviewData is the access review page's.
type reviewData struct {
	Tenant uuid.UUID
	Review projections.AccessReview
}

// accessReview shows who can do what on the tenant and when they last
// acted, as GET /v1/tenants/{t}/reports/access-review answers the caller:
// per partner its grant, its users with their last action, and its
// refused attempts of the last 30 days; a partner user sees its own
// partner only.
func (p *Portal) accessReview(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	review, grant, err := p.readAccessReview(r.Context(), req)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	p.render(w, r, http.StatusOK, "access-review",
		p.tenantView(c, req.TenantID, grant, "Access review", reviewData{Tenant: req.TenantID, Review: review}))
}

// accessReviewCSV downloads the access review as the API's CSV: a row per
// partner and user, under the API's header.
func (p *Portal) accessReviewCSV(w http.ResponseWriter, r *http.Request, c caller) {
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	review, _, err := p.readAccessReview(r.Context(), req)
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="access-review-%s.csv"`, req.TenantID))
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(accessReviewCSVHeader) // a failed write shows in cw.Error
	for _, partner := range review.Partners {
		for _, row := range accessReviewRows(partner) {
			_ = cw.Write(row)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		p.logger.WarnContext(r.Context(), "portal access review cut short", "request_id", requestID(w), "error", err)
	}
}

// readAccessReview authorizes and reads the access review as the API
// does: the grants, last actions and refusals in one snapshot of the read
// models, the partners' users from the event log just before it.
func (p *Portal) readAccessReview(ctx context.Context, req commands.Request) (projections.AccessReview, *domain.PartnerAccess, error) {
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermAuditRead, "reports/access-review")
	if err != nil {
		return projections.AccessReview{}, nil, err
	}
	var only *uuid.UUID
	if domain.AuditScopeOwnPartnerOnly(req.Principal) {
		only = &req.Principal.PartnerID
	}
	now := p.now()
	review, err := projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AccessReview, error) {
		return projections.AccessReviewGrants(ctx, db, req.TenantID, only, now)
	})
	if err != nil {
		return review, nil, err
	}
	users, err := p.cmds.PartnerUsers(ctx, review.PartnerIDs())
	if err != nil {
		return review, nil, err
	}
	review, err = projections.Snapshot(ctx, p.pool, func(db projections.Querier) (projections.AccessReview, error) {
		return review, review.Complete(ctx, db, req.TenantID, users)
	})
	return review, grant, err
}

// accessReviewCSVHeader is the API's header of the access review as CSV
// (http.AccessReviewCSVHeader).
var accessReviewCSVHeader = []string{"partner_id", "partner_name", "grant_role", "all_accounts", "account_ids", "actions",
	"grant_status", "expires_at", "user_id", "user_name", "user_role", "user_status", "last_action_at",
	"last_action_type", "last_action_position", "refusals_30d", "last_refusal_at"}

// accessReviewRows are the CSV rows of one partner, as the API writes
// them: a row per user (one with the user's cells empty when it has
// none), the grant and the refusals repeated on each.
func accessReviewRows(p projections.AccessReviewPartner) [][]string {
	g := p.Grant
	ids := make([]string, len(g.AccountIDs))
	for i, id := range g.AccountIDs {
		ids[i] = id.String()
	}
	actions := make([]string, len(g.Actions))
	for i, a := range g.Actions {
		actions[i] = string(a)
	}
	lastRefusal, expires := "", ""
	if len(p.Refusals.Latest) > 0 {
		lastRefusal = auditCSVInstant(p.Refusals.Latest[0].OccurredAt)
	}
	if g.ExpiresAt != nil {
		expires = auditCSVInstant(*g.ExpiresAt)
	}
	grant := []string{p.PartnerID.String(), auditCSVText(p.Name), string(g.Role), strconv.FormatBool(g.AllAccounts),
		strings.Join(ids, " "), strings.Join(actions, " "), string(g.Status), expires}
	refusals := []string{strconv.FormatInt(p.Refusals.Count, 10), lastRefusal}
	if len(p.Users) == 0 {
		return [][]string{reviewConcat(grant, make([]string, 7), refusals)}
	}
	rows := make([][]string, len(p.Users))
	for i, u := range p.Users {
		user := []string{u.ID.String(), auditCSVText(u.Name), string(u.Role), string(u.Status), "", "", ""}
		if a := u.LastAction; a != nil {
			user[4], user[5], user[6] = auditCSVInstant(a.OccurredAt), a.Type, strconv.FormatUint(uint64(a.Position), 10)
		}
		rows[i] = reviewConcat(grant, user, refusals)
	}
	return rows
}

// reviewConcat joins the parts of a row.
func reviewConcat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
