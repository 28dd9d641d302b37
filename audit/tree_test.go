package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/testonly"
)

// leafHashes returns n distinct leaf hashes.
func leafHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = Hasher.HashLeaf([]byte(fmt.Sprint("leaf ", i)))
	}
	return out
}

func TestTreeAgreesWithReferenceAndVerifier(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3, 7, 8, 13, 32, 33} {
		t.Run(fmt.Sprint(n, " leaves"), func(t *testing.T) {
			t.Parallel()
			tree, ref := NewTree(), testonly.New(Hasher)
			for _, h := range leafHashes(n) {
				if err := tree.Append(h); err != nil {
					t.Fatal(err)
				}
				ref.Append(h)
			}
			ctx := t.Context()
			for size := uint64(0); size <= uint64(n); size++ {
				root, err := RootAt(ctx, tree, size)
				if err != nil || !bytes.Equal(root, ref.HashAt(size)) {
					t.Fatalf("root at %d = %x, %v; want %x", size, root, err, ref.HashAt(size))
				}
				for i := range size {
					p, err := InclusionProof(ctx, tree, i, size)
					if err != nil {
						t.Fatal(err)
					}
					if err := proof.VerifyInclusion(Hasher, i, size, ref.LeafHash(i), p, root); err != nil {
						t.Fatalf("inclusion of %d at %d: %v", i, size, err)
					}
				}
				for from := uint64(0); from <= size; from++ {
					p, err := ConsistencyProof(ctx, tree, from, size)
					if err != nil {
						t.Fatal(err)
					}
					if err := proof.VerifyConsistency(Hasher, from, size, p, ref.HashAt(from), root); err != nil {
						t.Fatalf("consistency %d→%d: %v", from, size, err)
					}
				}
			}
			now, err := tree.Root()
			if err != nil || !bytes.Equal(now, ref.Hash()) {
				t.Fatalf("Root = %x, %v; want %x", now, err, ref.Hash())
			}
		})
	}
}

func TestProofsRefuseSizesBeyondTheTree(t *testing.T) {
	t.Parallel()
	tree := NewTree()
	for _, h := range leafHashes(5) {
		if err := tree.Append(h); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"leaf at the size", func() error { _, err := InclusionProof(t.Context(), tree, 5, 5); return err }},
		{"size beyond", func() error { _, err := InclusionProof(t.Context(), tree, 1, 6); return err }},
		{"consistency backwards", func() error { _, err := ConsistencyProof(t.Context(), tree, 4, 3); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.run(); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestEmptyRootIsSHA256OfNothing(t *testing.T) {
	t.Parallel()
	root, err := NewTree().Root()
	want := sha256.Sum256(nil)
	if err != nil || !bytes.Equal(root, want[:]) {
		t.Fatalf("empty root = %x, %v", root, err)
	}
}
