package outbound

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestMain stops the in-process NATS server, if a test started one, and
// removes its store once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	embeddedNATS.stop()
	os.Exit(code)
}

// requireBrokersEnv turns a broker that does not answer from a skip into a
// failure; .ci/run sets it so that CI never skips a broker's tests.
const requireBrokersEnv = "LEDGER_REQUIRE_BROKERS"

// embeddedNATS is the NATS server, with JetStream, that the tests run in
// this process when LEDGER_TEST_NATS_URL is unset: started by the first
// test that needs it, on a random port, with a store of its own.
var embeddedNATS natsInProcess

type natsInProcess struct {
	once sync.Once
	srv  *server.Server
	dir  string
	url  string
	err  error
}

// start starts the server once and returns its client URL.
func (n *natsInProcess) start() (string, error) {
	n.once.Do(func() {
		n.dir, n.err = os.MkdirTemp("", "ledger-nats-")
		if n.err != nil {
			n.err = fmt.Errorf("nats store directory: %w", n.err)
			return
		}
		opts := &server.Options{
			Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: n.dir, DisableJetStreamBanner: true,
		}
		n.srv, n.err = server.NewServer(opts)
		if n.err != nil {
			n.err = fmt.Errorf("nats server: %w", n.err)
			return
		}
		n.srv.Start()
		if !n.srv.ReadyForConnections(10 * time.Second) {
			n.err = fmt.Errorf("the in-process nats server did not accept connections within 10s")
			return
		}
		n.url = n.srv.ClientURL()
	})
	return n.url, n.err
}

// stop shuts the server down, if started, and removes its store.
func (n *natsInProcess) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
	if n.dir != "" {
		os.RemoveAll(n.dir)
	}
}

// natsURL is the NATS server the tests use: LEDGER_TEST_NATS_URL, else
// the in-process one, once started.
func natsURL() string {
	if u := os.Getenv("LEDGER_TEST_NATS_URL"); u != "" {
		return u
	}
	return embeddedNATS.url
}

// requireNATS starts the in-process NATS server unless
// LEDGER_TEST_NATS_URL names one, failing t if it cannot start.
func requireNATS(t *testing.T, _ brokerCase) {
	t.Helper()
	if os.Getenv("LEDGER_TEST_NATS_URL") != "" {
		return
	}
	url, err := embeddedNATS.start()
	if err != nil {
		t.Fatalf("start an in-process NATS server (or set LEDGER_TEST_NATS_URL): %v", err)
	}
	t.Logf("nats: the in-process server at %s (LEDGER_TEST_NATS_URL names another)", url)
}

// requireAnswering skips t, naming the broker and what to do, when bc's
// default broker does not accept a TCP connection; with
// LEDGER_REQUIRE_BROKERS=1, or a URL set in bc.env, it lets the test run
// and fail at the dial instead.
func requireAnswering(t *testing.T, bc brokerCase) {
	t.Helper()
	if os.Getenv(requireBrokersEnv) == "1" || os.Getenv(bc.env) != "" {
		return
	}
	addr, err := brokerAddr(bc.url())
	if err == nil {
		var conn net.Conn
		conn, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
	}
	t.Skipf("skipping the %s tests: no broker answers at %s (%v); run one there or set %s, "+
		"and %s=1 to make a missing broker fail the tests", bc.name, redact(bc.url()), err, bc.env, requireBrokersEnv)
}

// brokerAddr is the host:port of a broker URL, with the scheme's port
// when it names none.
func brokerAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse broker url: %w", err)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	port := map[string]string{"amqp": "5672", "amqps": "5671", "nats": "4222"}[u.Scheme]
	return net.JoinHostPort(u.Hostname(), port), nil
}

// TestMissingBrokerSkipsByName: a broker that does not answer skips its
// tests, saying which and what to set, unless LEDGER_REQUIRE_BROKERS=1.
func TestMissingBrokerSkipsByName(t *testing.T) {
	t.Parallel()
	bc := brokerCase{name: "amqp", env: "LEDGER_TEST_NO_SUCH_BROKER_URL", defaultURL: "amqp://guest:guest@127.0.0.1:1/"}
	var skipped bool
	t.Run("dial", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		requireAnswering(t, bc)
	})
	if want := os.Getenv(requireBrokersEnv) != "1"; skipped != want {
		t.Errorf("with %s=%q, skipped = %v, want %v", requireBrokersEnv, os.Getenv(requireBrokersEnv), skipped, want)
	}
}
