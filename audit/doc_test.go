package audit

import (
	"encoding/hex"
	"encoding/json"
	"testing"
)

// TestDocumentedLeafExample pins the worked example of docs/audit.md.
func TestDocumentedLeafExample(t *testing.T) {
	t.Parallel()
	const line = `{"leaf":{"id":"0193a1b2-0000-7000-8000-000000000001","stream":"account-0193a1b2-0000-7000-8000-000000000002","version":1,"type":"AccountOpened","schema_version":1,"data":{"name":"Globex","currency":"USD","credit":12.50},"metadata":{"tenant_id":"0193a1b2-0000-7000-8000-0000000000aa","actor":{"type":"tenant_user","id":"0193a1b2-0000-7000-8000-000000000003"},"occurred_at":"2026-01-02T03:04:05.1234Z"},"recorded_at":"2026-01-02T03:04:05.12345Z"}}`
	const canonical = `{"data":{"credit":12.50,"currency":"USD","name":"Globex"},"id":"0193a1b2-0000-7000-8000-000000000001","metadata":{"actor":{"id":"0193a1b2-0000-7000-8000-000000000003","type":"tenant_user"},"occurred_at":"2026-01-02T03:04:05.1234Z","tenant_id":"0193a1b2-0000-7000-8000-0000000000aa"},"recorded_at":"2026-01-02T03:04:05.12345Z","schema_version":1,"stream":"account-0193a1b2-0000-7000-8000-000000000002","type":"AccountOpened","version":1}`
	const hash = "93d9bb9ad1736b7a06ad784b46ec27b6f8145754a609f550d70378d5b3129f2b"
	var l exportLine
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		t.Fatal(err)
	}
	got, err := l.Leaf.Canonical()
	if err != nil || string(got) != canonical {
		t.Fatalf("canonical = %s, %v", got, err)
	}
	for name, h := range map[string]func(Leaf) ([]byte, error){"LeafHash": Leaf.LeafHash, "hashLeaf": hashLeaf} {
		sum, err := h(*l.Leaf)
		if err != nil || hex.EncodeToString(sum) != hash {
			t.Fatalf("%s = %x, %v; want %s", name, sum, err, hash)
		}
	}
}
