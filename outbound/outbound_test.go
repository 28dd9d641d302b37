package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

// testEnv is a fresh database with the Postgres event store on it.
type testEnv struct {
	pool  *pgxpool.Pool
	store *postgres.Store
}

func newTestEnv(t *testing.T) testEnv {
	t.Helper()
	pool := pgtest.NewDatabase(t, 16)
	if err := postgres.Migrate(t.Context(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool, postgres.WithPollInterval(50*time.Millisecond))
	t.Cleanup(store.Close)
	return testEnv{pool: pool, store: store}
}

// appendEvents appends n events over streams streams named after tag,
// one to three events per append, taking the streams in turn.
func (e testEnv) appendEvents(t *testing.T, tag string, n, streams int) {
	t.Helper()
	for i, turn := 0, 0; i < n; turn++ {
		batch := make([]eventstore.EventData, 0, 3)
		for range min(1+turn%3, n-i) {
			data := map[string]any{"i": i, "note": "<a & b>"}
			ev, err := eventstore.NewEvent("Noted", data, eventstore.Metadata{TenantID: "t1", OccurredAt: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, ev)
			i++
		}
		stream := fmt.Sprintf("note-%s-%d", tag, turn%streams)
		if _, err := e.store.Append(t.Context(), eventstore.To(stream, eventstore.Any(), batch...)); err != nil {
			t.Fatalf("append to %s: %v", stream, err)
		}
	}
}

// log returns the events after position after, in log order.
func (e testEnv) log(t *testing.T, after eventstore.Position) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for {
		batch, err := e.store.ReadAll(t.Context(), after, 1000)
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Position
	}
}

// head returns the position of the last event.
func (e testEnv) head(t *testing.T) eventstore.Position {
	t.Helper()
	h, err := e.store.Head(t.Context())
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return h
}

// running is a Publisher's Run in the background.
type running struct {
	stop func()
	done chan error
}

func start(t *testing.T, p *Publisher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

// halt stops Run and waits for it to return.
func (r *running) halt(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		r.done <- nil // so that a second halt returns at once
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return 15s after its context ended")
	}
}

// waitCheckpoint waits until p's checkpoint reaches pos.
func waitCheckpoint(t *testing.T, p *Publisher, pos eventstore.Position, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		at, err := p.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if at >= pos {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %s at %d, not %d, after %s", p.Name(), at, pos, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkDelivery checks that msgs carry exactly the events of want, each
// as many times as dups says (once when absent), with message UUID = event
// id, the envelope and headers intact, and each stream in version order.
func checkDelivery(t *testing.T, want []eventstore.Event, msgs []*message.Message, dups map[string]int) {
	t.Helper()
	byID := make(map[string]eventstore.Event, len(want))
	for _, e := range want {
		byID[e.ID.String()] = e
	}
	seen := map[string]int{}
	lastVersion := map[string]uint64{}
	for _, msg := range msgs {
		env, err := Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := byID[msg.UUID]
		if !ok {
			t.Fatalf("message %s carries no event of this run", msg.UUID)
		}
		checkEnvelope(t, e, env, msg)
		if seen[msg.UUID]++; seen[msg.UUID] == 1 && env.Version <= lastVersion[env.Stream] {
			t.Errorf("stream %s: version %d arrived after version %d", env.Stream, env.Version, lastVersion[env.Stream])
		}
		lastVersion[env.Stream] = max(lastVersion[env.Stream], env.Version)
	}
	for id := range byID {
		if n, want := seen[id], max(dups[id], 1); n != want {
			t.Errorf("event %s arrived %d times, want %d", id, n, want)
		}
	}
}

func checkEnvelope(t *testing.T, e eventstore.Event, env Envelope, msg *message.Message) {
	t.Helper()
	switch {
	case env.Stream != e.Stream, env.Version != e.Version, env.Position != uint64(e.Position),
		env.Type != e.Type, env.SchemaVersion != e.SchemaVersion, !env.RecordedAt.Equal(e.RecordedAt),
		env.Metadata.TenantID != e.Metadata.TenantID, !env.Metadata.OccurredAt.Equal(e.Metadata.OccurredAt):
		t.Errorf("event %s: envelope %+v differs from the event %+v", e.ID, env, e)
	case !bytes.Equal(env.Data, redacted(t, e.Data)):
		t.Errorf("event %s: data %s, want %s byte for byte but for its secrets", e.ID, env.Data, e.Data)
	case msg.Metadata.Get(HeaderEventType) != e.Type, msg.Metadata.Get(HeaderStream) != e.Stream,
		msg.Metadata.Get(HeaderPosition) != strconv.FormatUint(uint64(e.Position), 10):
		t.Errorf("event %s: headers %v", e.ID, msg.Metadata)
	}
}

// redacted is data without its secret fields.
func redacted(t *testing.T, data []byte) []byte {
	t.Helper()
	out, err := redactData(data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fakeBroker is a message.Publisher that records what it is sent.
type fakeBroker struct {
	mu    sync.Mutex
	msgs  []*message.Message
	topic string
}

func (f *fakeBroker) Publish(topic string, msgs ...*message.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topic = topic
	f.msgs = append(f.msgs, msgs...)
	return nil
}

func (f *fakeBroker) Close() error { return nil }

func (f *fakeBroker) sent() []*message.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*message.Message(nil), f.msgs...)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newFake returns a publisher to a fakeBroker, retrying its lock quickly.
func newFake(t *testing.T, e testEnv, broker message.Publisher, opts ...Option) *Publisher {
	t.Helper()
	o, err := newOptions("fake", opts)
	if err != nil {
		t.Fatal(err)
	}
	o.lockRetry = 50 * time.Millisecond
	return &Publisher{pool: e.pool, store: e.store, logger: quietLogger(), pub: broker, kind: "fake", opts: o}
}

func TestResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.appendEvents(t, "a", 250, 7)
	broker := &fakeBroker{}
	p := newFake(t, e, broker, WithTopic("t.events"))
	r := start(t, p)
	waitCheckpoint(t, p, e.head(t), 10*time.Second)
	r.halt(t)
	checkDelivery(t, e.log(t, 0), broker.sent(), nil)

	e.appendEvents(t, "b", 60, 5)
	again := newFake(t, e, broker, WithTopic("t.events"))
	start(t, again)
	waitCheckpoint(t, again, e.head(t), 10*time.Second)
	checkDelivery(t, e.log(t, 0), broker.sent(), nil)
	if n := again.published.Load(); n != 60 {
		t.Errorf("the restarted publisher published %d events, want the 60 new ones", n)
	}
	if broker.topic != "t.events" {
		t.Errorf("published to %q", broker.topic)
	}
}

func TestCrashBeforeCheckpointRepublishesThatBatchOnly(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.appendEvents(t, "a", 200, 4)
	broker := &fakeBroker{}
	p := newFake(t, e, broker, WithBatchSize(30))
	var once sync.Once
	lost := make(chan []eventstore.Event, 1)
	p.beforeSave = func(batch []eventstore.Event) (err error) {
		if p.published.Load() > int64(len(batch)) { // not the first batch
			once.Do(func() { lost <- batch; err = errors.New("crash before the checkpoint, as told") })
		}
		return err
	}
	start(t, p)
	waitCheckpoint(t, p, e.head(t), 10*time.Second)
	crashed := <-lost
	if len(crashed) == 0 || len(crashed) > 30 {
		t.Fatalf("the crash hit a batch of %d events, want 1 to 30", len(crashed))
	}
	dups := map[string]int{}
	for _, ev := range crashed {
		dups[ev.ID.String()] = 2
	}
	checkDelivery(t, e.log(t, 0), broker.sent(), dups)
}

func TestOneReplicaPublishesAtATime(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	broker := &fakeBroker{}
	first, second := newFake(t, e, broker), newFake(t, e, broker)
	r1 := start(t, first)
	e.appendEvents(t, "a", 120, 3)
	waitCheckpoint(t, first, e.head(t), 10*time.Second)
	start(t, second) // waits for the lock
	e.appendEvents(t, "b", 40, 3)
	waitCheckpoint(t, first, e.head(t), 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	r1.halt(t) // the second takes over
	e.appendEvents(t, "c", 80, 3)
	waitCheckpoint(t, second, e.head(t), 10*time.Second)
	checkDelivery(t, e.log(t, 0), broker.sent(), nil)
	if a, b := first.published.Load(), second.published.Load(); a != 160 || b != 80 {
		t.Errorf("first published %d, second %d; want 160 and 80", a, b)
	}
}

func TestEnvelope(t *testing.T) {
	t.Parallel()
	ev := eventstore.Event{
		Stream: "account-1", Version: 3, Position: 1 << 40, Type: "AccountOpened", SchemaVersion: 2,
		Data:       []byte(`{ "name":  "A <&> B" }`),
		Metadata:   eventstore.Metadata{TenantID: "t", Actor: eventstore.Actor{Type: "user", ID: "u"}, OccurredAt: time.Now()},
		RecordedAt: time.Now(),
	}
	ev.ID = [16]byte{1, 2, 3}
	msg, err := NewMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(msg.Payload, []byte(`,"data":{ "name":  "A <&> B" }}`)) {
		t.Errorf("payload %s does not end with the data as written", msg.Payload)
	}
	env, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	checkEnvelope(t, ev, env, msg)
	if env.Event().Position != ev.Position || env.Metadata.Actor != ev.Metadata.Actor {
		t.Errorf("round trip: %+v", env.Event())
	}
	msg.UUID = "another"
	if _, err := Decode(msg); err == nil {
		t.Error("a message whose UUID is not its event id decoded")
	}
}

func TestURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, kind, shown string
	}{
		{"nats://127.0.0.1:4222", kindNATS, "nats://127.0.0.1:4222"},
		{"nats://u:secret@a:4222,nats://u:secret@b:4222", kindNATS, "nats://u:xxxxx@a:4222,nats://u:xxxxx@b:4222"},
		{"amqp://guest:secret@127.0.0.1:5672/", kindAMQP, "amqp://guest:xxxxx@127.0.0.1:5672/"},
		{"AMQPS://host/vhost", kindAMQP, "amqps://host/vhost"},
		{"kafka://u:secret@host", "", "kafka://u:xxxxx@host"},
		{"nats", "", "nats"},
	} {
		kind, err := kindOf(tc.url)
		if kind != tc.kind || (err == nil) != (tc.kind != "") {
			t.Errorf("kindOf(%s) = %q, %v; want %q", tc.url, kind, err, tc.kind)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("secret")) {
			t.Errorf("kindOf(%s) error shows the password: %v", tc.url, err)
		}
		if got := redact(tc.url); got != tc.shown {
			t.Errorf("redact(%s) = %s, want %s", tc.url, got, tc.shown)
		}
	}
}
