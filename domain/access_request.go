package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// Codes of the refusals of access requests.
const (
	// CodeRequestNotPending refuses a decision on a request that is no
	// longer pending: decided already, or expired.
	CodeRequestNotPending = "request_not_pending"
	// CodeApprovalWidensRequest refuses an approval that grants more than
	// the partner asked for: a tenant may only narrow a request.
	CodeApprovalWidensRequest = "approval_widens_request"
)

// Bounds of access requests.
const (
	// AccessRequestPendingFor is how long a request waits for the tenant's
	// decision before it expires.
	AccessRequestPendingFor = 30 * 24 * time.Hour
	// MaxAccessDurationDays bounds the duration of the access a request
	// asks for, and so of the grant an approval sets.
	MaxAccessDurationDays  = 730
	maxRequestMessageChars = 1000
	maxRejectReasonChars   = 500
)

// AccessRequestStatus is an access request's status at an instant.
type AccessRequestStatus string

// The statuses of an access request. A request that does not exist has
// the empty status.
const (
	RequestPending  AccessRequestStatus = "pending"
	RequestApproved AccessRequestStatus = "approved"
	RequestRejected AccessRequestStatus = "rejected"
	RequestExpired  AccessRequestStatus = "expired"
)

// AccessTerms is what a request asks for, or what its approval grants:
// a grant's terms, with a duration in days instead of an expiry.
type AccessTerms struct {
	Role         Role
	AllAccounts  bool
	AccountIDs   []uuid.UUID
	Actions      []Permission
	DurationDays int
}

// RequestAccess is a partner's request for access to a tenant.
type RequestAccess struct {
	RequestID uuid.UUID
	TenantID  uuid.UUID
	PartnerID uuid.UUID
	Terms     AccessTerms
	Message   string
}

// ApprovalTerms narrow a request on approval: a nil field keeps what the
// request asked; AccountIDs without AllAccounts means a list of accounts.
type ApprovalTerms struct {
	Role         *Role
	AllAccounts  *bool
	AccountIDs   []uuid.UUID
	Actions      []Permission
	DurationDays *int
}

// AccessRequest is a partner's request for access to a tenant and the
// tenant's decision; its stream is per (tenant named, request). Decision
// is empty while it waits; Granted and GrantExpiresAt hold what an
// approval granted.
type AccessRequest struct {
	ID             uuid.UUID
	TenantID       uuid.UUID
	PartnerID      uuid.UUID
	Terms          AccessTerms
	Message        string
	RequestedBy    Actor
	RequestedAt    time.Time
	ExpiresAt      time.Time
	Decision       AccessRequestStatus
	Granted        AccessTerms
	GrantExpiresAt time.Time
	DecidedBy      Actor
	DecidedAt      time.Time
	Reason         string
	Version        uint64
}

// AccessRequested records a partner's request for access to a tenant;
// expires_at is when it expires undecided.
type AccessRequested struct {
	RequestID    uuid.UUID    `json:"request_id"`
	TenantID     uuid.UUID    `json:"tenant_id"`
	PartnerID    uuid.UUID    `json:"partner_id"`
	Role         Role         `json:"role"`
	AllAccounts  bool         `json:"all_accounts"`
	AccountIDs   []uuid.UUID  `json:"account_ids"`
	Actions      []Permission `json:"actions"`
	DurationDays int          `json:"duration_days"`
	Message      string       `json:"message"`
	RequestedBy  Actor        `json:"requested_by"`
	RequestedAt  time.Time    `json:"requested_at"`
	ExpiresAt    time.Time    `json:"expires_at"`
}

// AccessRequestApproved records the tenant's approval of a request with
// the terms it granted (the request's or narrower); the grant they set
// expires at grant_expires_at.
type AccessRequestApproved struct {
	RequestID      uuid.UUID    `json:"request_id"`
	TenantID       uuid.UUID    `json:"tenant_id"`
	PartnerID      uuid.UUID    `json:"partner_id"`
	Role           Role         `json:"role"`
	AllAccounts    bool         `json:"all_accounts"`
	AccountIDs     []uuid.UUID  `json:"account_ids"`
	Actions        []Permission `json:"actions"`
	DurationDays   int          `json:"duration_days"`
	GrantExpiresAt time.Time    `json:"grant_expires_at"`
	ApprovedBy     Actor        `json:"approved_by"`
	ApprovedAt     time.Time    `json:"approved_at"`
}

