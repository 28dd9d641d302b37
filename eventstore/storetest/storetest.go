// Package storetest is the conformance suite that every eventstore.Store
// backend passes; a backend that cannot keep a guarantee of the contract
// (eventstore.Limited) skips its tests, by name. It assumes nothing about what else the log holds: each
// subtest writes to streams of its own and ignores other events, so the
// suite can run against a shared server and in parallel with itself.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// Run runs every conformance test against the store that open returns. open
// may return the same store each time.
func Run(t *testing.T, open func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s eventstore.Store)
	}{
		{"AppendAndReadBack", testAppendAndReadBack},
		{"InvalidAppends", testInvalidAppends},
		{"ExpectedVersion", testExpectedVersion},
		{"ConcurrencyErrorWritesNothing", testConcurrencyWritesNothing},
		{"AppendToSeveralStreams", testAppendToSeveralStreams},
		{"ReadStreamRange", testReadStreamRange},
		{"ReadStreams", testReadStreams},
		{"RacingWritersSameStream", testRacingWritersSameStream},
		{"RacingAnyWritersSameStream", testRacingAnyWriters},
		{"IdempotentReappend", testIdempotentReappend},
		{"Conditions", testConditions},
		{"ConditionsRefused", testConditionsRefused},
		{"ConditionedWritersSameStream", testConditionedWritersSameStream},
		{"ConditionedWritersAtOnce", testConditionedWritersAtOnce},
		{"ConditionsAgainstAModel", testConditionsAgainstAModel},
		{"ConditionRacesInLogOrder", testConditionRacesInLogOrder},
		{"ConditionRacesInGroups", testConditionRacesInGroups},
		{"VersionOrderInLog", testVersionOrderInLog},
		{"UnknownOutcomes", testUnknownOutcomes},
		{"KeyRecordsAndReplays", testKeyRecordsAndReplays},
		{"KeyReusedForAnotherRequest", testKeyReusedForAnotherRequest},
		{"KeyCallersApart", testKeyCallersApart},
		{"KeyRacingRetries", testKeyRacingRetries},
		{"KeyOfFailedAppend", testKeyOfFailedAppend},
		{"KeyWithoutEvents", testKeyWithoutEvents},
		{"KeyAcrossStreams", testKeyAcrossStreams},
		{"ReadAllInBatches", testReadAllInBatches},
		{"Head", testHead},
		{"ReadAsOf", testReadAsOf},
		{"LiveSubscriberUnderConcurrentWriters", testLiveSubscriber},
		{"SubscriberResumesFromCheckpoint", testResumeFromCheckpoint},
		{"SubscriptionCancellation", testCancellation},
		{"HandlerErrorEndsSubscription", testHandlerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
}

// waitLimit bounds every wait in the suite, so a broken backend fails
// instead of hanging.
const waitLimit = 60 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// newStream returns a stream name no other test uses.
func newStream(t *testing.T, category string) string {
	t.Helper()
	return fmt.Sprintf("storetest-%s-%s", category, uuid.NewString())
}

type payload struct {
	N    int    `json:"n"`
	Note string `json:"note"`
}

func event(t *testing.T, n int) eventstore.EventData {
	t.Helper()
	e, err := eventstore.NewEvent("StoreTestHappened", payload{N: n, Note: "ünïcode ✓"}, eventstore.Metadata{
		TenantID:       "tenant-1",
		Actor:          eventstore.Actor{Type: "partner_user", ID: "user-1", PartnerID: "partner-1"},
		CorrelationID:  "corr-1",
		CausationID:    "cause-1",
		RequestID:      "req-1",
		IdempotencyKey: "key-1",
		OccurredAt:     time.Date(2026, 11, 25, 10, 0, 0, 123000, time.UTC),
	})
	if err != nil {
		t.Fatalf("new event: %v", err)
	}
	return e
}

func events(t *testing.T, from, n int) []eventstore.EventData {
	t.Helper()
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(t, from+i)
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(testContext(t), eventstore.To(stream, expected, evs...))
	if err != nil {
		t.Fatalf("append %d events to %s (expected %s): %v", len(evs), stream, expected, err)
	}
	return res
}

func readStream(t *testing.T, s eventstore.Store, stream string) []eventstore.Event {
	t.Helper()
	got, err := s.ReadStream(testContext(t), stream, 0, 100_000)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return got
}

func payloadOf(t *testing.T, e eventstore.Event) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(e.Data, &p); err != nil {
		t.Fatalf("event %s data %q: %v", e.ID, e.Data, err)
	}
	return p
}

// ownedBy keeps the events of streams whose names start with prefix.
func ownedBy(prefix string, batch []eventstore.Event) []eventstore.Event {
	var out []eventstore.Event
	for _, e := range batch {
		if strings.HasPrefix(e.Stream, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func head(t *testing.T, s eventstore.Store) eventstore.Position {
	t.Helper()
	h, err := s.Head(testContext(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return h
}
