package http

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"ledger/audit"
	"ledger/commands"
	"ledger/domain"
)

// The routes of tamper evidence (docs/audit.md): a tenant's signed
// checkpoint, and inclusion and consistency proofs of its tree. Hashes are
// base64 (standard, padded), as in the checkpoint's note.

// checkpointBody is GET …/audit/checkpoint.
type checkpointBody struct {
	TreeSize   uint64 `json:"tree_size"`
	RootHash   []byte `json:"root_hash"`
	SignedNote string `json:"signed_note"`
}

// inclusionBody is GET …/audit/proof: hashes from the leaf's sibling up.
type inclusionBody struct {
	EventID   uuid.UUID `json:"event_id"`
	LeafIndex uint64    `json:"leaf_index"`
	TreeSize  uint64    `json:"tree_size"`
	LeafHash  []byte    `json:"leaf_hash"`
	Hashes    [][]byte  `json:"hashes"`
}

// consistencyBody is GET …/audit/consistency.
type consistencyBody struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// auditStore is d.Audit, or without it a store that reads the trees and
// checkpoints in d.Pool and neither appends nor signs.
func auditStore(d Deps) *audit.Store {
	if d.Audit != nil || d.Pool == nil {
		return d.Audit
	}
	return audit.NewStore(d.Pool, nil, nil, d.Logger)
}

// auditTrustRead authorizes an audit read of the tenant's tree.
func (s *server) auditTrustRead(c echo.Context, resource string) (commands.Request, error) {
	if s.audit == nil {
		return commands.Request{}, echo.NewHTTPError(http.StatusServiceUnavailable, "tamper evidence is not configured")
	}
	req, _, err := s.tenantRead(c, domain.PermAuditRead, resource)
	return req, err
}

// auditCheckpoint answers the tenant's latest checkpoint, signing a fresh
// one first if its tree grew since.
func (s *server) auditCheckpoint(c echo.Context) error {
	req, err := s.auditTrustRead(c, "audit/checkpoint")
	if err != nil {
		return err
	}
	cp, err := s.audit.Checkpoint(c.Request().Context(), req.TenantID.String())
	if errors.Is(err, audit.ErrNotFound) {
		return domain.NotFound("checkpoint")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, checkpointBody{TreeSize: cp.TreeSize, RootHash: cp.RootHash, SignedNote: cp.SignedNote})
}

// auditProof answers the inclusion proof of ?event_id= in the tenant's
// tree at ?tree_size= (by default, the size of a checkpoint taken now). A
// partner sees the proofs of its own partner's actions only: any other
// event is not found.
func (s *server) auditProof(c echo.Context) error {
	id, err := queryID(c, "event_id")
	if err != nil {
		return err
	}
	if id == nil {
		return domain.Invalid("event_id", "is required")
	}
	size, err := querySize(c, "tree_size")
	if err != nil {
		return err
	}
	req, err := s.auditTrustRead(c, "audit/proof")
	if err != nil {
		return err
	}
	ctx, tenant := c.Request().Context(), req.TenantID.String()
	if size == nil {
		cp, err := s.audit.Checkpoint(ctx, tenant)
		if errors.Is(err, audit.ErrNotFound) {
			return domain.NotFound("checkpoint")
		}
		if err != nil {
			return err
		}
		size = &cp.TreeSize
	}
	leaf, err := s.audit.FindLeaf(ctx, tenant, *id)
	if errors.Is(err, audit.ErrNotFound) {
		// Perhaps committed but not appended yet: append, then look again.
		if _, err = s.audit.CatchUpOnDemand(ctx); err == nil {
			leaf, err = s.audit.FindLeaf(ctx, tenant, *id)
		}
	}
	if errors.Is(err, audit.ErrNotFound) ||
		(err == nil && domain.AuditScopeOwnPartnerOnly(req.Principal) && leaf.PartnerID != req.Principal.PartnerID.String()) {
		return domain.NotFound("event")
	}
	if err != nil {
		return err
	}
	if leaf.Index >= *size {
		return domain.Invalid("tree_size", "the event is leaf %d: a tree of %d leaves does not hold it", leaf.Index, *size)
	}
	hashes, err := s.audit.InclusionProof(ctx, tenant, leaf.Index, *size)
	if err != nil {
		return treeSizeError(err, "tree_size")
	}
	return c.JSON(http.StatusOK, inclusionBody{EventID: *id, LeafIndex: leaf.Index, TreeSize: *size, LeafHash: leaf.Hash, Hashes: hashes})
}

// auditConsistency answers the consistency proof of the tenant's tree
// from ?from= to ?to= leaves.
func (s *server) auditConsistency(c echo.Context) error {
	from, err := querySize(c, "from")
	if err != nil {
		return err
	}
	to, err := querySize(c, "to")
	if err != nil {
		return err
	}
	if from == nil || to == nil {
		return domain.Invalid("from", "from and to are both required: tree sizes")
	}
	if *from > *to {
		return domain.Invalid("from", "must be at most to")
	}
	req, err := s.auditTrustRead(c, "audit/consistency")
	if err != nil {
		return err
	}
	hashes, err := s.audit.ConsistencyProof(c.Request().Context(), req.TenantID.String(), *from, *to)
	if err != nil {
		return treeSizeError(err, "to")
	}
	return c.JSON(http.StatusOK, consistencyBody{From: *from, To: *to, Hashes: hashes})
}

// querySize reads an optional tree size.
func querySize(c echo.Context, name string) (*uint64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return nil, domain.Invalid(name, "must be a tree size: a whole number from 0")
	}
	return &n, nil
}

// treeSizeError turns a size beyond the tree into a refusal of field.
func treeSizeError(err error, field string) error {
	if errors.Is(err, audit.ErrTreeSize) {
		return domain.Invalid(field, "is beyond the tenant's tree")
	}
	return err
}
