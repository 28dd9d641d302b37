package audit

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
)

// The kinds of Finding.
const (
	Changed    = "changed"    // the event's leaf is not the one checkpointed
	Removed    = "removed"    // a checkpointed event is no longer in the log
	Inserted   = "inserted"   // an event now sits among checkpointed ones
	Reordered  = "reordered"  // a checkpointed event moved in log order
	BadRoot    = "checkpoint" // a checkpoint's root is not the log's
	BadWitness = "witness"    // the audit tables disagree with a checkpoint
)

// Finding is one thing Verify found wrong.
type Finding struct {
	Kind     string
	Tenant   string
	EventID  uuid.UUID // uuid.Nil for a checkpoint
	Position int64     // the event's position now (0 when removed)
	Detail   string
}

func (f Finding) String() string {
	if f.EventID == uuid.Nil {
		return fmt.Sprintf("tenant %s: %s: %s", f.Tenant, f.Kind, f.Detail)
	}
	at := ""
	if f.Position != 0 {
		at = fmt.Sprintf(" at position %d", f.Position)
	}
	return fmt.Sprintf("tenant %s: event %s%s %s: %s", f.Tenant, f.EventID, at, f.Kind, f.Detail)
}

// Report is what Verify checked and found.
type Report struct {
	Events, Tenants, Checkpoints int
	Findings                     []Finding
}

// leafRow is an event of the log, hashed.
type leafRow struct {
	id       uuid.UUID
	position int64
	hash     [32]byte
}

// scannedRow is an event as read, then hashed.
type scannedRow struct {
	leafRow
	leaf   Leaf
	tenant string
	err    error
}

// VerifyOptions are Verify's: Tenant limits it to one tenant's tree;
// Progress, when set, is called with the number of events read so far,
// every so often.
type VerifyOptions struct {
	Tenant   string
	Progress func(events int)
}

