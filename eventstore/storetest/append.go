package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/google/uuid"

	"ledger/eventstore"
)

func testAppendAndReadBack(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "readback")
	in := events(t, 1, 3)
	res := mustAppend(t, s, stream, eventstore.NoStream(), in...)
	if res.Version != 3 || res.Duplicate {
		t.Fatalf("append result = %+v, want version 3, not duplicate", res)
	}
	got := readStream(t, s, stream)
	if len(got) != len(in) {
		t.Fatalf("read %d events, want %d", len(got), len(in))
	}
	for i, e := range got {
		want := in[i]
		if e.ID != want.ID || e.Type != want.Type || e.SchemaVersion != want.SchemaVersion || e.Stream != stream {
			t.Errorf("event %d = %s %s v%d in %s, want %s %s v%d", i, e.ID, e.Type, e.SchemaVersion, e.Stream, want.ID, want.Type, want.SchemaVersion)
		}
		if e.Version != uint64(i+1) {
			t.Errorf("event %d version = %d, want %d", i, e.Version, i+1)
		}
		if p := payloadOf(t, e); p.N != i+1 || p.Note != "ünïcode ✓" {
			t.Errorf("event %d data = %+v", i, p)
		}
		if !reflect.DeepEqual(e.Metadata, want.Metadata) {
			t.Errorf("event %d metadata = %+v, want %+v", i, e.Metadata, want.Metadata)
		}
		if e.RecordedAt.IsZero() {
			t.Errorf("event %d has no recorded_at", i)
		}
		if i > 0 && e.Position <= got[i-1].Position {
			t.Errorf("positions not increasing: %d then %d", got[i-1].Position, e.Position)
		}
	}
	if last := got[len(got)-1]; res.Position != last.Position {
		t.Errorf("append returned position %d, last event is at %d", res.Position, last.Position)
	}
}

func testInvalidAppends(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "invalid")
	noID := event(t, 1)
	noID.ID = uuid.Nil
	noType := event(t, 1)
	noType.Type = ""
	badJSON := event(t, 1)
	badJSON.Data = []byte("{not json")
	twice := event(t, 1)
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"no stream name", "", events(t, 1, 1)},
		{"no events", stream, nil},
		{"no id", stream, []eventstore.EventData{event(t, 1), noID}},
		{"no type", stream, []eventstore.EventData{event(t, 1), noType}},
		{"bad data", stream, []eventstore.EventData{event(t, 1), badJSON}},
		{"same id twice", stream, []eventstore.EventData{twice, twice}},
	}
	for _, tc := range cases {
		_, err := s.Append(testContext(t), eventstore.To(tc.stream, eventstore.Any(), tc.events...))
		if !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", tc.name, err)
		}
	}
	if got := readStream(t, s, stream); len(got) != 0 {
		t.Errorf("refused appends wrote %d events", len(got))
	}
}

func testExpectedVersion(t *testing.T, s eventstore.Store) {
	cases := []struct {
		name     string
		existing int
		expected eventstore.ExpectedVersion
		ok       bool
	}{
		{"any on new stream", 0, eventstore.Any(), true},
		{"any on existing", 2, eventstore.Any(), true},
		{"no stream on new", 0, eventstore.NoStream(), true},
		{"no stream on existing", 2, eventstore.NoStream(), false},
		{"exists on new", 0, eventstore.StreamExists(), false},
		{"exists on existing", 2, eventstore.StreamExists(), true},
		{"exact 0 on new", 0, eventstore.Exact(0), true},
		{"exact current", 2, eventstore.Exact(2), true},
		{"exact behind", 2, eventstore.Exact(1), false},
		{"exact ahead", 2, eventstore.Exact(3), false},
		{"exact on new", 0, eventstore.Exact(1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stream := newStream(t, "expected")
			if tc.existing > 0 {
				mustAppend(t, s, stream, eventstore.NoStream(), events(t, 1, tc.existing)...)
			}
			res, err := s.Append(testContext(t), eventstore.To(stream, tc.expected, event(t, 9)))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("append: %v", err)
			case tc.ok && res.Version != uint64(tc.existing+1):
				t.Fatalf("version = %d, want %d", res.Version, tc.existing+1)
			case !tc.ok && !errors.Is(err, eventstore.ErrConcurrency):
				t.Fatalf("err = %v, want ErrConcurrency", err)
			}
		})
	}
}