// AccessRequestRejected records the tenant's rejection of a request.
type AccessRequestRejected struct {
	RequestID  uuid.UUID `json:"request_id"`
	TenantID   uuid.UUID `json:"tenant_id"`
	PartnerID  uuid.UUID `json:"partner_id"`
	Reason     string    `json:"reason"`
	RejectedBy Actor     `json:"rejected_by"`
	RejectedAt time.Time `json:"rejected_at"`
}

// EventType implements Event.
func (*AccessRequested) EventType() string { return "AccessRequested" }

// EventType implements Event.
func (*AccessRequestApproved) EventType() string { return "AccessRequestApproved" }

// EventType implements Event.
func (*AccessRequestRejected) EventType() string { return "AccessRequestRejected" }

func init() {
	register(
		func() Event { return &AccessRequested{} },
		func() Event { return &AccessRequestApproved{} },
		func() Event { return &AccessRequestRejected{} },
	)
}

// GrantTerms returns the grant an approval sets, as PUT …/access would
// set it.
func (e *AccessRequestApproved) GrantTerms() GrantTerms {
	exp := e.GrantExpiresAt
	return GrantTerms{TenantID: e.TenantID, PartnerID: e.PartnerID, Role: e.Role, AllAccounts: e.AllAccounts,
		AccountIDs: slices.Clone(e.AccountIDs), Actions: slices.Clone(e.Actions), ExpiresAt: &exp}
}

// AuthorizeAccessRequest decides whether p may ask for access on behalf
// of partner partnerID: a partner_admin of it, the operator or the
// system. Another user of the partner is Forbidden; anyone else gets
// NotFound.
func AuthorizeAccessRequest(p Principal, partnerID uuid.UUID) error {
	if err := AuthorizePartnerMember(p, partnerID); err != nil {
		return err
	}
	if p.Type == ActorPartnerUser && p.Role != RolePartnerAdmin {
		return Forbidden(CodeForbidden, "only a partner_admin may request access; role %s may not", p.Role)
	}
	return nil
}

// Exists reports whether the request was ever made.
func (r *AccessRequest) Exists() bool { return r.ID != uuid.Nil }

// StatusAt returns the request's status at instant now: its decision,
// else expired once expires_at <= now, else pending. It is monotonic in
// now.
func (r *AccessRequest) StatusAt(now time.Time) AccessRequestStatus {
	switch {
	case !r.Exists():
		return ""
	case r.Decision != "":
		return r.Decision
	case !now.Before(r.ExpiresAt):
		return RequestExpired
	}
	return RequestPending
}

// Apply evolves the request by one of its events.
func (r *AccessRequest) Apply(e Event) {
	r.Version++
	switch e := e.(type) {
	case *AccessRequested:
		r.ID, r.TenantID, r.PartnerID = e.RequestID, e.TenantID, e.PartnerID
		r.Terms = AccessTerms{Role: e.Role, AllAccounts: e.AllAccounts, AccountIDs: slices.Clone(e.AccountIDs),
			Actions: slices.Clone(e.Actions), DurationDays: e.DurationDays}
		r.Message, r.RequestedBy, r.RequestedAt, r.ExpiresAt = e.Message, e.RequestedBy, e.RequestedAt, e.ExpiresAt
	case *AccessRequestApproved:
		r.Decision = RequestApproved
		r.Granted = AccessTerms{Role: e.Role, AllAccounts: e.AllAccounts, AccountIDs: slices.Clone(e.AccountIDs),
			Actions: slices.Clone(e.Actions), DurationDays: e.DurationDays}
		r.GrantExpiresAt, r.DecidedBy, r.DecidedAt = e.GrantExpiresAt, e.ApprovedBy, e.ApprovedAt
	case *AccessRequestRejected:
		r.Decision, r.Reason, r.DecidedBy, r.DecidedAt = RequestRejected, e.Reason, e.RejectedBy, e.RejectedAt
	}
}

