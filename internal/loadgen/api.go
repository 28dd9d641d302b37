package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// errBadBody marks a 2xx response whose body could not be read as the
// expected JSON.
var errBadBody = errors.New("unexpected response body")

// api is the HTTP client of one run, shared by every worker.
type api struct {
	client   *http.Client
	base     string
	key      string
	tenant   string
	idPrefix string
	seq      atomic.Uint64
}

// reply is what a request got back.
type reply struct {
	status   int
	position int64
	code     string
	detail   string
	latency  time.Duration
}

func (r reply) ok() bool { return r.status >= 200 && r.status < 300 }

// failure describes a non-2xx reply for an error message.
func (r reply) failure(what string) error {
	msg := fmt.Sprintf("%s: HTTP %d", what, r.status)
	if r.code != "" {
		msg += " " + r.code
	}
	if r.detail != "" {
		msg += ": " + r.detail
	}
	return errors.New(msg)
}

// newAPI returns a client with one keep-alive connection per worker, and
// a few to spare for the /metrics scrapes.
func newAPI(cfg Config) *api {
	conns := cfg.Clients + 4
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		DisableCompression:    true,
	}
	var run [4]byte
	_, _ = rand.Read(run[:])
	return &api{
		client:   &http.Client{Transport: tr, Timeout: cfg.Timeout},
		base:     strings.TrimRight(cfg.URL, "/"),
		key:      cfg.Key,
		tenant:   cfg.TenantID,
		idPrefix: "bench-" + hex.EncodeToString(run[:]) + "-",
	}
}

func (a *api) close() { a.client.CloseIdleConnections() }

// tenantPath returns the path of a tenant resource.
func (a *api) tenantPath(format string, args ...any) string {
	return "/v1/tenants/" + a.tenant + fmt.Sprintf(format, args...)
}

// call sends one authenticated JSON request and reads the whole response,
// so that the connection is reused. On a 2xx reply with out non-nil the
// body is decoded into out; on any other, the problem's code and detail
// are kept. The error is a transport failure (reply.status 0) or
// errBadBody.
func (a *api) call(ctx context.Context, method, path string, body any, minPos int64, out any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return reply{}, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Request-ID", a.idPrefix+strconv.FormatUint(a.seq.Add(1), 10))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if minPos > 0 {
		req.Header.Set("Ledger-Min-Position", strconv.FormatInt(minPos, 10))
	}
	start := time.Now()
	resp, err := a.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return reply{}, err
	}
	return answer(resp, data, time.Since(start), out)
}

// answer is the reply of a response whose whole body is data: on a 2xx
// with out non-nil the body is decoded into out; on any other status the
// problem's code and detail are kept.
func answer(resp *http.Response, data []byte, latency time.Duration, out any) (reply, error) {
	r := reply{status: resp.StatusCode, latency: latency}
	r.position, _ = strconv.ParseInt(resp.Header.Get("Ledger-Position"), 10, 64)
	if !r.ok() {
		r.code, r.detail = problemOf(resp.Header.Get("Content-Type"), data)
		return r, nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return r, fmt.Errorf("%w: %v", errBadBody, err)
		}
	}
	return r, nil
}

// problemOf returns the code and detail of a problem+json body, or of
// any JSON body that has them; nothing for anything else.
func problemOf(contentType string, body []byte) (code, detail string) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/problem+json" && mt != "application/json" {
		return "", ""
	}
	var p struct {
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) != nil {
		return "", ""
	}
	if p.Detail == "" {
		p.Detail = p.Title
	}
	return p.Code, truncate(p.Detail, 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// raw GETs an unauthenticated operations route and returns its body.
func (a *api) raw(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, data, err
}

// ping checks that the server answers GET /healthz with 200.
func (a *api) ping(ctx context.Context) error {
	status, _, err := a.raw(ctx, "/healthz")
	if err != nil {
		return fmt.Errorf("%w: GET %s/healthz: %w", ErrUnreachable, a.base, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w: GET %s/healthz: HTTP %d", ErrUnreachable, a.base, status)
	}
	return nil
}

// transportCode classifies a request that got no HTTP response.
func transportCode(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_reset"
	default:
		return "transport"
	}
}