func testConcurrencyWritesNothing(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "nothing")
	mustAppend(t, s, stream, eventstore.NoStream(), events(t, 1, 2)...)
	before := head(t, s)
	refused := events(t, 3, 3)
	_, err := s.Append(testContext(t), eventstore.To(stream, eventstore.Exact(1), refused...))
	if !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v, want ErrConcurrency", err)
	}
	if got := readStream(t, s, stream); len(got) != 2 {
		t.Fatalf("stream has %d events after a refused append, want 2", len(got))
	}
	log, err := s.ReadAll(testContext(t), before, 100_000)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	for _, e := range log {
		for _, r := range refused {
			if e.ID == r.ID {
				t.Fatalf("refused event %s is in the global log at %d", e.ID, e.Position)
			}
		}
	}
	// The refused ids were never recorded, so they can be appended now.
	if res := mustAppend(t, s, stream, eventstore.Exact(2), refused...); res.Duplicate || res.Version != 5 {
		t.Fatalf("append after refusal = %+v, want version 5", res)
	}
}

func testReadStreamRange(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "range")
	mustAppend(t, s, stream, eventstore.NoStream(), events(t, 1, 10)...)
	cases := []struct {
		from      uint64
		limit     int
		wantFirst uint64
		wantLen   int
	}{
		{0, 100, 1, 10},
		{1, 100, 1, 10},
		{4, 100, 4, 7},
		{4, 3, 4, 3},
		{10, 100, 10, 1},
		{11, 100, 0, 0},
	}
	for _, tc := range cases {
		got, err := s.ReadStream(testContext(t), stream, tc.from, tc.limit)
		if err != nil {
			t.Fatalf("read from %d: %v", tc.from, err)
		}
		if len(got) != tc.wantLen || (tc.wantLen > 0 && got[0].Version != tc.wantFirst) {
			t.Errorf("read from %d limit %d: %d events starting at %v, want %d from %d", tc.from, tc.limit, len(got), firstVersion(got), tc.wantLen, tc.wantFirst)
		}
	}
	if got, err := s.ReadStream(testContext(t), newStream(t, "absent"), 0, 10); err != nil || len(got) != 0 {
		t.Errorf("read of an absent stream = %d events, %v; want none, no error", len(got), err)
	}
}

// testReadStreams reads several streams at once, through the store's
// MultiReader when it has one: each read answers as ReadStream would.
func testReadStreams(t *testing.T, s eventstore.Store) {
	a, b, absent := newStream(t, "multi"), newStream(t, "multi"), newStream(t, "absent")
	mustAppend(t, s, a, eventstore.NoStream(), events(t, 1, 5)...)
	mustAppend(t, s, b, eventstore.NoStream(), events(t, 1, 3)...)
	reads := []eventstore.StreamRead{
		{Stream: a, From: 2, Limit: 100}, {Stream: absent, From: 1, Limit: 10},
		{Stream: b, From: 1, Limit: 2}, {Stream: a, From: 6, Limit: 10},
	}
	got, err := eventstore.ReadStreams(testContext(t), s, reads)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(reads) {
		t.Fatalf("%d results for %d reads", len(got), len(reads))
	}
	for i, r := range reads {
		want, err := s.ReadStream(testContext(t), r.Stream, r.From, r.Limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("read %d (%s from %d, limit %d): %d events from %v, want %d from %v",
				i, r.Stream, r.From, r.Limit, len(got[i]), firstVersion(got[i]), len(want), firstVersion(want))
		}
	}
	if len(got[0]) != 4 || len(got[1]) != 0 || len(got[2]) != 2 || len(got[3]) != 0 {
		t.Errorf("read %d, %d, %d and %d events; want 4, 0, 2 and 0", len(got[0]), len(got[1]), len(got[2]), len(got[3]))
	}
}

func firstVersion(evs []eventstore.Event) any {
	if len(evs) == 0 {
		return "nothing"
	}
	return evs[0].Version
}

// testRacingWritersSameStream has several writers append at the same
// expected version, round after round: exactly one must win each version.
func testRacingWritersSameStream(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "race")
	raceRounds(t, s, stream, 4, 40, func(round int) error {
		_, err := s.Append(testContext(t), eventstore.To(stream, eventstore.Exact(uint64(round)), event(t, round)))
		return err
	})
}

// raceRounds has writers call appendAt(round) at once, round after round,
// each round's appends to stream at the version the round starts at:
// exactly one must win each round, the others losing with
// ErrConcurrency.
func raceRounds(t *testing.T, s eventstore.Store, stream string, writers, rounds int, appendAt func(round int) error) {
	t.Helper()
	for round := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				<-start
				errs[w] = appendAt(round)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, eventstore.ErrConcurrency):
				t.Fatalf("round %d: loser err = %v, want ErrConcurrency", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won version %d, want exactly 1", round, wins, round+1)
		}
	}
	if got := readStream(t, s, stream); len(got) != rounds {
		t.Fatalf("stream has %d events after %d rounds", len(got), rounds)
	}
}

