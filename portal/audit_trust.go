package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"ledger/audit"
	"ledger/domain"
)

// trustData is the tamper-evidence page's.
type trustData struct {
	Tenant uuid.UUID
	// Served is false when the portal has no audit store: checkpoints are
	// not served here.
	Served bool
	// Signed is false when no checkpoint of the tenant was signed yet.
	Signed     bool
	TreeSize   uint64
	RootHash   string
	SignedAt   time.Time
	SignedNote string
	// KeyName and KeyHash name the key the note is signed with: its name
	// and the 4-byte hash (hex) that identifies its public key.
	KeyName, KeyHash string
	// ServerKey is the server's public key (note format), when its audit
	// store tells it; Server the verdict of the signature with it.
	ServerKey string
	Server    verdict
	// PublicKey is the key the auditor pasted, Pasted its verdict.
	PublicKey string
	Pasted    verdict
	// Tree is whether the signed root is the root of the tree as stored.
	Tree verdict
}

// verdict is the result of one check, in words.
type verdict struct {
	Checked bool
	OK      bool
	Why     string
}

// auditTrust shows the tenant's latest signed checkpoint, as GET
// /v1/tenants/{t}/audit/checkpoint answers it (signing a fresh one if the
// tree grew), whether its signature verifies, whether its root is the
// stored tree's, and how to check the log offline.
func (p *Portal) auditTrust(w http.ResponseWriter, r *http.Request, c caller) {
	ctx := r.Context()
	req, ok := p.tenantRequest(w, r, c)
	if !ok {
		return
	}
	grant, err := p.cmds.AuthorizeRead(ctx, req, domain.PermAuditRead, "audit/checkpoint")
	if err != nil {
		p.refuse(w, r, c, err)
		return
	}
	data := trustData{Tenant: req.TenantID, Served: p.audit != nil, PublicKey: strings.TrimSpace(r.URL.Query().Get("public_key"))}
	v := p.tenantView(c, req.TenantID, grant, "Tamper evidence", nil)
	v.Form = &form{Values: r.URL.Query(), Fields: map[string]string{}}
	if data.Served {
		if err := p.checkpointData(ctx, &data); err != nil {
			p.refuse(w, r, c, err)
			return
		}
	}
	status := http.StatusOK
	if data.Pasted.Checked && data.Pasted.Why == errNotAKey {
		v.Form.Fields["public_key"] = errNotAKey
		status = http.StatusUnprocessableEntity
	}
	v.Data = data
	p.render(w, r, status, "audit-trust", v)
}

// errNotAKey is the verdict of a pasted key that is not a verifier key.
const errNotAKey = "not a public key in note format (name+hash+base64), as `ledger audit public-key` prints it"

// checkpointData fills d with the tenant's checkpoint and its checks.
func (p *Portal) checkpointData(ctx context.Context, d *trustData) error {
	tenant := d.Tenant.String()
	cp, err := p.audit.Checkpoint(ctx, tenant)
	if errors.Is(err, audit.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	d.Signed, d.TreeSize, d.SignedAt, d.SignedNote = true, cp.TreeSize, cp.SignedAt, cp.SignedNote
	d.RootHash = base64.StdEncoding.EncodeToString(cp.RootHash)
	if _, err := note.Open([]byte(cp.SignedNote), note.VerifierList()); err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) && len(unverified.Note.UnverifiedSigs) > 0 {
			sig := unverified.Note.UnverifiedSigs[0]
			d.KeyName, d.KeyHash = sig.Name, fmt.Sprintf("%08x", sig.Hash)
		}
	}
	if d.ServerKey = p.audit.VerifierKey(); d.ServerKey != "" {
		d.Server = verifyCheckpoint(cp, tenant, d.ServerKey)
	}
	if d.PublicKey != "" {
		d.Pasted = verifyCheckpoint(cp, tenant, d.PublicKey)
	}
	d.Tree = verdict{Checked: true, OK: true}
	root, err := p.audit.RootAt(ctx, tenant, cp.TreeSize)
	switch {
	case errors.Is(err, audit.ErrTreeSize):
		d.Tree = verdict{Checked: true, Why: "the stored tree is smaller than the checkpoint"}
	case err != nil:
		return fmt.Errorf("audit tree root: %w", err)
	case !bytes.Equal(root, cp.RootHash):
		d.Tree = verdict{Checked: true, Why: "the stored tree's root differs from the signed root"}
	}
	return nil
}

// verifyCheckpoint checks cp's signed note with the public key vkey: the
// signature, the tenant it is of, and that its size and root are cp's.
func verifyCheckpoint(cp audit.Checkpoint, tenant, vkey string) verdict {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return verdict{Checked: true, Why: errNotAKey}
	}
	of, opened, err := audit.OpenCheckpoint([]byte(cp.SignedNote), verifier)
	switch {
	case err != nil:
		return verdict{Checked: true, Why: "the signature does not verify with this key"}
	case of != tenant:
		return verdict{Checked: true, Why: "the checkpoint is of another tenant"}
	case opened.Size != cp.TreeSize || !bytes.Equal(opened.Hash, cp.RootHash):
		return verdict{Checked: true, Why: "the signed size or root differs from the checkpoint's record"}
	}
	return verdict{Checked: true, OK: true}
}
