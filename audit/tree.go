package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Hasher is the tree's hasher: RFC 6962 with SHA-256.
var Hasher = rfc6962.DefaultHasher

var factory = &compact.RangeFactory{Hash: Hasher.HashChildren}

// ErrTreeSize is returned for a proof or root of a tree size the tree does
// not have, or a leaf index not below the size.
var ErrTreeSize = errors.New("no such tree size")

// NodeSource returns the hashes of perfect subtrees of a tree (level 0 is
// the leaves), in the order of ids. Every id asked for lies within the
// tree's current size.
type NodeSource interface {
	Nodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
}

// Tree is a tree held in memory: every node of it, for tests and tools. A
// tenant's tree on the server is the same, its nodes in Postgres (Store).
type Tree struct {
	rng   *compact.Range
	nodes map[compact.NodeID][]byte
}

// NewTree returns an empty tree.
func NewTree() *Tree {
	return &Tree{rng: factory.NewEmptyRange(0), nodes: map[compact.NodeID][]byte{}}
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.rng.End() }

// Append adds a leaf by its leaf hash.
func (t *Tree) Append(leafHash []byte) error {
	return t.rng.Append(leafHash, func(id compact.NodeID, hash []byte) { t.nodes[id] = hash })
}

// Root returns the root hash of the tree as it is now.
func (t *Tree) Root() ([]byte, error) { return RootOfRange(t.rng) }

// Nodes implements NodeSource.
func (t *Tree) Nodes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := t.nodes[id]
		if !ok {
			return nil, fmt.Errorf("node %d/%d: %w", id.Level, id.Index, ErrTreeSize)
		}
		out[i] = h
	}
	return out, nil
}

// RootOfRange returns the root hash of a compact range that starts at 0:
// the empty root for an empty one.
func RootOfRange(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return Hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// RangeOf returns the compact range [0, end) from its hashes, as
// Range.Hashes returned them.
func RangeOf(end uint64, hashes [][]byte) (*compact.Range, error) {
	return factory.NewRange(0, end, hashes)
}

// EmptyRange returns the compact range of an empty tree.
func EmptyRange() *compact.Range { return factory.NewEmptyRange(0) }

// RootAt returns the root hash of the first size leaves of the tree whose
// nodes src has.
func RootAt(ctx context.Context, src NodeSource, size uint64) ([]byte, error) {
	if size == 0 {
		return Hasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := src.Nodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size, from the lowest level up.
func InclusionProof(ctx context.Context, src NodeSource, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("leaf %d in a tree of %d: %w", index, size, ErrTreeSize)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return fetch(ctx, src, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// size1 leaves to the tree of size2.
func ConsistencyProof(ctx context.Context, src NodeSource, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("from %d to %d: %w", size1, size2, ErrTreeSize)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return fetch(ctx, src, nodes)
}

// fetch reads the nodes of a proof and hashes its ephemeral node.
func fetch(ctx context.Context, src NodeSource, nodes proof.Nodes) ([][]byte, error) {
	if len(nodes.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := src.Nodes(ctx, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, Hasher.HashChildren)
}
