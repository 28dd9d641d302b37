package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// AccessRequestStream is a partner's request for access to tenant, the
// tenant it names whether or not that tenant exists: a request is looked
// up under the tenant that decides it, and under no other.
func AccessRequestStream(tenant, request uuid.UUID) string {
	return "accessrequest-" + tenant.String() + "-" + request.String()
}

// RequestAccess is a partner's request for access to a tenant: the terms
// it asks for, for duration_days.
type RequestAccess struct {
	TenantID     uuid.UUID           `json:"tenant_id"`
	Role         domain.Role         `json:"role"`
	AllAccounts  bool                `json:"all_accounts"`
	AccountIDs   []uuid.UUID         `json:"account_ids"`
	Actions      []domain.Permission `json:"actions,omitempty"`
	DurationDays int                 `json:"duration_days"`
	Message      string              `json:"message,omitempty"`
}

// ApproveAccessRequest is a tenant's approval of a request, narrowing it:
// a field left out keeps what the request asked.
type ApproveAccessRequest struct {
	Role         *domain.Role        `json:"role,omitempty"`
	AllAccounts  *bool               `json:"all_accounts,omitempty"`
	AccountIDs   []uuid.UUID         `json:"account_ids"`
	Actions      []domain.Permission `json:"actions"`
	DurationDays *int                `json:"duration_days,omitempty"`
}

// RejectAccessRequest is a tenant's rejection of a request.
type RejectAccessRequest struct {
	Reason string `json:"reason,omitempty"`
}

// errTenantAppeared: the tenant a request names was created between the
// look-up that set the request's audit tenant and its decision; the
// request is made again, recorded in that tenant's log.
var errTenantAppeared = errors.New("the tenant named appeared meanwhile")

// RequestAccess records partner's request for access to the tenant cmd
// names (a partner_admin of it). The answer is the same whether the
// tenant exists or not, so that no partner learns which tenants exist;
// only a request naming an existing tenant carries it as its events'
// tenant, and so appears in that tenant's audit log and lists.
func (s *Service) RequestAccess(ctx context.Context, req Request, partnerID uuid.UUID, cmd RequestAccess) (Outcome[domain.AccessRequest], error) {
	id := s.newID()
	stream := AccessRequestStream(cmd.TenantID, id)
	known, err := s.tenantExists(ctx, cmd.TenantID)
	if err != nil {
		return Outcome[domain.AccessRequest]{}, err
	}
	for {
		req.TenantID = uuid.Nil
		if known {
			req.TenantID = cmd.TenantID
		}
		c := command{
			name: "RequestAccess", input: struct {
				Partner uuid.UUID
				Request RequestAccess
			}{partnerID, cmd},
			scope: PartnerStream(partnerID), writes: []string{stream},
			reads: []string{stream, PartnerStream(partnerID), TenantStream(cmd.TenantID)},
			decide: func(ctx context.Context, v *view, req Request, now time.Time) (decision, error) {
				if err := domain.AuthorizeAccessRequest(req.Principal, partnerID); err != nil {
					req.authorized(false)
					return decision{}, err
				}
				req.authorized(true)
				p, _, err := load[domain.Partner](ctx, v, PartnerStream(partnerID))
				if err != nil {
					return decision{}, err
				}
				if !p.Exists() {
					return decision{}, domain.NotFound("partner")
				}
				t, _, err := load[domain.Tenant](ctx, v, TenantStream(cmd.TenantID))
				if err != nil {
					return decision{}, err
				}
				if cmd.TenantID != uuid.Nil && t.Exists() != known {
					return decision{}, errTenantAppeared
				}
				r, version, err := load[domain.AccessRequest](ctx, v, stream)
				if err != nil {
					return decision{}, err
				}
				events, err := r.Request(domain.RequestAccess{RequestID: id, TenantID: cmd.TenantID, PartnerID: partnerID,
					Terms: domain.AccessTerms{Role: cmd.Role, AllAccounts: cmd.AllAccounts, AccountIDs: cmd.AccountIDs,
						Actions: cmd.Actions, DurationDays: cmd.DurationDays}, Message: cmd.Message}, req.Principal.Actor(), now)
				if err != nil {
					return decision{}, err
				}
				return decision{writes: []write{{stream: stream, version: version, events: events}}}, nil
			},
		}
		c.record = recordRequest(stream)
		out, err := s.runRequest(ctx, req, c, stream)
		if errors.Is(err, errTenantAppeared) && !known {
			known = true
			continue
		}
		return out, err
	}
}

