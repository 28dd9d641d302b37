package esdb_test

import (
	"os"
	"testing"

	"ledger/eventstore"
	"ledger/eventstore/esdb"
	"ledger/eventstore/storetest"
)

// TestConformance runs the eventstore conformance suite against the server
// at LEDGER_ESDB_URL, such as esdb://localhost:2113?tls=false.
func TestConformance(t *testing.T) {
	conn := os.Getenv("LEDGER_ESDB_URL")
	if conn == "" {
		t.Skip("LEDGER_ESDB_URL is not set: skipping the EventStoreDB conformance run; see docs/eventstoredb.md")
	}
	store, err := esdb.Open(conn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	for _, w := range store.Warnings() {
		t.Log(w)
	}
	storetest.Run(t, func(*testing.T) eventstore.Store { return store })
}