// Clone returns a deep copy of r.
func (r *AccessRequest) Clone() *AccessRequest {
	c := *r
	c.Terms.AccountIDs, c.Terms.Actions = slices.Clone(r.Terms.AccountIDs), slices.Clone(r.Terms.Actions)
	c.Granted.AccountIDs, c.Granted.Actions = slices.Clone(r.Granted.AccountIDs), slices.Clone(r.Granted.Actions)
	return &c
}

// Request decides a partner's request for access: its terms are checked
// as a grant's, its duration is 1..MaxAccessDurationDays days, and it
// expires undecided AccessRequestPendingFor after now. Times are kept to
// the microsecond, as the read models keep them.
func (r *AccessRequest) Request(cmd RequestAccess, by Actor, now time.Time) ([]Event, error) {
	if r.Exists() {
		return nil, Conflict("access request already made")
	}
	if cmd.RequestID == uuid.Nil {
		return nil, Invalid("id", "must be a UUID")
	}
	var f faults
	t, err := checkAccessTerms(cmd.TenantID, cmd.PartnerID, cmd.Terms, now)
	f.addErr(err)
	msg, merr := cleanRequestText("message", cmd.Message, maxRequestMessageChars)
	f.add(merr)
	if err := f.err(); err != nil {
		return nil, err
	}
	at := now.UTC().Truncate(time.Microsecond)
	return []Event{&AccessRequested{
		RequestID: cmd.RequestID, TenantID: cmd.TenantID, PartnerID: cmd.PartnerID, Role: t.Role,
		AllAccounts: t.AllAccounts, AccountIDs: t.AccountIDs, Actions: t.Actions, DurationDays: t.DurationDays,
		Message: msg, RequestedBy: by, RequestedAt: at, ExpiresAt: at.Add(AccessRequestPendingFor),
	}}, nil
}

// Approve decides the tenant's approval of a pending request with terms
// a narrows it to: the role no higher, the accounts a subset (all
// accounts may narrow to a list), the actions a subset (a request that
// names none may narrow to some), the duration no longer. Anything wider
// is refused with CodeApprovalWidensRequest, naming every field that
// widens. The grant it sets expires DurationDays after now.
func (r *AccessRequest) Approve(a ApprovalTerms, by Actor, now time.Time) ([]Event, error) {
	if err := r.checkPending(now); err != nil {
		return nil, err
	}
	t, err := checkAccessTerms(r.TenantID, r.PartnerID, r.approvedTerms(a), now)
	if err != nil {
		return nil, err
	}
	if err := r.checkNarrows(t); err != nil {
		return nil, err
	}
	at := now.UTC().Truncate(time.Microsecond)
	return []Event{&AccessRequestApproved{
		RequestID: r.ID, TenantID: r.TenantID, PartnerID: r.PartnerID, Role: t.Role, AllAccounts: t.AllAccounts,
		AccountIDs: t.AccountIDs, Actions: t.Actions, DurationDays: t.DurationDays,
		GrantExpiresAt: at.Add(time.Duration(t.DurationDays) * 24 * time.Hour), ApprovedBy: by, ApprovedAt: at,
	}}, nil
}

// Reject decides the tenant's rejection of a pending request, with an
// optional reason.
func (r *AccessRequest) Reject(reason string, by Actor, now time.Time) ([]Event, error) {
	if err := r.checkPending(now); err != nil {
		return nil, err
	}
	reason, err := cleanRequestText("reason", reason, maxRejectReasonChars)
	if err != nil {
		return nil, err
	}
	return []Event{&AccessRequestRejected{
		RequestID: r.ID, TenantID: r.TenantID, PartnerID: r.PartnerID, Reason: reason,
		RejectedBy: by, RejectedAt: now.UTC().Truncate(time.Microsecond),
	}}, nil
}

