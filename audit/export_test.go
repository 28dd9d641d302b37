package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// exportOf returns an NDJSON export of n leaves of tenant t1 and a signed
// checkpoint of its first size leaves.
func exportOf(t *testing.T, key *Key, n, size int, edit func(i int, l *Leaf)) ([]byte, []byte) {
	t.Helper()
	var buf bytes.Buffer
	tree := NewTree()
	for i := range n {
		l := Leaf{ID: uuid.New(), Stream: "account-1", Version: uint64(i + 1), Type: "Noted", SchemaVersion: 1,
			Data: json.RawMessage(fmt.Sprintf(`{"n": %d, "amount": 1.50}`, i)), Metadata: json.RawMessage(`{"tenant_id":"t1","actor":{"type":"system"}}`),
			RecordedAt: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)}
		h, err := l.LeafHash()
		if err != nil {
			t.Fatal(err)
		}
		if i < size {
			if err := tree.Append(h); err != nil {
				t.Fatal(err)
			}
		}
		item := map[string]any{"position": i, "event_id": l.ID, "stream": l.Stream, "version": l.Version, "type": l.Type,
			"recorded_at": l.RecordedAt}
		edit(i, &l)
		item["leaf"] = l
		line, err := json.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(line, '\n'))
	}
	root, err := tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignCheckpoint(key.Signer, "t1", uint64(size), root)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), signed
}

func TestVerifyExport(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	same := func(int, *Leaf) {}
	tests := []struct {
		name       string
		n, size    int
		edit       func(i int, l *Leaf)
		wantBeyond uint64
		wantErr    error
	}{
		{"as checkpointed", 9, 9, same, 0, nil},
		{"newer than the checkpoint", 9, 5, same, 4, nil},
		{"empty tree", 0, 0, same, 0, nil},
		{"a payload edited", 9, 9, func(i int, l *Leaf) {
			if i == 3 {
				l.Data = json.RawMessage(`{"n": 3, "amount": 1.5}`)
			}
		}, 0, ErrExportMismatch},
		{"white space is not a change", 9, 9, func(i int, l *Leaf) {
			if i == 3 {
				l.Data = json.RawMessage(`{ "amount" : 1.50 , "n":3 }`)
			}
		}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			export, signed := exportOf(t, key, tc.n, tc.size, tc.edit)
			res, err := VerifyExport(bytes.NewReader(export), signed, key.Verifier)
			if !errors.Is(err, tc.wantErr) || (err == nil && res.Beyond != tc.wantBeyond) {
				t.Fatalf("VerifyExport = %+v, %v; want beyond %d, error %v", res, err, tc.wantBeyond, tc.wantErr)
			}
		})
	}
	t.Run("a line relabelled beside its intact leaf", func(t *testing.T) {
		t.Parallel()
		export, signed := exportOf(t, key, 3, 3, same)
		lines := bytes.SplitAfter(export, []byte("\n"))
		var item map[string]any
		if err := json.Unmarshal(lines[1], &item); err != nil {
			t.Fatal(err)
		}
		item["type"] = "Forged"
		forged, err := json.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		lines[1] = append(forged, '\n')
		if _, err := VerifyExport(bytes.NewReader(bytes.Join(lines, nil)), signed, key.Verifier); !errors.Is(err, ErrExportMismatch) {
			t.Fatalf("relabelled line: %v, want a mismatch", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		export, signed := exportOf(t, key, 5, 5, same)
		cut := export[:bytes.LastIndexByte(export[:len(export)-1], '\n')+1]
		if _, err := VerifyExport(bytes.NewReader(cut), signed, key.Verifier); !errors.Is(err, ErrExportMismatch) {
			t.Fatalf("truncated export: %v", err)
		}
	})
}
