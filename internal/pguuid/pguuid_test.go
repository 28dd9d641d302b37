package pguuid_test

import (
	"testing"

	"github.com/google/uuid"

	"ledger/internal/pgtest"
)

// The pool from pgtest registers the codec on every connection: values go
// out and come back as binary uuids, alone, in arrays and compared with
// text, and a NULL leaves the destination as it was.
func TestUUIDsRoundTripInBinary(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 2)
	ctx := t.Context()
	a, b := uuid.New(), uuid.New()

	var got uuid.UUID
	var text string
	if err := pool.QueryRow(ctx, `SELECT $1::uuid, $1::uuid::text`, a).Scan(&got, &text); err != nil {
		t.Fatal(err)
	}
	if got != a || text != a.String() {
		t.Fatalf("round trip of %s: %s, as text %s", a, got, text)
	}

	var many []uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT array_append($1::uuid[], $2)`, []uuid.UUID{a}, b).Scan(&many); err != nil {
		t.Fatal(err)
	}
	if len(many) != 2 || many[0] != a || many[1] != b {
		t.Fatalf("array round trip: %v, want [%s %s]", many, a, b)
	}

	var equal bool
	if err := pool.QueryRow(ctx, `SELECT $1::uuid = $2::text::uuid`, a, a.String()).Scan(&equal); err != nil || !equal {
		t.Fatalf("binary %s = text %s: %v, %v", a, a, equal, err)
	}

	kept := b
	if err := pool.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&kept); err != nil || kept != b {
		t.Fatalf("NULL into a uuid.UUID: %s, %v; want it left as %s", kept, err, b)
	}
	var ptr *uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT $1::uuid`, a).Scan(&ptr); err != nil || ptr == nil || *ptr != a {
		t.Fatalf("into a *uuid.UUID: %v, %v", ptr, err)
	}
}