// Verify recomputes every tenant's tree from the events table, in log
// order, and checks it against every checkpoint signed (verified with
// verifier). Each event changed, removed, inserted or reordered after it
// was checkpointed is a Finding, named by comparing the log with the
// leaves recorded when they were appended; a checkpoint whose root the log
// no longer has is a Finding too. An empty Findings means the log is as
// checkpointed.
func Verify(ctx context.Context, pool *pgxpool.Pool, verifier note.Verifier, opt VerifyOptions) (Report, error) {
	var rep Report
	cps, err := loadCheckpoints(ctx, pool, verifier, opt.Tenant, &rep)
	if err != nil {
		return rep, err
	}
	witness, err := loadWitness(ctx, pool, cps)
	if err != nil {
		return rep, err
	}
	logs := map[string][]leafRow{}
	err = readLog(ctx, pool, opt, func(r *scannedRow) {
		if r.tenant == "" || (opt.Tenant != "" && r.tenant != opt.Tenant) {
			return // in no tree, or not the tree asked for
		}
		rep.Events++
		if list, ok := cps[r.tenant]; ok {
			log := logs[r.tenant]
			if log == nil && len(list) > 0 { // room for the checkpointed events and some more
				size := list[len(list)-1].size
				log = make([]leafRow, 0, size+size/4+16)
			}
			logs[r.tenant] = append(log, r.leafRow)
		}
	})
	if err != nil {
		return rep, err
	}
	tenants := make([]string, 0, len(cps))
	for t := range cps {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	rep.Tenants = len(tenants)
	for _, t := range tenants {
		f, err := compareTenant(t, cps[t], witness[t], logs[t])
		if err != nil {
			return rep, err
		}
		rep.Findings = append(rep.Findings, f...)
	}
	return rep, nil
}

// signedCheckpoint is a checkpoint as recorded, its signature checked.
type signedCheckpoint struct {
	size uint64
	root []byte
}

// loadCheckpoints reads and verifies the checkpoints, by tenant, in order
// of size. A checkpoint whose signature or content does not hold is a
// finding and is not used.
func loadCheckpoints(ctx context.Context, pool *pgxpool.Pool, verifier note.Verifier, tenant string, rep *Report) (map[string][]signedCheckpoint, error) {
	rows, err := pool.Query(ctx, `SELECT tenant_id, tree_size, root_hash, signed_note FROM audit_checkpoints
WHERE $1 = '' OR tenant_id = $1 ORDER BY tenant_id, tree_size`, tenant)
	if err != nil {
		return nil, fmt.Errorf("read the checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string][]signedCheckpoint{}
	for rows.Next() {
		var (
			t      string
			size   int64
			root   []byte
			signed string
		)
		if err := rows.Scan(&t, &size, &root, &signed); err != nil {
			return nil, fmt.Errorf("read the checkpoints: %w", err)
		}
		rep.Checkpoints++
		of, cp, err := OpenCheckpoint([]byte(signed), verifier)
		switch {
		case err != nil:
			rep.Findings = append(rep.Findings, Finding{Kind: BadRoot, Tenant: t, Detail: fmt.Sprintf("checkpoint at size %d: %v", size, err)})
		case of != t || cp.Size != uint64(size) || !bytes.Equal(cp.Hash, root):
			rep.Findings = append(rep.Findings, Finding{Kind: BadRoot, Tenant: t,
				Detail: fmt.Sprintf("checkpoint at size %d: its row does not match its signed note (of %s at %d)", size, of, cp.Size)})
		default:
			out[t] = append(out[t], signedCheckpoint{size: cp.Size, root: cp.Hash})
		}
		if _, ok := out[t]; !ok {
			out[t] = nil
		}
	}
	return out, rows.Err()
}

// witnessLeaf is a leaf as it was appended.
type witnessLeaf struct {
	id   uuid.UUID
	hash [32]byte
}

// loadWitness reads the leaves appended to the checkpointed part of each
// tree.
func loadWitness(ctx context.Context, pool *pgxpool.Pool, cps map[string][]signedCheckpoint) (map[string][]witnessLeaf, error) {
	out := map[string][]witnessLeaf{}
	for t, list := range cps {
		if len(list) == 0 {
			continue
		}
		size := list[len(list)-1].size
		rows, err := pool.Query(ctx, `SELECT event_id, hash FROM audit_leaves WHERE tenant_id = $1 AND leaf_index < $2 ORDER BY leaf_index`, t, int64(size))
		if err != nil {
			return nil, fmt.Errorf("read the audit leaves of %s: %w", t, err)
		}
		leaves := make([]witnessLeaf, 0, size)
		for rows.Next() {
			var (
				w    witnessLeaf
				hash []byte
			)
			if err := rows.Scan(&w.id, &hash); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read the audit leaves of %s: %w", t, err)
			}
			copy(w.hash[:], hash)
			leaves = append(leaves, w)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the audit leaves of %s: %w", t, err)
		}
		out[t] = leaves
	}
	return out, nil
}

const verifyChunk = 2048

// readLog reads the events table in log order and calls each with every
// event of a tenant, hashed; the hashing runs on every core.
func readLog(ctx context.Context, pool *pgxpool.Pool, opt VerifyOptions, each func(*scannedRow)) error {
	type chunk struct {
		rows []scannedRow
		done chan struct{}
	}
	work, ordered := make(chan *chunk, 8), make(chan *chunk, 8)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for c := range work {
				for i := range c.rows {
					r := &c.rows[i]
					var hash []byte
					hash, r.tenant, r.err = hashLeafTenant(r.leaf)
					copy(r.hash[:], hash)
					r.leaf = Leaf{}
				}
				close(c.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		readErr <- scanLog(ctx, pool, func(rows []scannedRow) {
			c := &chunk{rows: rows, done: make(chan struct{})}
			work <- c
			ordered <- c
		})
	}()
	var firstErr error
	n := 0
	for c := range ordered {
		<-c.done
		for i := range c.rows {
			r := &c.rows[i]
			if r.err != nil && firstErr == nil {
				firstErr = fmt.Errorf("event %s at position %d: %w", r.id, r.position, r.err)
			}
			each(r)
		}
		n += len(c.rows)
		if opt.Progress != nil {
			opt.Progress(n)
		}
	}
	wg.Wait()
	if err := <-readErr; err != nil {
		return err
	}
	return firstErr
}

// scanLog reads the log in order, in chunks: data and metadata as text
// (the json type's own scanning would validate them again), and no JSON
// operator on the server, which would parse every row there.
func scanLog(ctx context.Context, pool *pgxpool.Pool, send func([]scannedRow)) error {
	rows, err := pool.Query(ctx, `SELECT position, event_id, stream, version, type, schema_version, data::text, metadata::text, recorded_at
FROM events ORDER BY position`)
	if err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	defer rows.Close()
	buf := make([]scannedRow, 0, verifyChunk)
	for rows.Next() {
		var (
			r       scannedRow
			version int64
			schema  int32
		)
		err := rows.Scan(&r.position, &r.id, &r.leaf.Stream, &version, &r.leaf.Type, &schema, &r.leaf.Data, &r.leaf.Metadata, &r.leaf.RecordedAt)
		if err != nil {
			return fmt.Errorf("read the log: %w", err)
		}
		r.leaf.ID, r.leaf.Version, r.leaf.SchemaVersion = r.id, uint64(version), int(schema)
		if buf = append(buf, r); len(buf) == verifyChunk {
			send(buf)
			buf = make([]scannedRow, 0, verifyChunk)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	if len(buf) > 0 {
		send(buf)
	}
	return nil
}
