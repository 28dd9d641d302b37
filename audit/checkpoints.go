package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Checkpoint is a signed checkpoint of a tenant's tree.
type Checkpoint struct {
	TreeSize   uint64
	RootHash   []byte
	SignedNote string
	SignedAt   time.Time
}

// ErrNoKey is returned when a checkpoint must be signed by a store that
// has no key.
var ErrNoKey = errors.New("no signing key")

// SignCheckpoints signs a checkpoint of every tree that grew since its
// last checkpoint and returns how many it signed. With wait, it waits for
// another replica's append or signature to end; without, it signs nothing
// while another replica holds the lock.
func (s *Store) SignCheckpoints(ctx context.Context, wait bool) (int, error) {
	return s.sign(ctx, wait, "")
}

// sign signs the grown trees, of tenant only when it is not "".
func (s *Store) sign(ctx context.Context, wait bool, tenant string) (int, error) {
	if s.key == nil {
		return 0, ErrNoKey
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("sign checkpoints: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if ok, err := lock(ctx, tx, wait); err != nil || !ok {
		return 0, err
	}
	rows, err := tx.Query(ctx, `
SELECT t.tenant_id, t.tree_size, t.compact_range FROM audit_trees t
WHERE ($1 = '' OR t.tenant_id = $1)
  AND t.tree_size > coalesce((SELECT max(c.tree_size) FROM audit_checkpoints c WHERE c.tenant_id = t.tenant_id), -1)`, tenant)
	if err != nil {
		return 0, fmt.Errorf("sign checkpoints: %w", err)
	}
	type grown struct {
		tenant string
		size   int64
		rng    [][]byte
	}
	trees, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grown, error) {
		var g grown
		return g, r.Scan(&g.tenant, &g.size, &g.rng)
	})
	if err != nil {
		return 0, fmt.Errorf("sign checkpoints: %w", err)
	}
	if tenant != "" && len(trees) == 0 {
		// A tenant with no tree yet gets the checkpoint of the empty tree, once.
		var known bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_trees WHERE tenant_id = $1)
    OR EXISTS (SELECT 1 FROM audit_checkpoints WHERE tenant_id = $1)`, tenant).Scan(&known)
		if err != nil {
			return 0, fmt.Errorf("sign checkpoints: %w", err)
		}
		if !known {
			trees = append(trees, grown{tenant: tenant})
		}
	}
	batch := &pgx.Batch{}
	for _, g := range trees {
		rng, err := RangeOf(uint64(g.size), g.rng)
		if err != nil {
			return 0, fmt.Errorf("audit tree of %s: %w", g.tenant, err)
		}
		root, err := RootOfRange(rng)
		if err != nil {
			return 0, err
		}
		signed, err := SignCheckpoint(s.key.Signer, g.tenant, uint64(g.size), root)
		if err != nil {
			return 0, err
		}
		batch.Queue(`INSERT INTO audit_checkpoints (tenant_id, tree_size, root_hash, signed_note) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`, g.tenant, g.size, root, string(signed))
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, fmt.Errorf("record checkpoints: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("record checkpoints: %w", err)
	}
	return len(trees), nil
}

// Latest returns tenant's latest checkpoint; ok is false when it has none.
func (s *Store) Latest(ctx context.Context, tenant string) (cp Checkpoint, ok bool, err error) {
	var size int64
	err = s.pool.QueryRow(ctx, `SELECT tree_size, root_hash, signed_note, signed_at FROM audit_checkpoints
WHERE tenant_id = $1 ORDER BY tree_size DESC LIMIT 1`, tenant).Scan(&size, &cp.RootHash, &cp.SignedNote, &cp.SignedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("read the checkpoint of %s: %w", tenant, err)
	}
	cp.TreeSize = uint64(size)
	return cp, true, nil
}

// Checkpoint returns a checkpoint of tenant's tree with every event of
// the log below its horizon (committed, no earlier transaction still
// running; the projections read as far): it appends the log's new events and signs a fresh
// checkpoint if the tree grew since the last. A store without log or key
// returns the latest checkpoint signed, or ErrNotFound when none was.
func (s *Store) Checkpoint(ctx context.Context, tenant string) (Checkpoint, error) {
	// Bounded, so that a request does not take on the job's catching up
	// of a long log (the first start on an old log): it signs what is
	// appended by then.
	if _, err := s.catchUp(ctx, true, onDemandBatches); err != nil {
		return Checkpoint{}, err
	}
	if s.key != nil {
		if _, err := s.sign(ctx, true, tenant); err != nil {
			return Checkpoint{}, err
		}
	}
	cp, ok, err := s.Latest(ctx, tenant)
	if err == nil && !ok {
		err = fmt.Errorf("checkpoint of %s: %w", tenant, ErrNotFound)
	}
	return cp, err
}

// onDemandBatches bounds what Checkpoint appends before it signs.
const onDemandBatches = 4

// TreeSize returns the size of tenant's tree as appended so far.
func (s *Store) TreeSize(ctx context.Context, tenant string) (uint64, error) {
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT tree_size FROM audit_trees WHERE tenant_id = $1), 0)`, tenant).Scan(&size)
	if err != nil {
		return 0, fmt.Errorf("read the audit tree of %s: %w", tenant, err)
	}
	return uint64(size), nil
}

// InclusionProof returns the inclusion proof of leaf index in tenant's
// tree at size.
func (s *Store) InclusionProof(ctx context.Context, tenant string, index, size uint64) ([][]byte, error) {
	if err := s.checkSize(ctx, tenant, size); err != nil {
		return nil, err
	}
	return InclusionProof(ctx, tenantNodes{q: s.pool, tenant: tenant}, index, size)
}

// ConsistencyProof returns the consistency proof of tenant's tree from
// size from to size to.
func (s *Store) ConsistencyProof(ctx context.Context, tenant string, from, to uint64) ([][]byte, error) {
	if err := s.checkSize(ctx, tenant, to); err != nil {
		return nil, err
	}
	return ConsistencyProof(ctx, tenantNodes{q: s.pool, tenant: tenant}, from, to)
}

// RootAt returns the root hash of tenant's tree at size.
func (s *Store) RootAt(ctx context.Context, tenant string, size uint64) ([]byte, error) {
	if err := s.checkSize(ctx, tenant, size); err != nil {
		return nil, err
	}
	return RootAt(ctx, tenantNodes{q: s.pool, tenant: tenant}, size)
}

func (s *Store) checkSize(ctx context.Context, tenant string, size uint64) error {
	have, err := s.TreeSize(ctx, tenant)
	if err != nil {
		return err
	}
	if size > have {
		return fmt.Errorf("tree of %s has %d leaves, not %d: %w", tenant, have, size, ErrTreeSize)
	}
	return nil
}

// Job returns the background job of `ledger serve`: it appends new events
// every appendEvery and signs the grown trees every signEvery, until ctx
// ends. Every replica runs it; an advisory lock lets one at a time append
// or sign, so each event is appended once, in log order.
func (s *Store) Job(appendEvery, signEvery time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(appendEvery)
		defer tick.Stop()
		var lastSign time.Time
		for {
			if _, err := s.CatchUp(ctx, false); err != nil && ctx.Err() == nil {
				s.logger.Warn("append audit leaves", "error", err)
			}
			if time.Since(lastSign) >= signEvery {
				n, err := s.SignCheckpoints(ctx, false)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					s.logger.Warn("sign audit checkpoints", "error", err)
				case n > 0:
					s.logger.Info("signed audit checkpoints", "tenants", n)
				}
				lastSign = time.Now()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}
