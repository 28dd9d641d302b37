package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/compact"

	"ledger/eventstore"
)

// ErrNotFound is returned for an event that is in no leaf of the tenant's
// tree.
var ErrNotFound = errors.New("not in the tenant's tree")

// Reader is the log the trees are appended from: eventstore.Store's
// ReadAll, which reads only below the horizon, so no event that commits
// late is ever skipped.
type Reader interface {
	ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error)
}

// Store keeps the tenants' trees and checkpoints in Postgres (the audit_*
// tables of eventstore/postgres's migrations).
type Store struct {
	pool   *pgxpool.Pool
	log    Reader
	key    *Key
	logger *slog.Logger
	batch  int
}

// VerifierKey is the public key of the store's signing key in note
// format, as `ledger audit public-key` prints it; "" for a store that
// signs nothing.
func (s *Store) VerifierKey() string {
	if s.key == nil {
		return ""
	}
	return s.key.VerifierKey
}

// NewStore returns the trees of the database of pool, appended from log
// and signed with key. With a nil log it appends nothing, and with a nil
// key it signs nothing: a store that only reads and proves.
func NewStore(pool *pgxpool.Pool, log Reader, key *Key, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, log: log, key: key, logger: logger, batch: 5000}
}

// lockKey serializes the appends and signatures of every replica: a
// transaction-scoped advisory lock.
var lockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("ledger audit trees"))
	return int64(h.Sum64())
}()

// CatchUp appends every event of the log not yet appended (up to the
// horizon) to its tenant's tree and returns how many it read. With wait,
// it waits for another replica's append to end; without, it returns 0 when
// another replica is appending.
func (s *Store) CatchUp(ctx context.Context, wait bool) (int, error) {
	return s.catchUp(ctx, wait, -1)
}

// CatchUpOnDemand is CatchUp for a request: it appends a few batches at
// most, waiting for another replica's append.
func (s *Store) CatchUpOnDemand(ctx context.Context) (int, error) {
	return s.catchUp(ctx, true, onDemandBatches)
}

// catchUp is CatchUp, of at most batches batches (any number when
// negative).
func (s *Store) catchUp(ctx context.Context, wait bool, batches int) (int, error) {
	if s.log == nil {
		return 0, nil // a store that only reads
	}
	total := 0
	for ; batches != 0; batches-- {
		n, err := s.appendBatch(ctx, wait)
		total += n
		if err != nil || n < s.batch {
			return total, err
		}
	}
	return total, nil
}

// treeState is a tenant's tree while a batch is appended to it.
type treeState struct {
	rng     *compact.Range
	grew    bool
	initial uint64
}

func (s *Store) appendBatch(ctx context.Context, wait bool) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("append audit leaves: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if ok, err := lock(ctx, tx, wait); err != nil || !ok {
		return 0, err
	}
	var cursor int64
	if err := tx.QueryRow(ctx, `SELECT position FROM audit_cursor`).Scan(&cursor); err != nil {
		return 0, fmt.Errorf("read the audit cursor: %w", err)
	}
	events, err := s.log.ReadAll(ctx, eventstore.Position(cursor), s.batch)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	trees, err := loadTrees(ctx, tx, events)
	if err != nil {
		return 0, err
	}
	var leaves, nodes [][]any
	for _, e := range events {
		tenant := e.Metadata.TenantID
		if tenant == "" {
			continue // no tenant's event: in no tree (docs/audit.md)
		}
		leaf, err := LeafOf(e)
		if err != nil {
			return 0, err
		}
		hash, err := hashLeaf(leaf)
		if err != nil {
			return 0, err
		}
		t := trees[tenant]
		var partner *string
		if p := e.Metadata.Actor.PartnerID; p != "" {
			partner = &p
		}
		leaves = append(leaves, []any{tenant, int64(t.rng.End()), int64(e.Position), e.ID, hash, partner})
		err = t.rng.Append(hash, func(id compact.NodeID, h []byte) {
			if id.Level > 0 {
				nodes = append(nodes, []any{tenant, int16(id.Level), int64(id.Index), h})
			}
		})
		if err != nil {
			return 0, fmt.Errorf("append event %s: %w", e.ID, err)
		}
		t.grew = true
	}
	if err := saveBatch(ctx, tx, trees, leaves, nodes, events[len(events)-1].Position); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("append audit leaves: %w", err)
	}
	return len(events), nil
}

func lock(ctx context.Context, tx pgx.Tx, wait bool) (bool, error) {
	if wait {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey)
		return err == nil, err
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, lockKey).Scan(&ok)
	return ok, err
}

