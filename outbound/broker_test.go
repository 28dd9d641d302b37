package outbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"ledger/eventstore"
)

// brokerCase runs the publisher against one real broker, on a stream or
// exchange of its own that the test removes afterwards.
type brokerCase struct {
	name, env, defaultURL string
	// require readies the broker or skips t, before the test dials it.
	require func(t *testing.T, bc brokerCase)
	// dedups is true when the broker drops a republished message id.
	dedups bool
	// options returns the publisher's options for the test named tag.
	options func(tag string) []Option
	// cleanup removes what the publisher created on the broker.
	cleanup func(t *testing.T, url, tag string)
	// subscribe consumes the topic from its start; the test acks.
	subscribe func(t *testing.T, url, tag, topic string) <-chan *message.Message
}

func (bc brokerCase) url() string {
	if u := os.Getenv(bc.env); u != "" {
		return u
	}
	if bc.name == "nats" {
		return natsURL()
	}
	return bc.defaultURL
}

var brokerCases = []brokerCase{
	{
		name: "nats", env: "LEDGER_TEST_NATS_URL", require: requireNATS, dedups: true,
		options: func(tag string) []Option {
			return []Option{WithTopic(testTopic(tag)), WithStream("LEDGER_TEST_" + tag)}
		},
		cleanup:   deleteNATSStream,
		subscribe: subscribeNATS,
	},
	{
		name: "amqp", env: "LEDGER_TEST_AMQP_URL", defaultURL: "amqp://guest:guest@127.0.0.1:5672/", require: requireAnswering,
		options: func(tag string) []Option {
			return []Option{WithTopic(testTopic(tag)), WithExchange("ledger.test." + tag)}
		},
		cleanup:   deleteAMQPExchange,
		subscribe: subscribeAMQP,
	},
}

func testTopic(tag string) string { return "ledger.test." + tag + ".events" }

// TestRealBrokers publishes a few hundred events to each real broker,
// consumes them with Watermill's subscriber for it, restarts the
// publisher, and crashes it between a confirm and its checkpoint.
func TestRealBrokers(t *testing.T) {
	t.Parallel()
	for _, bc := range brokerCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			bc.require(t, bc) // before the database, when it skips
			tag := randomTag(t)
			e := newTestEnv(t)
			p := dialBroker(t, bc, e, tag)
			msgs := bc.subscribe(t, bc.url(), tag, testTopic(tag))

			e.appendEvents(t, "a", 300, 8)
			began := time.Now()
			r := start(t, p)
			got := receive(t, msgs, 300)
			checkDelivery(t, e.log(t, 0), got, nil) // the log read once the publisher has read it
			waitCheckpoint(t, p, e.head(t), 10*time.Second)
			t.Logf("%s: 300 events over 8 streams published and consumed in %s", bc.name, time.Since(began).Round(time.Millisecond))
			r.halt(t)
			closePublisher(t, p)

			resumeFromCheckpoint(t, bc, e, tag, msgs)
			crashBeforeCheckpoint(t, bc, e, tag, msgs)
		})
	}
}

// resumeFromCheckpoint restarts the publisher: it publishes only the
// events appended since, and no event twice.
func resumeFromCheckpoint(t *testing.T, bc brokerCase, e testEnv, tag string, msgs <-chan *message.Message) {
	t.Helper()
	from := e.head(t)
	e.appendEvents(t, "b", 100, 5)
	began := time.Now()
	p := dialBroker(t, bc, e, tag)
	r := start(t, p)
	got := receive(t, msgs, 100)
	checkDelivery(t, e.log(t, from), got, nil)
	waitCheckpoint(t, p, e.head(t), 10*time.Second)
	expectQuiet(t, msgs, 300*time.Millisecond)
	if n := p.published.Load(); n != 100 {
		t.Errorf("the restarted publisher published %d events, want the 100 new ones", n)
	}
	t.Logf("%s: restarted, 100 new events published in %s", bc.name, time.Since(began).Round(time.Millisecond))
	r.halt(t)
	closePublisher(t, p)
}

// crashBeforeCheckpoint fails the checkpoint of a confirmed batch once:
// the publisher publishes that batch again, which consumers receive twice
// unless the broker drops duplicates by message id.
func crashBeforeCheckpoint(t *testing.T, bc brokerCase, e testEnv, tag string, msgs <-chan *message.Message) {
	t.Helper()
	from := e.head(t)
	e.appendEvents(t, "c", 150, 6)
	p := dialBroker(t, bc, e, tag, WithBatchSize(50))
	var once sync.Once
	lost := make(chan []eventstore.Event, 1)
	p.beforeSave = func(batch []eventstore.Event) (err error) {
		once.Do(func() { lost <- batch; err = errors.New("crash before the checkpoint, as told") })
		return err
	}
	r := start(t, p)
	crashed := <-lost // up to 50 events: the log may come in smaller batches
	want, dups := 150, map[string]int{}
	if !bc.dedups {
		want += len(crashed)
		for _, ev := range crashed {
			dups[ev.ID.String()] = 2
		}
	}
	got := receive(t, msgs, want)
	waitCheckpoint(t, p, e.head(t), 10*time.Second)
	expectQuiet(t, msgs, 300*time.Millisecond)
	checkDelivery(t, e.log(t, from), got, dups)
	if n := p.published.Load(); n != int64(150+len(crashed)) {
		t.Errorf("published %d, want the 150 events and the %d of the crashed batch again", n, len(crashed))
	}
	t.Logf("%s: after a crash before the checkpoint, consumers received %d messages for 150 events (its crashed batch of %d sent again)", bc.name, want, len(crashed))
	r.halt(t)
	closePublisher(t, p)
}