// checkPending refuses a decision on a request that does not exist
// (NotFound) or is not pending at now (CodeRequestNotPending).
func (r *AccessRequest) checkPending(now time.Time) error {
	if !r.Exists() {
		return NotFound("access request")
	}
	if status := r.StatusAt(now); status != RequestPending {
		return RuleError(CodeRequestNotPending, "the access request is %s, not pending", status)
	}
	return nil
}

// approvedTerms are the request's terms with a's narrowing applied.
func (r *AccessRequest) approvedTerms(a ApprovalTerms) AccessTerms {
	t := r.Terms
	t.AccountIDs, t.Actions = slices.Clone(t.AccountIDs), slices.Clone(t.Actions)
	if a.Role != nil {
		t.Role = *a.Role
	}
	switch {
	case a.AllAccounts != nil:
		t.AllAccounts = *a.AllAccounts
		if a.AccountIDs != nil || t.AllAccounts {
			t.AccountIDs = a.AccountIDs
		}
	case a.AccountIDs != nil:
		t.AllAccounts, t.AccountIDs = false, a.AccountIDs
	}
	if a.Actions != nil {
		t.Actions = a.Actions
	}
	if a.DurationDays != nil {
		t.DurationDays = *a.DurationDays
	}
	return t
}

// checkNarrows refuses approved terms t wider than the request's.
func (r *AccessRequest) checkNarrows(t AccessTerms) error {
	asked := r.Terms
	var fields []FieldError
	widens := func(field, format string, args ...any) {
		fields = append(fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if partnerRank[t.Role] > partnerRank[asked.Role] {
		widens("role", "%s is higher than the %s asked for", t.Role, asked.Role)
	}
	switch {
	case asked.AllAccounts:
	case t.AllAccounts:
		widens("all_accounts", "the request asked for a list of accounts, not all of them")
	default:
		for i, id := range t.AccountIDs {
			if !slices.Contains(asked.AccountIDs, id) {
				widens(fmt.Sprintf("account_ids[%d]", i), "account %s was not asked for", id)
			}
		}
	}
	switch {
	case len(asked.Actions) == 0:
	case len(t.Actions) == 0:
		widens("actions", "the request asked for some actions only, not every write of the role")
	default:
		for i, a := range t.Actions {
			if !slices.Contains(asked.Actions, a) {
				widens(fmt.Sprintf("actions[%d]", i), "action %s was not asked for", a)
			}
		}
	}
	if t.DurationDays > asked.DurationDays {
		widens("duration_days", "%d days is longer than the %d asked for", t.DurationDays, asked.DurationDays)
	}
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: ErrRule, Code: CodeApprovalWidensRequest,
		Message: "an approval may narrow the request, never widen it: " + fields[0].Field + ": " + fields[0].Message,
		Fields:  fields}
}

// checkAccessTerms validates terms of tenant and partner at now as a
// grant's terms, and the duration, and returns them normalized (ids and
// actions sorted, never nil).
func checkAccessTerms(tenant, partner uuid.UUID, t AccessTerms, now time.Time) (AccessTerms, error) {
	g, err := normalizeGrantTerms(GrantTerms{TenantID: tenant, PartnerID: partner, Role: t.Role,
		AllAccounts: t.AllAccounts, AccountIDs: t.AccountIDs, Actions: t.Actions}, now)
	var f faults
	f.addErr(err)
	if t.DurationDays < 1 || t.DurationDays > MaxAccessDurationDays {
		f.add(Invalid("duration_days", "must be from 1 to %d days", MaxAccessDurationDays))
	}
	if err := f.err(); err != nil {
		return AccessTerms{}, err
	}
	return AccessTerms{Role: g.Role, AllAccounts: g.AllAccounts, AccountIDs: g.AccountIDs, Actions: g.Actions,
		DurationDays: t.DurationDays}, nil
}

// cleanRequestText trims optional free text s of field, which may span
// lines but holds no other control or bidirectional-control character
// (CodeInvalidText), and has at most max characters.
func cleanRequestText(field, s string, max int) (string, *Error) {
	s, err := cleanMultiline(field, s, max)
	if err != nil {
		return "", err
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }) >= 0 {
		return "", RuleError(CodeInvalidText, "%s must not hold bidirectional-control characters", field).AtField(field)
	}
	return s, nil
}
