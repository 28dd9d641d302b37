package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The HTTP edge against hostile clients: bounded metric labels, and the
// request helpers of security_headers_test.go.

// tokenChars are the characters an HTTP method may hold.
const tokenChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"

func TestRandomMethodsLeaveMetricsAndMemoryFlat(t *testing.T) {
	t.Parallel()
	srv := startServerLogging(t, freshDatabase(t), "warn")
	client := &http.Client{Timeout: 30 * time.Second}
	paths := []string{"/healthz", "/v1/tenants/" + uuid.NewString() + "/accounts", "/no/such/" + uuid.NewString()}
	// Warm up with requests as large as the random ones, on standard
	// methods, so that the heap has grown to its garbage collector's
	// target (GOGC=300) before the baseline: what grows after is kept.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 19))
	for i := range 1000 {
		rawRequest(t, client, http.MethodGet, srv.base+paths[i%len(paths)]+"?pad="+strings.Repeat("p", 1+rng.IntN(20000)), nil, nil)
	}
	metricsBefore, rssBefore := len(fetchMetrics(t, client, srv.base)), residentKB(t, srv.cmd.Process.Pid)

	sent := make([]string, 0, 1000)
	for i := range 1000 {
		method := randomToken(rng, 1+rng.IntN(20000))
		sent = append(sent, method)
		rawRequest(t, client, method, srv.base+paths[i%len(paths)], nil, nil)
	}

	metrics := fetchMetrics(t, client, srv.base)
	rss := residentKB(t, srv.cmd.Process.Pid)
	t.Logf("/metrics %d → %d bytes; RSS %d → %d kB", metricsBefore, len(metrics), rssBefore, rss)
	if grew := len(metrics) - metricsBefore; grew > 64<<10 {
		t.Errorf("/metrics grew by %d bytes after 1,000 random methods, want at most 64 KiB", grew)
	}
	if grew := rss - rssBefore; grew > 50<<10 {
		t.Errorf("the server's RSS grew by %d kB after 1,000 random methods, want at most 50 MB", grew)
	}
	if !strings.Contains(metrics, `method="other"`) || !strings.Contains(metrics, `route="unmatched"`) {
		t.Errorf(`/metrics counts no method="other" or no route="unmatched"`)
	}
	for _, m := range sent {
		if len(m) > 8 && strings.Contains(metrics, m) {
			t.Fatalf("/metrics holds the method %.40q… a client sent", m)
		}
	}
}

func randomToken(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenChars[rng.IntN(len(tokenChars))]
	}
	if _, standard := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true}[string(b)]; standard {
		return randomToken(rng, n+1)
	}
	return string(b)
}

func fetchMetrics(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	status, _, body := rawRequest(t, client, http.MethodGet, base+"/metrics", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", status)
	}
	return string(body)
}

// residentKB is the resident set size of process pid, in kB.
func residentKB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's status: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// rawRequest sends one request with exactly the headers given (several
// values of a name are sent as several headers) and reads its answer.
func rawRequest(t *testing.T, client *http.Client, method, url string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%.40s %s: %v", method, url, err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%.40s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%.40s %s: read the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, got
}

// wireRequest writes one request on a connection of its own, byte for
// byte as given, headers that a Go client would refuse to send included,
// and reads its answer.
func wireRequest(t *testing.T, base, method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: ledger\r\nConnection: close\r\nContent-Length: %d\r\n", method, path, len(body))
	for name, values := range header {
		for _, v := range values {
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, got
}