// dialBroker connects a publisher to bc's broker, failing the test with
// a clear message when the broker does not answer. NATS runs in process
// unless LEDGER_TEST_NATS_URL names a server; a RabbitMQ that does not
// answer skips the test, unless LEDGER_REQUIRE_BROKERS=1.
func dialBroker(t *testing.T, bc brokerCase, e testEnv, tag string, opts ...Option) *Publisher {
	t.Helper()
	bc.require(t, bc)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, bc.url(), e.pool, e.store, quietLogger(), append(bc.options(tag), opts...)...)
	if err != nil {
		t.Fatalf("the %s broker at %s does not answer (CI starts it in .ci/run; set %s to use another): %v",
			bc.name, redact(bc.url()), bc.env, err)
	}
	p.opts.lockRetry = 50 * time.Millisecond
	t.Cleanup(func() { bc.cleanup(t, bc.url(), tag) })
	return p
}

func closePublisher(t *testing.T, p *Publisher) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// receive acks and returns the next n messages.
func receive(t *testing.T, msgs <-chan *message.Message, n int) []*message.Message {
	t.Helper()
	timeout := time.After(30 * time.Second)
	out := make([]*message.Message, 0, n)
	for len(out) < n {
		select {
		case msg, ok := <-msgs:
			if !ok {
				t.Fatalf("the subscription ended after %d of %d messages", len(out), n)
			}
			msg.Ack()
			out = append(out, msg)
		case <-timeout:
			t.Fatalf("received %d of %d messages in 30s", len(out), n)
		}
	}
	return out
}

// expectQuiet fails the test if a message arrives within d.
func expectQuiet(t *testing.T, msgs <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case msg := <-msgs:
		msg.Ack()
		t.Errorf("an extra message arrived: %s at position %s", msg.UUID, msg.Metadata.Get(HeaderPosition))
	case <-time.After(d):
	}
}

func randomTag(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// subscribeNATS consumes the topic from the start of the stream that the
// publisher created, with Watermill's JetStream subscriber.
func subscribeNATS(t *testing.T, url, tag, topic string) <-chan *message.Message {
	t.Helper()
	stream := "LEDGER_TEST_" + tag
	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		URL:      url,
		Logger:   watermill.NopLogger{},
		AckAsync: true,
		ResourceInitializer: func(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			s, err := js.Stream(ctx, stream)
			if err != nil {
				return nil, nil, err
			}
			c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Name: "test", FilterSubject: topic, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
			})
			return c, nil, err
		},
	})
	if err != nil {
		t.Fatalf("nats subscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", topic, err)
	}
	return msgs
}

func deleteNATSStream(t *testing.T, url, tag string) {
	t.Helper()
	conn, err := nats.Connect(url)
	if err != nil {
		t.Errorf("clean up: connect to NATS: %v", err)
		return
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err == nil {
		err = js.DeleteStream(context.Background(), "LEDGER_TEST_"+tag)
	}
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("clean up: delete stream: %v", err)
	}
}

// subscribeAMQP binds a queue of its own to the publisher's exchange with
// the topic as binding key, and consumes it with Watermill's subscriber.
func subscribeAMQP(t *testing.T, url, tag, topic string) <-chan *message.Message {
	t.Helper()
	queue := "ledger.test." + tag
	cfg := wmamqp.NewDurableTopicConfig(url, "ledger.test."+tag, queue)
	cfg.Exchange.Durable = true // as the publisher declares it
	cfg.Consume.Qos.PrefetchCount = 100
	sub, err := wmamqp.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("amqp subscriber: %v", err)
	}
	t.Cleanup(func() {
		_ = sub.Close()
		withAMQPChannel(t, url, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(queue, false, false, false)
			return err
		})
	})
	msgs, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", topic, err)
	}
	return msgs
}

func deleteAMQPExchange(t *testing.T, url, tag string) {
	t.Helper()
	withAMQPChannel(t, url, func(ch *amqp.Channel) error {
		return ch.ExchangeDelete("ledger.test."+tag, false, false)
	})
}

func withAMQPChannel(t *testing.T, url string, do func(*amqp.Channel) error) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Errorf("clean up: connect to AMQP: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		err = do(ch)
	}
	if err != nil {
		t.Errorf("clean up: %v", err)
	}
}
