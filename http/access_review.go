package http

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/domain"
	"ledger/projections"
)

// accessReview answers who can do what on the tenant and when they last
// acted (GET …/reports/access-review, audit.read): per partner, its
// grant, its users with their last action, and its refused attempts of
// the last 30 days; with Accept: text/csv, a row per partner and user. A
// partner's user sees only its own partner. The grants, last actions and
// refusals are read in one snapshot of the read models; the partners'
// users from the event log, just before it.
func (s *server) accessReview(c echo.Context) error {
	csvWanted := exportFormat(c) == ExportCSV
	req, _, err := s.tenantRead(c, domain.PermAuditRead, "reports/access-review")
	if err != nil {
		return err
	}
	var only *uuid.UUID
	if domain.AuditScopeOwnPartnerOnly(req.Principal) {
		only = &req.Principal.PartnerID
	}
	ctx, now := c.Request().Context(), s.now()
	review, err := projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.AccessReview, error) {
		return projections.AccessReviewGrants(ctx, db, req.TenantID, only, now)
	})
	if err != nil {
		return err
	}
	users, err := s.commands.PartnerUsers(ctx, review.PartnerIDs())
	if err != nil {
		return err
	}
	review, err = projections.Snapshot(ctx, s.pool, func(db projections.Querier) (projections.AccessReview, error) {
		return review, review.Complete(ctx, db, req.TenantID, users)
	})
	if err != nil {
		return err
	}
	if csvWanted {
		return writeAccessReviewCSV(c, review)
	}
	return c.JSON(http.StatusOK, review)
}

// AccessReviewCSVHeader is the header row of the access review as CSV:
// a row per partner and user (a partner without users has one row with
// the user's cells empty), the grant and the refusals repeated on each.
var AccessReviewCSVHeader = []string{"partner_id", "partner_name", "grant_role", "all_accounts", "account_ids", "actions",
	"grant_status", "expires_at", "user_id", "user_name", "user_role", "user_status", "last_action_at",
	"last_action_type", "last_action_position", "refusals_30d", "last_refusal_at"}

// writeAccessReviewCSV answers review as CSV.
func writeAccessReviewCSV(c echo.Context, review projections.AccessReview) error {
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, mimeExportCSV+"; charset=utf-8")
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write(AccessReviewCSVHeader) // a failed write shows in w.Error
	for _, p := range review.Partners {
		for _, row := range accessReviewRows(p) {
			_ = w.Write(row)
		}
	}
	w.Flush()
	return w.Error()
}

// accessReviewRows are the CSV rows of one partner.
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
	lastRefusal := ""
	if len(p.Refusals.Latest) > 0 {
		lastRefusal = csvInstant(p.Refusals.Latest[0].OccurredAt)
	}
	grant := []string{p.PartnerID.String(), csvText(p.Name), string(g.Role), strconv.FormatBool(g.AllAccounts),
		strings.Join(ids, " "), strings.Join(actions, " "), string(g.Status), optionalInstant(g.ExpiresAt)}
	refusals := []string{strconv.FormatInt(p.Refusals.Count, 10), lastRefusal}
	if len(p.Users) == 0 {
		return [][]string{concat(grant, make([]string, 7), refusals)}
	}
	rows := make([][]string, len(p.Users))
	for i, u := range p.Users {
		user := []string{u.ID.String(), csvText(u.Name), string(u.Role), string(u.Status), "", "", ""}
		if a := u.LastAction; a != nil {
			user[4], user[5], user[6] = csvInstant(a.OccurredAt), a.Type, strconv.FormatUint(uint64(a.Position), 10)
		}
		rows[i] = concat(grant, user, refusals)
	}
	return rows
}

func optionalInstant(t *time.Time) string {
	if t == nil {
		return ""
	}
	return csvInstant(*t)
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
