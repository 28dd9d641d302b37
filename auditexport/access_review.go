package auditexport

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/domain"
	"ledger/projections"
)

// UserDirectory gives the users of partners, as the event log has them
// (commands.Service).
type UserDirectory interface {
	// PartnerUsers returns the users of each of partners.
	PartnerUsers(ctx context.Context, partners []uuid.UUID) (map[uuid.UUID][]domain.User, error)
}

// ReadAccessReview reads who can do what on the tenant and when they last
// acted, as principal (authorized already) may see it at now: per
// partner, its grant, its users with their last action, and its refused
// attempts of the last 30 days; a partner's user sees its own partner
// only. The grants, last actions and refusals are read in one snapshot of
// the read models; the partners' users from users, just before it.
func ReadAccessReview(ctx context.Context, pool *pgxpool.Pool, users UserDirectory, tenant uuid.UUID,
	principal domain.Principal, now time.Time) (projections.AccessReview, error) {
	var only *uuid.UUID
	if domain.AuditScopeOwnPartnerOnly(principal) {
		only = &principal.PartnerID
	}
	review, err := projections.Snapshot(ctx, pool, func(db projections.Querier) (projections.AccessReview, error) {
		return projections.AccessReviewGrants(ctx, db, tenant, only, now)
	})
	if err != nil {
		return review, fmt.Errorf("read access review: %w", err)
	}
	byPartner, err := users.PartnerUsers(ctx, review.PartnerIDs())
	if err != nil {
		return review, fmt.Errorf("read access review: %w", err)
	}
	review, err = projections.Snapshot(ctx, pool, func(db projections.Querier) (projections.AccessReview, error) {
		return review, review.Complete(ctx, db, tenant, byPartner)
	})
	if err != nil {
		return review, fmt.Errorf("read access review: %w", err)
	}
	return review, nil
}

// AccessReviewCSVHeader is the header row of the access review as CSV:
// a row per partner and user (a partner without users has one row with
// the user's cells empty), the grant and the refusals repeated on each.
var AccessReviewCSVHeader = []string{"partner_id", "partner_name", "grant_role", "all_accounts", "account_ids", "actions",
	"grant_status", "expires_at", "user_id", "user_name", "user_role", "user_status", "last_action_at",
	"last_action_type", "last_action_position", "refusals_30d", "last_refusal_at"}

// WriteAccessReviewCSV writes review to w as CSV: AccessReviewCSVHeader,
// then the rows of each partner (AccessReviewRows).
func WriteAccessReviewCSV(w io.Writer, review projections.AccessReview) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(AccessReviewCSVHeader) // a failed write shows in cw.Error
	for _, p := range review.Partners {
		for _, row := range AccessReviewRows(p) {
			_ = cw.Write(row)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write access review: %w", err)
	}
	return nil
}

// AccessReviewRows are the CSV rows of one partner: a row per user (one
// with the user's cells empty when it has none), the grant and the
// refusals repeated on each.
func AccessReviewRows(p projections.AccessReviewPartner) [][]string {
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
		lastRefusal = csvInstant(p.Refusals.Latest[0].OccurredAt)
	}
	if g.ExpiresAt != nil {
		expires = csvInstant(*g.ExpiresAt)
	}
	grant := []string{p.PartnerID.String(), csvText(p.Name), string(g.Role), strconv.FormatBool(g.AllAccounts),
		strings.Join(ids, " "), strings.Join(actions, " "), string(g.Status), expires}
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

// concat joins the parts of a row.
func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