// testRacingAnyWriters has writers append with no expectation: all must
// land, each at a version of its own with no gap.
func testRacingAnyWriters(t *testing.T, s eventstore.Store) {
	const writers, each = 8, 10
	stream := newStream(t, "anyrace")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Append(testContext(t), eventstore.To(stream, eventstore.Any(), event(t, w*each+i))); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := readStream(t, s, stream)
	if len(got) != writers*each {
		t.Fatalf("stream has %d events, want %d", len(got), writers*each)
	}
	for i, e := range got {
		if e.Version != uint64(i+1) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
	}
}

func testIdempotentReappend(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "idem")
	batch := events(t, 1, 3)
	first := mustAppend(t, s, stream, eventstore.NoStream(), batch...)
	for _, expected := range []eventstore.ExpectedVersion{eventstore.NoStream(), eventstore.Any(), eventstore.Exact(0), eventstore.StreamExists()} {
		again := mustAppend(t, s, stream, expected, batch...)
		if !again.Duplicate || again.Version != first.Version || again.Position != first.Position {
			t.Fatalf("re-append with %s = %+v, want duplicate of %+v", expected, again, first)
		}
	}
	if got := readStream(t, s, stream); len(got) != 3 {
		t.Fatalf("stream has %d events after re-appends, want 3", len(got))
	}
	partial := append(events(t, 4, 1), batch[0])
	if _, err := s.Append(testContext(t), eventstore.To(stream, eventstore.Any(), partial...)); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("partial repeat: err = %v, want ErrDuplicateEventID", err)
	}
	if _, err := s.Append(testContext(t), eventstore.To(newStream(t, "idem-other"), eventstore.Any(), batch[1])); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("id of another stream: err = %v, want ErrDuplicateEventID", err)
	}
	if got := readStream(t, s, stream); len(got) != 3 {
		t.Fatalf("stream has %d events after refused repeats, want 3", len(got))
	}
}

// testAppendToSeveralStreams appends to several streams at once: all land
// with their versions, or, when one stream's expectation fails, none; and
// a repeat of the whole append is a duplicate.
func testAppendToSeveralStreams(t *testing.T, s eventstore.Store) {
	requires(t, s, eventstore.AtomicStreams)
	a, b, c := newStream(t, "several"), newStream(t, "several"), newStream(t, "several")
	mustAppend(t, s, b, eventstore.NoStream(), event(t, 1))
	req := eventstore.AppendRequest{Streams: []eventstore.StreamEvents{
		{Stream: a, Expected: eventstore.NoStream(), Events: events(t, 1, 2)},
		{Stream: b, Expected: eventstore.Exact(1), Events: events(t, 2, 1)},
		{Stream: c, Expected: eventstore.Any(), Events: events(t, 1, 3)},
	}}
	res, err := s.Append(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || !reflect.DeepEqual(res.Versions, []uint64{2, 2, 3}) || res.Duplicate {
		t.Fatalf("append to three streams = %+v, want versions 2, 2 and 3", res)
	}
	var last eventstore.Position
	for _, stream := range []string{a, b, c} {
		for _, e := range readStream(t, s, stream) {
			last = max(last, e.Position)
		}
	}
	if res.Position != last {
		t.Fatalf("append reported position %d, its last event is at %d", res.Position, last)
	}
	again, err := s.Append(testContext(t), req)
	if err != nil || !again.Duplicate || again.Position != res.Position || !reflect.DeepEqual(again.Versions, res.Versions) {
		t.Fatalf("repeat = %+v, %v; want a duplicate of %+v", again, err, res)
	}
	refused := eventstore.AppendRequest{Streams: []eventstore.StreamEvents{
		{Stream: a, Expected: eventstore.Exact(2), Events: events(t, 3, 1)},
		{Stream: c, Expected: eventstore.Exact(2), Events: events(t, 4, 1)},
	}}
	if _, err := s.Append(testContext(t), refused); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("one stream behind: err = %v, want ErrConcurrency", err)
	}
	if len(readStream(t, s, a)) != 2 || len(readStream(t, s, c)) != 3 {
		t.Fatal("a refused append to several streams wrote to one of them")
	}
	partial := eventstore.AppendRequest{Streams: []eventstore.StreamEvents{
		{Stream: a, Expected: eventstore.Any(), Events: req.Streams[0].Events},
		{Stream: c, Expected: eventstore.Any(), Events: events(t, 5, 1)},
	}}
	if _, err := s.Append(testContext(t), partial); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("a repeat of one stream's events with new ones for another: err = %v, want ErrDuplicateEventID", err)
	}
}
