package postgres_test

import (
	"context"
	"testing"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/eventstore/storetest"
	"ledger/internal/pgtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 32)
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := postgres.New(pool)
	t.Cleanup(s.Close)
	storetest.Run(t, func(*testing.T) eventstore.Store { return s })
}