// ApproveAccessRequest approves request id of req's tenant
// (partners.manage), narrowed by cmd, and in the same append sets the
// partner's grant as PUT …/access would, expiring the approved duration
// from now: both streams are appended to at the versions decided on.
func (s *Service) ApproveAccessRequest(ctx context.Context, req Request, id uuid.UUID, cmd ApproveAccessRequest) (Outcome[domain.AccessRequest], error) {
	stream := AccessRequestStream(req.TenantID, id)
	writes := []string{stream}
	// The partner of a request never changes: its grant's stream can be
	// named, and its writers take turns, before the decision.
	if partner, err := s.requestPartner(ctx, stream); err != nil {
		return Outcome[domain.AccessRequest]{}, err
	} else if partner != uuid.Nil {
		writes = append(writes, AccessStream(req.TenantID, partner))
	}
	c := command{
		name: "ApproveAccessRequest", input: struct {
			Request  uuid.UUID
			Approval ApproveAccessRequest
		}{id, cmd},
		scope: TenantStream(req.TenantID), writes: writes,
		reads: append([]string{TenantStream(req.TenantID)}, writes...),
		decide: func(ctx context.Context, v *view, req Request, now time.Time) (decision, error) {
			r, version, err := s.pendingDecision(ctx, v, req, id, "approve", now)
			if err != nil {
				return decision{}, err
			}
			events, err := r.Approve(domain.ApprovalTerms{Role: cmd.Role, AllAccounts: cmd.AllAccounts, AccountIDs: cmd.AccountIDs,
				Actions: cmd.Actions, DurationDays: cmd.DurationDays}, req.Principal.Actor(), now)
			if err != nil {
				return decision{}, err
			}
			grantStream := AccessStream(req.TenantID, r.PartnerID)
			grant, grantVersion, err := load[domain.PartnerAccess](ctx, v, grantStream)
			if err != nil {
				return decision{}, err
			}
			granted, err := grant.Put(events[0].(*domain.AccessRequestApproved).GrantTerms(), req.Principal.Actor(), now)
			if err != nil {
				return decision{}, err
			}
			return decision{writes: []write{
				{stream: stream, version: version, events: events},
				{stream: grantStream, version: grantVersion, events: granted},
			}}, nil
		},
		record: recordRequest(stream),
	}
	return s.runRequest(ctx, req, c, stream)
}

// RejectAccessRequest rejects request id of req's tenant
// (partners.manage).
func (s *Service) RejectAccessRequest(ctx context.Context, req Request, id uuid.UUID, cmd RejectAccessRequest) (Outcome[domain.AccessRequest], error) {
	stream := AccessRequestStream(req.TenantID, id)
	c := command{
		name: "RejectAccessRequest", input: struct {
			Request   uuid.UUID
			Rejection RejectAccessRequest
		}{id, cmd},
		scope: TenantStream(req.TenantID), writes: []string{stream},
		reads: []string{stream, TenantStream(req.TenantID)},
		decide: func(ctx context.Context, v *view, req Request, now time.Time) (decision, error) {
			r, version, err := s.pendingDecision(ctx, v, req, id, "reject", now)
			if err != nil {
				return decision{}, err
			}
			events, err := r.Reject(cmd.Reason, req.Principal.Actor(), now)
			if err != nil {
				return decision{}, err
			}
			return decision{writes: []write{{stream: stream, version: version, events: events}}}, nil
		},
		record: recordRequest(stream),
	}
	return s.runRequest(ctx, req, c, stream)
}

// pendingDecision authorizes a decision on request id of req's tenant and
// loads the request: one of another tenant, or none, is NotFound; one at
// another version than req's If-Match is a failed precondition.
func (s *Service) pendingDecision(ctx context.Context, v *view, req Request, id uuid.UUID, verb string, now time.Time) (*domain.AccessRequest, uint64, error) {
	if err := s.authorizeRequests(ctx, v, req, "access-requests/"+id.String()+"/"+verb, now); err != nil {
		return nil, 0, err
	}
	t, _, err := load[domain.Tenant](ctx, v, TenantStream(req.TenantID))
	if err != nil {
		return nil, 0, err
	}
	if !t.Exists() {
		return nil, 0, domain.NotFound("tenant")
	}
	r, version, err := load[domain.AccessRequest](ctx, v, AccessRequestStream(req.TenantID, id))
	if err != nil {
		return nil, 0, err
	}
	if !r.Exists() || r.TenantID != req.TenantID {
		return nil, 0, domain.NotFound("access request")
	}
	if req.IfMatch != nil && *req.IfMatch != version && !req.replaying() {
		return nil, 0, precondition(version, *req.IfMatch)
	}
	return r, version, nil
}

