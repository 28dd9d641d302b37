package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// Bounds of the access review.
const (
	// RefusalWindow is how far back the access review counts refused
	// attempts.
	RefusalWindow = 30 * 24 * time.Hour
	// LatestRefusals is how many of a partner's refused attempts the
	// access review lists, newest first.
	LatestRefusals = 5
)

// refusalTypes are the event types of refused requests.
var refusalTypes = []string{"AccessDenied", "AccessDeniedRepeated"}

// AccessReview answers who can do what on a tenant, and when they last
// acted (GET /v1/tenants/{t}/reports/access-review): per partner that
// holds or held a grant, the grant, its users and its refused attempts
// since RefusalsSince.
type AccessReview struct {
	AsOf          time.Time             `json:"as_of"`
	RefusalsSince time.Time             `json:"refusals_since"`
	Partners      []AccessReviewPartner `json:"partners"`
}

// AccessReviewPartner is one partner of an access review.
type AccessReviewPartner struct {
	PartnerID uuid.UUID            `json:"partner_id"`
	Name      string               `json:"name"`
	Grant     AccessView           `json:"grant"`
	Users     []AccessReviewUser   `json:"users"`
	Refusals  AccessReviewRefusals `json:"refusals"`
}

// AccessReviewUser is a user of a partner, with its own role (what it may
// do on the tenant is the lower of it and the grant's) and its latest
// action on the tenant, null when it never acted there.
type AccessReviewUser struct {
	ID         uuid.UUID           `json:"id"`
	Name       string              `json:"name"`
	Role       domain.Role         `json:"role"`
	Status     domain.UserStatus   `json:"status"`
	LastAction *AccessReviewAction `json:"last_action"`
}

// AccessReviewAction is the latest event a user acted in on the tenant,
// refusals left out.
type AccessReviewAction struct {
	Position   eventstore.Position `json:"position"`
	EventID    uuid.UUID           `json:"event_id"`
	Type       string              `json:"type"`
	OccurredAt time.Time           `json:"occurred_at"`
}

// AccessReviewRefusals are a partner's refused attempts on the tenant in
// the window: how many (an AccessDeniedRepeated counts its repeats), and
// the latest events recording them, newest first.
type AccessReviewRefusals struct {
	Count  int64                 `json:"count"`
	Latest []AccessReviewRefusal `json:"latest"`
}

// AccessReviewRefusal is one event recording refused attempts: Count is
// 1 for an AccessDenied, the repeats of an AccessDeniedRepeated.
type AccessReviewRefusal struct {
	Position   eventstore.Position `json:"position"`
	EventID    uuid.UUID           `json:"event_id"`
	OccurredAt time.Time           `json:"occurred_at"`
	Actor      AuditActor          `json:"actor"`
	Permission string              `json:"permission"`
	Resource   string              `json:"resource"`
	Reason     string              `json:"reason"`
	Count      int64               `json:"count"`
}

// AccessReviewGrants starts tenant's access review at now: every grant
// the tenant made (only partner's, when partner is not nil), with each
// status at now and the partner's name, ordered by partner id. Users and
// refusals are added by Complete.
func AccessReviewGrants(ctx context.Context, db Querier, tenant uuid.UUID, partner *uuid.UUID, now time.Time) (AccessReview, error) {
	for _, p := range []string{Partners{}.Name(), Audit{}.Name()} {
		if err := staleTenant(ctx, db, p, tenant); err != nil {
			return AccessReview{}, err
		}
	}
	review := AccessReview{AsOf: now.UTC(), RefusalsSince: now.Add(-RefusalWindow).UTC(), Partners: []AccessReviewPartner{}}
	rows, err := db.Query(ctx, `SELECT `+accessColumns+`, coalesce((SELECT name FROM `+table(LiveSchema, "partners")+` p
    WHERE p.partner_id = a.partner_id), '')
FROM `+table(LiveSchema, "partner_access")+` a WHERE tenant_id = $1 AND ($2::uuid IS NULL OR partner_id = $2)
ORDER BY partner_id`, tenant, partner)
	if err != nil {
		return AccessReview{}, fmt.Errorf("access review: %w", err)
	}
	review.Partners, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccessReviewPartner, error) {
		var name string
		grant, err := scanAccess(nameScanner{row, &name}, now)
		return AccessReviewPartner{PartnerID: grant.PartnerID, Name: name, Grant: grant,
			Users: []AccessReviewUser{}, Refusals: AccessReviewRefusals{Latest: []AccessReviewRefusal{}}}, err
	})
	if err != nil {
		return AccessReview{}, fmt.Errorf("access review: %w", err)
	}
	return review, nil
}

// nameScanner scans a row of accessColumns followed by a name.
type nameScanner struct {
	row  pgx.Row
	name *string
}

// Scan implements pgx.Row.
func (n nameScanner) Scan(dest ...any) error { return n.row.Scan(append(dest, n.name)...) }

// PartnerIDs returns the ids of the review's partners.
func (r AccessReview) PartnerIDs() []uuid.UUID {
	ids := make([]uuid.UUID, len(r.Partners))
	for i, p := range r.Partners {
		ids[i] = p.PartnerID
	}
	return ids
}

