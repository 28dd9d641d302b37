package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Snapshots keeps aggregates' snapshots in the snapshots table, beside the
// event log: each stream's latest record, as bytes, with the version it
// was taken at. It knows nothing of what a record holds. It implements
// commands.SnapshotStore and is safe for concurrent use.
type Snapshots struct {
	pool *pgxpool.Pool
}

// Snapshots returns the snapshot store in s's database.
func (s *Store) Snapshots() *Snapshots { return &Snapshots{pool: s.pool} }

// LoadSnapshots returns the record stored for each of streams that has
// one, by stream, in one query.
func (s *Snapshots) LoadSnapshots(ctx context.Context, streams []string) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream, record FROM snapshots WHERE stream = ANY($1)`, streams)
	if err != nil {
		return nil, fmt.Errorf("load snapshots of %d streams: %w", len(streams), err)
	}
	defer rows.Close()
	out := make(map[string][]byte)
	for rows.Next() {
		var (
			stream string
			record []byte
		)
		if err := rows.Scan(&stream, &record); err != nil {
			return nil, fmt.Errorf("load snapshots: %w", err)
		}
		out[stream] = record
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load snapshots: %w", err)
	}
	return out, nil
}

// SaveSnapshot stores record as stream's snapshot at version, unless one at
// version or later is stored already: a snapshot never moves backwards.
func (s *Snapshots) SaveSnapshot(ctx context.Context, stream string, version uint64, record []byte) error {
	if version == 0 || version > math.MaxInt64 {
		return fmt.Errorf("save snapshot of %s: version %d out of range", stream, version)
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO snapshots (stream, version, record) VALUES ($1, $2, $3)
ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, record = EXCLUDED.record, saved_at = now()
WHERE snapshots.version < EXCLUDED.version`, stream, int64(version), record)
	if err != nil {
		return fmt.Errorf("save snapshot of %s at version %d: %w", stream, version, err)
	}
	return nil
}
