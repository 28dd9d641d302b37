package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fastCases are JSON documents the fast path must encode as Canonical
// does, or hand back to it.
var fastCases = []string{
	`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-0`, `1.50`, `1e5`, `-2.5E-3`, `12345678901234567890123`,
	`{"b":1,"a":{"d":[1,{"z":null,"y":false}],"c":"é <&> \u007f"}}`,
	` { "b" : [ 1 , 2 ] ,	"a":"x" } `,
	`{"a":"quote \" inside"}`, `{"a":"\u00e9"}`, `{"a\u0062":1,"ab":2}`, `{"a":1,"a":2}`,
	`{"a":"line\nbreak"}`, "{\"a\":\"\u2028\"}", `{"":1,"a":[]}`, `[{},[],""]`,
	`{"x":01}`, `{"x":1.}`, `{"x":}`, `{"x":1,}`, `[1,]`, `{"x":1} 2`, `tru`, ``,
	"{\"a\":\"\xff\"}", `{"é":1,"e":2,"z":3}`,
}

func fastLeaf(data, meta string) Leaf {
	return Leaf{ID: uuid.MustParse("0193a1b2-0000-7000-8000-000000000001"), Stream: "account-1", Version: 7, Type: "Noted",
		SchemaVersion: 2, Data: json.RawMessage(data), Metadata: json.RawMessage(meta),
		RecordedAt: time.Date(2026, 3, 4, 5, 6, 7, 891000000, time.FixedZone("x", 3600))}
}

// checkFast fails when the fast path and Canonical disagree.
func checkFast(t *testing.T, l Leaf) {
	t.Helper()
	want, wantErr := l.Canonical()
	got, ok := canonicalFast(l)
	if ok && (wantErr != nil || !bytes.Equal(got, want)) {
		t.Fatalf("fast path of %q / %q:\n%s\nCanonical:\n%s (%v)", l.Data, l.Metadata, got, want, wantErr)
	}
	hash, tenant, err := hashLeafTenant(l)
	slow, slowErr := l.LeafHash()
	if (err == nil) != (slowErr == nil) || !bytes.Equal(hash, slow) {
		t.Fatalf("hashLeaf of %q = %x, %v; LeafHash %x, %v", l.Data, hash, err, slow, slowErr)
	}
	var meta struct {
		TenantID any `json:"tenant_id"`
	}
	if json.Unmarshal(l.Metadata, &meta) == nil {
		if want, _ := meta.TenantID.(string); err == nil && tenant != want {
			t.Fatalf("tenant of %q = %q, want %q", l.Metadata, tenant, want)
		}
	}
}

func TestFastCanonicalAgreesWithCanonical(t *testing.T) {
	t.Parallel()
	for _, doc := range fastCases {
		t.Run(doc, func(t *testing.T) {
			t.Parallel()
			checkFast(t, fastLeaf(doc, `{"tenant_id":"t"}`))
			checkFast(t, fastLeaf(`{}`, doc))
			checkFast(t, fastLeaf(`{}`, `{"actor":{"tenant_id":"no"},"tenant_id":`+doc+`}`))
		})
	}
	l := fastLeaf(`{}`, `{}`)
	l.Stream = "odd \"stream\"\n"
	checkFast(t, l)
}

func FuzzFastCanonical(f *testing.F) {
	for _, doc := range fastCases {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		checkFast(t, fastLeaf(doc, `{"a":1}`))
	})
}

func BenchmarkLeafHash(b *testing.B) {
	l := fastLeaf(`{"subscription_id":"0193a1b2-0000-7000-8000-000000000002","account_id":"0193a1b2-0000-7000-8000-000000000003","items":[{"id":"0193a1b2-0000-7000-8000-000000000004","price_id":"0193a1b2-0000-7000-8000-000000000005","quantity":5}],"effective_at":"2026-01-02T03:04:05Z","mrr":"245.00"}`,
		`{"tenant_id":"0193a1b2-0000-7000-8000-000000000001","actor":{"type":"partner_user","id":"0193a1b2-0000-7000-8000-000000000002","partner_id":"0193a1b2-0000-7000-8000-000000000003"},"correlation_id":"0193a1b2-0000-7000-8000-000000000009","occurred_at":"2026-01-02T03:04:05.123456Z"}`)
	for _, bc := range []struct {
		name string
		hash func(Leaf) ([]byte, error)
	}{{"Canonical", Leaf.LeafHash}, {"fast", hashLeaf}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.hash(l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
