package memory_test

import (
	"testing"

	"ledger/eventstore"
	"ledger/eventstore/memory"
	"ledger/eventstore/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	s := memory.New()
	storetest.Run(t, func(*testing.T) eventstore.Store { return s })
}