// loadTrees reads the trees of the tenants of events.
func loadTrees(ctx context.Context, tx pgx.Tx, events []eventstore.Event) (map[string]*treeState, error) {
	trees := map[string]*treeState{}
	var ids []string
	for _, e := range events {
		if t := e.Metadata.TenantID; t != "" && trees[t] == nil {
			trees[t] = &treeState{rng: EmptyRange()}
			ids = append(ids, t)
		}
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id, tree_size, compact_range FROM audit_trees WHERE tenant_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read the audit trees: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			tenant string
			size   int64
			hashes [][]byte
		)
		if err := rows.Scan(&tenant, &size, &hashes); err != nil {
			return nil, fmt.Errorf("read the audit trees: %w", err)
		}
		rng, err := RangeOf(uint64(size), hashes)
		if err != nil {
			return nil, fmt.Errorf("audit tree of %s: %w", tenant, err)
		}
		trees[tenant] = &treeState{rng: rng, initial: uint64(size)}
	}
	return trees, rows.Err()
}

// saveBatch writes a batch's leaves, nodes and trees and moves the cursor.
func saveBatch(ctx context.Context, tx pgx.Tx, trees map[string]*treeState, leaves, nodes [][]any, last eventstore.Position) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_leaves"},
		[]string{"tenant_id", "leaf_index", "position", "event_id", "hash", "partner_id"}, pgx.CopyFromRows(leaves)); err != nil {
		return fmt.Errorf("write audit leaves: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_nodes"},
		[]string{"tenant_id", "level", "node_index", "hash"}, pgx.CopyFromRows(nodes)); err != nil {
		return fmt.Errorf("write audit nodes: %w", err)
	}
	batch := &pgx.Batch{}
	for tenant, t := range trees {
		if t.grew {
			batch.Queue(`INSERT INTO audit_trees (tenant_id, tree_size, compact_range) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET tree_size = excluded.tree_size, compact_range = excluded.compact_range`,
				tenant, int64(t.rng.End()), t.rng.Hashes())
		}
	}
	batch.Queue(`UPDATE audit_cursor SET position = $1`, int64(last))
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("write audit trees: %w", err)
	}
	return nil
}

// tenantNodes is a NodeSource of one tenant's tree in Postgres.
type tenantNodes struct {
	q      querier
	tenant string
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const nodesSQL = `
SELECT coalesce(l.hash, a.hash)
FROM unnest($2::smallint[], $3::bigint[]) WITH ORDINALITY AS n(level, idx, ord)
LEFT JOIN audit_leaves l ON n.level = 0 AND l.tenant_id = $1 AND l.leaf_index = n.idx
LEFT JOIN audit_nodes a ON n.level > 0 AND a.tenant_id = $1 AND a.level = n.level AND a.node_index = n.idx
ORDER BY n.ord`

// Nodes implements NodeSource.
func (n tenantNodes) Nodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	levels, idx := make([]int16, len(ids)), make([]int64, len(ids))
	for i, id := range ids {
		levels[i], idx[i] = int16(id.Level), int64(id.Index)
	}
	rows, err := n.q.Query(ctx, nodesSQL, n.tenant, levels, idx)
	if err != nil {
		return nil, fmt.Errorf("read audit nodes: %w", err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read audit nodes: %w", err)
	}
	for i, h := range hashes {
		if h == nil {
			return nil, fmt.Errorf("audit node %d/%d of %s: %w", ids[i].Level, ids[i].Index, n.tenant, ErrTreeSize)
		}
	}
	return hashes, nil
}

// LeafRef is where an event is in its tenant's tree.
type LeafRef struct {
	Index uint64
	Hash  []byte
	// PartnerID is the partner of the event's actor, "" for none.
	PartnerID string
}

// FindLeaf returns the leaf of event id in tenant's tree, or ErrNotFound.
func (s *Store) FindLeaf(ctx context.Context, tenant string, id uuid.UUID) (LeafRef, error) {
	var (
		ref     LeafRef
		index   int64
		partner *string
	)
	err := s.pool.QueryRow(ctx, `SELECT leaf_index, hash, partner_id FROM audit_leaves WHERE tenant_id = $1 AND event_id = $2`,
		tenant, id).Scan(&index, &ref.Hash, &partner)
	if errors.Is(err, pgx.ErrNoRows) {
		return ref, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ref, fmt.Errorf("find the leaf of %s: %w", id, err)
	}
	ref.Index = uint64(index)
	if partner != nil {
		ref.PartnerID = *partner
	}
	return ref, nil
}
