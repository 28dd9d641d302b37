package http

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"ledger/audit"
)

// TestAuditProofsVerifyAgainstTheSignedCheckpoint fetches a checkpoint and
// proofs over HTTP and checks them as an auditor would: the checkpoint
// with the public key, each event's inclusion with the transparency-dev
// verifier (and a modified event's failing), and a consistency proof.
func TestAuditProofsVerifyAgainstTheSignedCheckpoint(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, audit.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = NewServer(Deps{DB: a.pool, Pool: a.pool, Commands: a.svc, Metrics: prometheus.NewRegistry(), Audit: audit.NewStore(a.pool, a.store, key, nil)})
	account := `{"name":"Globex","currency":"USD","billing":{"contact_name":"Ann","email":"ann@globex.test"}}`
	wantStatus(t, a.do(t, "POST", a.path("/accounts"), a.adminKey, account), http.StatusCreated)
	wantStatus(t, a.do(t, "PUT", a.path("/partners/%s/access", a.partner), a.adminKey, `{"role":"partner_admin","all_accounts":true,"account_ids":[]}`), http.StatusCreated)
	wantStatus(t, a.do(t, "POST", a.path("/accounts"), a.partnerKey, account), http.StatusCreated)
	leaves, partnerOf := tenantLeaves(t, a)

	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var cp checkpointBody
	for deadline := time.Now().Add(time.Minute); cp.TreeSize < uint64(len(leaves)); time.Sleep(50 * time.Millisecond) {
		// The tree takes the log below the horizon, which other tests' transactions may hold back.
		x := a.do(t, "GET", a.path("/audit/checkpoint"), a.adminKey, "")
		wantStatus(t, x, http.StatusOK)
		x.decode(t, &cp)
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint still at %d of %d events", cp.TreeSize, len(leaves))
		}
	}
	tenant, opened, err := audit.OpenCheckpoint([]byte(cp.SignedNote), verifier)
	if err != nil || tenant != a.tenant.String() || opened.Size != cp.TreeSize || string(opened.Hash) != string(cp.RootHash) {
		t.Fatalf("checkpoint %+v opens as %s %+v, %v", cp, tenant, opened, err)
	}

	own := 0
	for i, leaf := range leaves {
		var p inclusionBody
		x := a.do(t, "GET", a.path("/audit/proof?event_id=%s&tree_size=%d", leaf.ID, opened.Size), a.adminKey, "")
		wantStatus(t, x, http.StatusOK)
		x.decode(t, &p)
		hash, err := leaf.LeafHash()
		if err != nil {
			t.Fatal(err)
		}
		if p.LeafIndex != uint64(i) || p.TreeSize != opened.Size {
			t.Fatalf("proof of event %d: %+v", i, p)
		}
		if err := proof.VerifyInclusion(audit.Hasher, p.LeafIndex, p.TreeSize, hash, p.Hashes, opened.Hash); err != nil {
			t.Fatalf("event %d (%s): %v", i, leaf.Type, err)
		}
		leaf.Data = json.RawMessage(`{"name":"Globex Ltd"}`)
		if modified, _ := leaf.LeafHash(); proof.VerifyInclusion(audit.Hasher, p.LeafIndex, p.TreeSize, modified, p.Hashes, opened.Hash) == nil {
			t.Fatalf("event %d modified: its proof verified", i)
		}
		// A partner_admin proves its own partner's actions only.
		status := http.StatusNotFound
		if partnerOf[leaf.ID] == a.partner.String() {
			status = http.StatusOK
			own++
		}
		wantStatus(t, a.do(t, "GET", a.path("/audit/proof?event_id=%s", leaf.ID), a.partnerKey, ""), status)
	}

	if own == 0 {
		t.Fatal("no event of the partner's own actions in the tree")
	}
	var c consistencyBody
	x := a.do(t, "GET", a.path("/audit/consistency?from=1&to=%d", opened.Size), a.adminKey, "")
	wantStatus(t, x, http.StatusOK)
	x.decode(t, &c)
	first, err := leaves[0].LeafHash() // the root of a tree of one leaf
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(audit.Hasher, 1, opened.Size, c.Hashes, first, opened.Hash); err != nil {
		t.Fatalf("consistency 1→%d: %v", opened.Size, err)
	}

	// A replica that neither appends nor signs serves the checkpoint signed.
	signer := a.srv
	a.srv = NewServer(Deps{DB: a.pool, Pool: a.pool, Commands: a.svc, Metrics: prometheus.NewRegistry()})
	var again checkpointBody
	a.do(t, "GET", a.path("/audit/checkpoint"), a.adminKey, "").decode(t, &again)
	if again.SignedNote != cp.SignedNote {
		t.Fatalf("read-only replica's checkpoint = %+v, want %+v", again, cp)
	}
	a.srv = signer

	a.documentChecks = false // refusals outside the document's examples
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/audit/proof", http.StatusBadRequest},
		{fmt.Sprintf("/audit/proof?event_id=%s&tree_size=%d", leaves[0].ID, opened.Size+1000), http.StatusBadRequest},
		{fmt.Sprintf("/audit/proof?event_id=%s&tree_size=0", leaves[0].ID), http.StatusBadRequest},
		{fmt.Sprintf("/audit/proof?event_id=%s", uuid.New()), http.StatusNotFound},
		{"/audit/consistency?from=2&to=1", http.StatusBadRequest},
		{fmt.Sprintf("/audit/consistency?from=1&to=%d", opened.Size+1000), http.StatusBadRequest},
	} {
		wantStatus(t, a.do(t, "GET", a.path("%s", tc.path), a.adminKey, ""), tc.status)
	}
}

// tenantLeaves reads the tenant's events from the events table, in log
// order, as leaves, and the partner of each one's actor.
func tenantLeaves(t *testing.T, a *api) ([]audit.Leaf, map[uuid.UUID]string) {
	t.Helper()
	rows, err := a.pool.Query(t.Context(), `SELECT event_id, stream, version, type, schema_version, data, metadata, recorded_at,
       coalesce(metadata->'actor'->>'partner_id', '')
FROM events WHERE metadata->>'tenant_id' = $1 ORDER BY position`, a.tenant.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var leaves []audit.Leaf
	partners := map[uuid.UUID]string{}
	for rows.Next() {
		var (
			l       audit.Leaf
			partner string
		)
		if err := rows.Scan(&l.ID, &l.Stream, &l.Version, &l.Type, &l.SchemaVersion, &l.Data, &l.Metadata, &l.RecordedAt, &partner); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
		partners[l.ID] = partner
	}
	if err := rows.Err(); err != nil || len(leaves) < 3 {
		t.Fatalf("%d events of the tenant, %v; want at least 3", len(leaves), err)
	}
	return leaves, partners
}
