package audit

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// OriginPrefix starts the origin of every tenant's log: the origin of
// tenant T's checkpoints is "ledger/T".
const OriginPrefix = "ledger/"

// Origin is the checkpoint origin of a tenant's tree.
func Origin(tenantID string) string { return OriginPrefix + tenantID }

// SignCheckpoint returns the signed note of the checkpoint of a tenant's
// tree at size with root hash root, in the transparency-log checkpoint
// format (origin, size, base64 root hash, each on a line).
func SignCheckpoint(signer note.Signer, tenantID string, size uint64, root []byte) ([]byte, error) {
	cp := log.Checkpoint{Origin: Origin(tenantID), Size: size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign the checkpoint of %s at %d: %w", tenantID, size, err)
	}
	return signed, nil
}

// OpenCheckpoint verifies a signed checkpoint with verifier and returns
// the tenant it is of and its content. An origin other than "ledger/…" is
// an error.
func OpenCheckpoint(signed []byte, verifier note.Verifier) (tenantID string, cp *log.Checkpoint, err error) {
	origin, _, ok := bytes.Cut(signed, []byte("\n"))
	if !ok || !bytes.HasPrefix(origin, []byte(OriginPrefix)) || len(origin) == len(OriginPrefix) {
		return "", nil, fmt.Errorf("checkpoint: origin %q is not %s<tenant id>", firstLine(origin), OriginPrefix)
	}
	cp, _, _, err = log.ParseCheckpoint(signed, string(origin), verifier)
	if err != nil {
		return "", nil, fmt.Errorf("checkpoint of %s: %w", origin, err)
	}
	return string(origin[len(OriginPrefix):]), cp, nil
}

func firstLine(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
