package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// wire is one client's own keep-alive HTTP/1.1 connection to the server:
// it writes each request from a buffer it reuses and reads the response
// with net/http's parser, one request at a time. The load's clients use
// it instead of the shared http.Client, whose connection pool and two
// goroutines per connection cost the machine, which the load shares with
// the server under test, several times what this does per request.
type wire struct {
	api     *api
	addr    string // host:port to dial
	host    string // the Host header
	tls     *tls.Config
	timeout time.Duration

	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

func newWire(a *api, timeout time.Duration) (*wire, error) {
	u, err := url.Parse(a.base)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", a.base, err)
	}
	w := &wire{api: a, host: u.Host, addr: u.Host, timeout: timeout}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		w.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		w.tls = &tls.Config{ServerName: u.Hostname()}
	}
	return w, nil
}

// call is api.call on the client's own connection: one authenticated JSON
// request, its whole response read, out decoded from a 2xx reply.
func (w *wire) call(ctx context.Context, method, path string, body any, minPos int64, out any) (reply, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return reply{}, fmt.Errorf("encoding request: %w", err)
		}
	}
	w.request(method, path, payload, minPos)
	start := time.Now()
	resp, data, err := w.roundTrip(ctx, start)
	if err != nil {
		w.drop()
		return reply{}, err
	}
	if resp.Close {
		w.drop()
	}
	return answer(resp, data, time.Since(start), out)
}

// request writes the request into w.buf.
func (w *wire) request(method, path string, payload []byte, minPos int64) {
	b := append(w.buf[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, w.host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, w.api.key...)
	b = append(b, "\r\nAccept: application/json\r\nX-Request-ID: "...)
	b = append(b, w.api.idPrefix...)
	b = strconv.AppendUint(b, w.api.seq.Add(1), 10)
	if payload != nil {
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(payload)), 10)
	}
	if minPos > 0 {
		b = append(b, "\r\nLedger-Min-Position: "...)
		b = strconv.AppendInt(b, minPos, 10)
	}
	b = append(b, "\r\n\r\n"...)
	w.buf = append(b, payload...)
}

// roundTrip sends w.buf and reads the response, within the request's
// timeout; ctx ending cuts it short.
func (w *wire) roundTrip(ctx context.Context, start time.Time) (*http.Response, []byte, error) {
	conn, err := w.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	deadline := start.Add(w.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(w.buf); err != nil {
		return nil, nil, w.cause(ctx, err)
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		return nil, nil, w.cause(ctx, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, w.cause(ctx, err)
	}
	return resp, data, nil
}

// cause is ctx's error when ctx ended, else err.
func (w *wire) cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// connect returns the open connection, dialing one when there is none.
func (w *wire) connect(ctx context.Context) (net.Conn, error) {
	if w.conn != nil {
		return w.conn, nil
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if w.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: w.tls}).DialContext(ctx, "tcp", w.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", w.addr)
	}
	if err != nil {
		return nil, err
	}
	w.conn = conn
	if w.br == nil {
		w.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		w.br.Reset(conn)
	}
	return conn, nil
}

// drop closes the connection, after a failure or when the server asked:
// the next request dials again.
func (w *wire) drop() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}
