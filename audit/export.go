package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// ExportCheck is what VerifyExport found: the export's first TreeSize
// leaves are the tree of the checkpoint; Beyond more leaves follow, which
// no checkpoint given covers.
type ExportCheck struct {
	Tenant   string
	TreeSize uint64
	Leaves   uint64
	Beyond   uint64
}

// ErrExportMismatch is returned when an export is not the log a
// checkpoint signed.
var ErrExportMismatch = errors.New("the export does not match the checkpoint")

// exportLine is a line of an NDJSON audit export: its leaf, and the
// fields that name the event, which must be the leaf's.
type exportLine struct {
	Leaf       *Leaf     `json:"leaf"`
	EventID    string    `json:"event_id"`
	Stream     string    `json:"stream"`
	Version    uint64    `json:"version"`
	Type       string    `json:"type"`
	RecordedAt time.Time `json:"recorded_at"`
}

// checkNames refuses a line that names another event than its leaf: a
// line relabelled (its type, stream or version changed) beside an intact
// leaf.
func (l exportLine) checkNames() error {
	leaf := l.Leaf
	if l.EventID != leaf.ID.String() || l.Stream != leaf.Stream || l.Version != leaf.Version || l.Type != leaf.Type ||
		!l.RecordedAt.Equal(leaf.RecordedAt) {
		return fmt.Errorf("%w: the line names %s %s v%d (%s), its leaf %s %s v%d (%s)", ErrExportMismatch,
			l.EventID, l.Stream, l.Version, l.Type, leaf.ID, leaf.Stream, leaf.Version, leaf.Type)
	}
	return nil
}

// VerifyExport checks an NDJSON audit export (one JSON object a line, each
// with a "leaf" field, in log order; every event of the tenant) against a
// signed checkpoint verified with verifier: the root of the export's
// first tree-size leaves must be the checkpoint's root, and each line
// must name its leaf's event (event_id, stream, version, type,
// recorded_at). The rest of a line is the read model's view of the event
// (keys' hashes left out): what is proven is the leaf.
func VerifyExport(export io.Reader, signedCheckpoint []byte, verifier note.Verifier) (ExportCheck, error) {
	tenant, cp, err := OpenCheckpoint(signedCheckpoint, verifier)
	if err != nil {
		return ExportCheck{}, err
	}
	res := ExportCheck{Tenant: tenant, TreeSize: cp.Size}
	rng := EmptyRange()
	in := bufio.NewReaderSize(export, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var l exportLine
			if err := json.Unmarshal(line, &l); err != nil || l.Leaf == nil {
				return res, fmt.Errorf("export line %d: not an object with a leaf: %v", lineNo, err)
			}
			if err := checkTenant(*l.Leaf, tenant); err != nil {
				return res, fmt.Errorf("export line %d: %w", lineNo, err)
			}
			if err := l.checkNames(); err != nil {
				return res, fmt.Errorf("export line %d: %w", lineNo, err)
			}
			res.Leaves++
			if res.Leaves > cp.Size {
				res.Beyond++
			} else {
				hash, err := hashLeaf(*l.Leaf)
				if err != nil {
					return res, fmt.Errorf("export line %d: %w", lineNo, err)
				}
				if err := rng.Append(hash, nil); err != nil {
					return res, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("read the export: %w", err)
		}
	}
	if res.Leaves < cp.Size {
		return res, fmt.Errorf("%w: it has %d leaves, the checkpoint %d", ErrExportMismatch, res.Leaves, cp.Size)
	}
	root, err := RootOfRange(rng)
	if err != nil {
		return res, err
	}
	if !bytes.Equal(root, cp.Hash) {
		return res, fmt.Errorf("%w: the root of its first %d leaves is not the checkpoint's", ErrExportMismatch, cp.Size)
	}
	return res, nil
}

// checkTenant refuses a leaf of another tenant than the checkpoint's.
func checkTenant(l Leaf, tenant string) error {
	var meta struct {
		TenantID string `json:"tenant_id"`
	}
	if err := json.Unmarshal(l.Metadata, &meta); err != nil {
		return fmt.Errorf("leaf %s: metadata: %w", l.ID, err)
	}
	if meta.TenantID != tenant {
		return fmt.Errorf("%w: leaf %s is of tenant %q, the checkpoint of %q", ErrExportMismatch, l.ID, meta.TenantID, tenant)
	}
	return nil
}
