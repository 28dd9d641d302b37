package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Session lifetimes.
const (
	// IdleTimeout ends a session not used for this long.
	IdleTimeout = 30 * time.Minute
	// AbsoluteTimeout ends a session this long after sign-in, used or not.
	AbsoluteTimeout = 12 * time.Hour
)

// sessionIDSize is the size of a session id and of a CSRF token, in bytes
// (256 bits).
const sessionIDSize = 32

// setupLockKey serialises the creation of the sessions table between
// replicas starting at once (an arbitrary constant of this package).
const setupLockKey = 0x706f7274616c // "portal"

// sessionsDDL creates the sessions table. A row is keyed by the SHA-256
// of the session id, which only the browser holds; sealed_key is the API
// key the session acts with, sealed (seal.go).
const sessionsDDL = `CREATE TABLE IF NOT EXISTS portal_sessions (
    id_hash    bytea       PRIMARY KEY,
    sealed_key bytea       NOT NULL,
    csrf       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
)`

// session is a signed-in browser's session as read from the store.
type session struct {
	idHash    []byte
	sealedKey []byte
	csrf      []byte
	createdAt time.Time
	lastSeen  time.Time
}

// sessions stores sessions in Postgres.
type sessions struct{ pool *pgxpool.Pool }

// setup creates the sessions table when missing.
func (st sessions) setup(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(setupLockKey)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sessionsDDL)
		return err
	})
	if err != nil {
		return fmt.Errorf("set up portal sessions: %w", err)
	}
	return nil
}

// create stores a new session and returns its id, to be sent in the
// cookie and never kept.
func (st sessions) create(ctx context.Context, seal *sealer, apiKey string, now time.Time) (string, error) {
	id := randomToken()
	csrf := randomBytes()
	hash := hashID(id)
	sealed, err := seal.seal([]byte(apiKey), hash)
	if err != nil {
		return "", err
	}
	_, err = st.pool.Exec(ctx, `INSERT INTO portal_sessions (id_hash, sealed_key, csrf, created_at, last_seen)
VALUES ($1, $2, $3, $4, $4)`, hash, sealed, csrf, now)
	if err != nil {
		return "", fmt.Errorf("store session: %w", err)
	}
	return id, nil
}

// errNoSession is a session id that names no live session.
var errNoSession = errors.New("no session")

// touch returns the live session of id and marks it used at now, in one
// statement. An unknown id is errNoSession; so is an ended session, which
// is deleted.
func (st sessions) touch(ctx context.Context, id string, now time.Time) (session, error) {
	hash := hashID(id)
	if hash == nil {
		return session{}, errNoSession
	}
	s := session{idHash: hash}
	err := st.pool.QueryRow(ctx, `UPDATE portal_sessions SET last_seen = greatest(last_seen, $2)
WHERE id_hash = $1 AND last_seen > $3 AND created_at > $4
RETURNING sealed_key, csrf, created_at, last_seen`, hash, now, now.Add(-IdleTimeout), now.Add(-AbsoluteTimeout)).
		Scan(&s.sealedKey, &s.csrf, &s.createdAt, &s.lastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return session{}, errors.Join(errNoSession, st.delete(ctx, hash)) // ended, if it was there at all
	}
	if err != nil {
		return session{}, fmt.Errorf("touch session: %w", err)
	}
	return s, nil
}

// delete removes the session of hash, if any.
func (st sessions) delete(ctx context.Context, hash []byte) error {
	if _, err := st.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE id_hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// sweep deletes the sessions that have ended by now.
func (st sessions) sweep(ctx context.Context, now time.Time) error {
	_, err := st.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE last_seen <= $1 OR created_at <= $2`,
		now.Add(-IdleTimeout), now.Add(-AbsoluteTimeout))
	if err != nil {
		return fmt.Errorf("sweep sessions: %w", err)
	}
	return nil
}

// randomToken is 256 random bits, base64url without padding.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes())
}

// randomBytes are 256 random bits. crypto/rand.Read never returns an
// error: it crashes the program rather than return fewer bytes.
func randomBytes() []byte {
	b := make([]byte, sessionIDSize)
	_, _ = rand.Read(b)
	return b
}

// hashID is the SHA-256 of a session id as the browser sends it, nil
// when id is not one this package made.
func hashID(id string) []byte {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) != sessionIDSize {
		return nil
	}
	sum := sha256.Sum256(raw)
	return sum[:]
}