// authorizeRequests authorizes partners.manage over req's tenant's access
// requests. A partner's user gets NotFound where its role lacks the
// permission: the tenant's requests are not the partner's to see (it
// lists its own under its partner); the refusal is audited all the same.
func (s *Service) authorizeRequests(ctx context.Context, v *view, req Request, resource string, now time.Time) error {
	a := access{perm: domain.PermPartnersManage, resource: resource}
	_, err := s.authorize(ctx, v, req, a, now)
	var derr *domain.Error
	if err == nil || req.Principal.Type != domain.ActorPartnerUser || !errors.As(err, &derr) || derr.Code != domain.CodeForbidden {
		return err
	}
	grant, gerr := grantOf(ctx, v, req)
	if gerr != nil {
		return gerr
	}
	return deny(req, grant, a, domain.NotFound("access request"))
}

// AuthorizeAccessRequestsRead authorizes listing req's tenant's access
// requests (partners.manage), as authorizeRequests decides.
func (s *Service) AuthorizeAccessRequestsRead(ctx context.Context, req Request) error {
	return s.query(ctx, req, func(ctx context.Context, v *view, now time.Time) error {
		return s.authorizeRequests(ctx, v, req, "access-requests", now)
	})
}

// tenantExists reads tenant's stream from the store.
func (s *Service) tenantExists(ctx context.Context, tenant uuid.UUID) (bool, error) {
	if tenant == uuid.Nil {
		return false, nil
	}
	v := s.newView()
	t, _, err := load[domain.Tenant](ctx, v, TenantStream(tenant))
	if err != nil {
		return false, err
	}
	return t.Exists(), nil
}

// requestPartner returns the partner of the request of stream, uuid.Nil
// when there is none.
func (s *Service) requestPartner(ctx context.Context, stream string) (uuid.UUID, error) {
	r, _, err := load[domain.AccessRequest](ctx, s.newView(), stream)
	if err != nil {
		return uuid.Nil, err
	}
	return r.PartnerID, nil
}

// recordRequest is what an idempotency key keeps of a decision on the
// request of stream, the first stream of every write.
func recordRequest(stream string) func(v *view, d decision) ([]byte, error) {
	return func(v *view, d decision) ([]byte, error) {
		rec := keyedResult{Stream: stream, Created: created(d)}
		if d.empty() {
			rec.Version, rec.Position = v.streams[stream].version, uint64(v.position(stream))
		}
		return json.Marshal(rec)
	}
}

// runRequest executes c, whose first write (when it decides any) is to
// the request of stream, and returns the request as c left it, or for a
// replayed idempotency key as the first request left it.
func (s *Service) runRequest(ctx context.Context, req Request, c command, stream string) (Outcome[domain.AccessRequest], error) {
	v := s.newView()
	ex, err := s.execute(ctx, v, req, c)
	if err != nil {
		return Outcome[domain.AccessRequest]{}, err
	}
	if ex.res.Replayed {
		return replay[domain.AccessRequest](ctx, s, ex.res)
	}
	r, version, err := load[domain.AccessRequest](ctx, v, stream)
	if err != nil {
		return Outcome[domain.AccessRequest]{}, err
	}
	out := Outcome[domain.AccessRequest]{State: r, Stream: stream, Version: version, Position: v.position(stream), Principal: ex.principal}
	if ex.decision.empty() {
		return out, nil
	}
	for _, e := range ex.decision.writes[0].events {
		r.Apply(e)
	}
	out.Version, out.Position, out.Created = ex.res.Version, ex.res.Position, created(ex.decision)
	if len(ex.decision.writes) == 1 { // else the position is another stream's
		v.advance(stream, r.Clone(), out.Version, out.Position)
	}
	return out, nil
}