// Complete adds to r the users of each partner (from users, by partner
// id) with their last actions on tenant, and each partner's refused
// attempts since r.RefusalsSince, from the audit log.
func (r *AccessReview) Complete(ctx context.Context, db Querier, tenant uuid.UUID, users map[uuid.UUID][]domain.User) error {
	var ids []uuid.UUID
	for i := range r.Partners {
		for _, u := range users[r.Partners[i].PartnerID] {
			r.Partners[i].Users = append(r.Partners[i].Users, AccessReviewUser{ID: u.ID, Name: u.Name, Role: u.Role, Status: u.Status})
			ids = append(ids, u.ID)
		}
	}
	last, err := lastActions(ctx, db, tenant, ids)
	if err != nil {
		return err
	}
	for i := range r.Partners {
		for j, u := range r.Partners[i].Users {
			r.Partners[i].Users[j].LastAction = last[u.ID]
		}
	}
	return r.refusals(ctx, db, tenant)
}

// lastActions returns the latest event each user acted in on tenant,
// refusals left out; a user who never acted there is absent.
func lastActions(ctx context.Context, db Querier, tenant uuid.UUID, users []uuid.UUID) (map[uuid.UUID]*AccessReviewAction, error) {
	out := map[uuid.UUID]*AccessReviewAction{}
	if len(users) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT u.id, a.position, a.event_id, a.type, a.occurred_at
FROM unnest($2::uuid[]) AS u(id)
JOIN LATERAL (SELECT position, event_id, type, occurred_at FROM `+table(LiveSchema, "audit_log")+`
    WHERE tenant_id = $1 AND actor_id = u.id AND type <> ALL($3) ORDER BY position DESC LIMIT 1) a ON true`,
		tenant, users, refusalTypes)
	if err != nil {
		return nil, fmt.Errorf("access review: last actions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id       uuid.UUID
			a        AccessReviewAction
			position int64
		)
		if err := rows.Scan(&id, &position, &a.EventID, &a.Type, &a.OccurredAt); err != nil {
			return nil, fmt.Errorf("access review: last actions: %w", err)
		}
		a.Position, a.OccurredAt = eventstore.Position(position), a.OccurredAt.UTC()
		out[id] = &a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("access review: last actions: %w", err)
	}
	return out, nil
}

// refusals adds each partner's refused attempts since r.RefusalsSince:
// their count, and the latest LatestRefusals events recording them.
func (r *AccessReview) refusals(ctx context.Context, db Querier, tenant uuid.UUID) error {
	ids := r.PartnerIDs()
	if len(ids) == 0 {
		return nil
	}
	byPartner := map[uuid.UUID]*AccessReviewRefusals{}
	for i := range r.Partners {
		byPartner[r.Partners[i].PartnerID] = &r.Partners[i].Refusals
	}
	rows, err := db.Query(ctx, `SELECT actor_partner_id,
    sum(CASE WHEN type = 'AccessDeniedRepeated' THEN (data->>'count')::bigint ELSE 1 END)::bigint
FROM `+table(LiveSchema, "audit_log")+`
WHERE tenant_id = $1 AND actor_partner_id = ANY($2) AND type = ANY($3) AND occurred_at >= $4
GROUP BY actor_partner_id`, tenant, ids, refusalTypes, r.RefusalsSince)
	if err != nil {
		return fmt.Errorf("access review: refusals: %w", err)
	}
	var (
		partner uuid.UUID
		count   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&partner, &count}, func() error {
		byPartner[partner].Count = count
		return nil
	})
	if err != nil {
		return fmt.Errorf("access review: refusals: %w", err)
	}
	return r.latestRefusals(ctx, db, tenant, byPartner)
}

// latestRefusals adds the latest events of refused attempts of each
// partner of byPartner, newest first.
func (r *AccessReview) latestRefusals(ctx context.Context, db Querier, tenant uuid.UUID, byPartner map[uuid.UUID]*AccessReviewRefusals) error {
	rows, err := db.Query(ctx, `SELECT p.id, a.position, a.event_id, a.occurred_at, a.actor_type, a.actor_id, a.actor_partner_id, a.type, a.data
FROM unnest($2::uuid[]) AS p(id)
JOIN LATERAL (SELECT position, event_id, occurred_at, actor_type, actor_id, actor_partner_id, type, data
    FROM `+table(LiveSchema, "audit_log")+`
    WHERE tenant_id = $1 AND actor_partner_id = p.id AND type = ANY($3) AND occurred_at >= $4
    ORDER BY position DESC LIMIT $5) a ON true
ORDER BY p.id, a.position DESC`, tenant, r.PartnerIDs(), refusalTypes, r.RefusalsSince, LatestRefusals)
	if err != nil {
		return fmt.Errorf("access review: latest refusals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			partner  uuid.UUID
			f        AccessReviewRefusal
			position int64
			typ      string
			data     []byte
		)
		if err := rows.Scan(&partner, &position, &f.EventID, &f.OccurredAt, &f.Actor.Type, &f.Actor.ID,
			&f.Actor.PartnerID, &typ, &data); err != nil {
			return fmt.Errorf("access review: latest refusals: %w", err)
		}
		var d struct {
			Permission, Resource, Reason string
			Count                        int64
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return fmt.Errorf("access review: refusal at %d: %w", position, err)
		}
		f.Position, f.OccurredAt = eventstore.Position(position), f.OccurredAt.UTC()
		f.Permission, f.Resource, f.Reason, f.Count = d.Permission, d.Resource, d.Reason, max(d.Count, 1)
		if typ == "AccessDenied" {
			f.Count = 1
		}
		byPartner[partner].Latest = append(byPartner[partner].Latest, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("access review: latest refusals: %w", err)
	}
	return nil
}
