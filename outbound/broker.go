package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Broker kinds, as named by the scheme of the publish URL.
const (
	kindNATS = "nats"
	kindAMQP = "amqp"
)

// duplicateWindow is how long JetStream remembers message ids of a stream
// that the publisher creates, so that a republished event is stored once.
const duplicateWindow = 2 * time.Minute

// kindOf returns the broker kind that rawURL's scheme names: nats:// for
// NATS JetStream, amqp:// or amqps:// for RabbitMQ.
func kindOf(rawURL string) (string, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	switch strings.ToLower(scheme) {
	case "nats":
		if ok {
			return kindNATS, nil
		}
	case "amqp", "amqps":
		if ok {
			return kindAMQP, nil
		}
	}
	return "", fmt.Errorf("publish url %s: scheme must be nats://, amqp:// or amqps://", redact(rawURL))
}

// redact returns rawURL fit for logs and errors: any password is replaced
// by "xxxxx". NATS takes a comma-separated list of URLs; each is redacted.
func redact(rawURL string) string {
	parts := strings.Split(rawURL, ",")
	for i, part := range parts {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			parts[i] = "(unparsable url)"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}

// dial connects to the broker that rawURL names and returns a Watermill
// publisher that returns from Publish only once the broker has confirmed
// every message.
func dial(ctx context.Context, kind, rawURL string, o options, logger watermill.LoggerAdapter) (message.Publisher, error) {
	switch kind {
	case kindNATS:
		return dialNATS(ctx, rawURL, o, logger)
	case kindAMQP:
		return dialAMQP(rawURL, o, logger)
	}
	return nil, fmt.Errorf("unknown broker kind %q", kind)
}

// dialNATS connects to NATS, makes sure a JetStream stream takes the
// topic's subject, and returns watermill-nats' JetStream publisher: it
// publishes each message and waits for the stream's ack, with the message
// UUID as Nats-Msg-Id so that JetStream drops a republished duplicate.
func dialNATS(ctx context.Context, rawURL string, o options, logger watermill.LoggerAdapter) (message.Publisher, error) {
	conn, err := nats.Connect(rawURL, nats.Name("ledger outbound"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redact(rawURL), err)
	}
	if err := ensureStream(ctx, conn, o.stream, o.topic); err != nil {
		conn.Close()
		return nil, err
	}
	pub, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         wmnats.JetStreamConfig{TrackMsgId: true},
	}, logger)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("jetstream publisher: %w", err)
	}
	return pub, nil
}

// ensureStream creates the JetStream stream named stream for subject
// unless a stream already takes subject. It never changes a stream that
// exists.
func ensureStream(ctx context.Context, conn *nats.Conn, stream, subject string) error {
	js, err := jetstream.New(conn)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	_, err = js.StreamNameBySubject(ctx, subject)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("find the jetstream stream of %s: %w", subject, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        stream,
		Description: "ledger events, published by the ledger outbound publisher",
		Subjects:    []string{subject},
		Storage:     jetstream.FileStorage,
		Duplicates:  duplicateWindow,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create jetstream stream %s: a stream of that name exists but does not take subject %s", stream, subject)
	}
	if err != nil {
		return fmt.Errorf("create jetstream stream %s: %w", stream, err)
	}
	return nil
}

// dialAMQP returns watermill-amqp's publisher with publisher confirms: it
// publishes persistent messages to a durable topic exchange with the topic
// as routing key, and waits for the broker's confirm of each.
func dialAMQP(rawURL string, o options, logger watermill.LoggerAdapter) (message.Publisher, error) {
	cfg := wmamqp.Config{
		Connection: wmamqp.ConnectionConfig{AmqpURI: rawURL},
		Marshaler:  wmamqp.DefaultMarshaler{PostprocessPublishing: amqpProperties},
		Exchange: wmamqp.ExchangeConfig{
			GenerateName: wmamqp.GenerateExchangeNameConstant(o.exchange),
			Type:         "topic",
			Durable:      true,
		},
		Publish: wmamqp.PublishConfig{
			GenerateRoutingKey: func(topic string) string { return topic },
			ConfirmDelivery:    true,
		},
		TopologyBuilder: &wmamqp.DefaultTopologyBuilder{},
	}
	pub, err := wmamqp.NewPublisher(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("connect to AMQP at %s: %w", redact(rawURL), err)
	}
	return pub, nil
}

// amqpProperties sets the standard AMQP properties that consumers other
// than Watermill read: the content type and the message id (the event id).
func amqpProperties(p amqp.Publishing) amqp.Publishing {
	p.ContentType = "application/json"
	if id, ok := p.Headers[wmamqp.DefaultMessageUUIDHeaderKey].(string); ok {
		p.MessageId = id
	}
	return p
}
