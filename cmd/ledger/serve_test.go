package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ledger/internal/pgtest"
)

// binary is the ledger binary that TestMain builds for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ledger-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make binary directory:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ledger")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ledger: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freshDatabase creates a database on the tests' server (pgtest: the
// local one, else the embedded one), dropped when the test ends, and
// returns its URL with a password that the server, trusting local
// connections, ignores and the logs must never show.
func freshDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(pgtest.NewDatabaseURL(t))
	if err != nil {
		t.Fatalf("parse the database URL: %v", err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-e2e")
	return u.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ledgerCmd prepares the binary with args and env on top of this process's
// environment less its LEDGER_* variables.
func ledgerCmd(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LEDGER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LEDGER_DATA_DIR="+filepath.Join(cmd.Dir, "data"))
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// runLedger runs the binary with args and env to its end, and returns
// what it wrote, stdout then stderr.
func runLedger(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd, stdout, stderr := ledgerCmd(t, env, args...)
	err := cmd.Run()
	return stdout.String() + stderr.String(), err
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	addr := freeAddr(t)
	cmd, _, stderr := ledgerCmd(t, []string{"LEDGER_HTTP_ADDR=" + addr, "LEDGER_DATABASE_URL=" + dbURL})
	cmd.Args = append(cmd.Args, "serve")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ledger serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	waitHealthy(t, "http://"+addr+"/healthz", exited, stderr)
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusOK || body != `{"status":"ready"}` {
		t.Errorf("GET /readyz = %d %s, want 200 ready", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, "http://"+addr+"/metrics")
		if code == http.StatusOK && strings.Contains(body, `ledger_projection_checkpoint_position{projection="accounts"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /metrics = %d without the projections' checkpoints:\n%s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ledger serve exited with %v after SIGTERM; stderr:\n%s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ledger serve still running 10s after SIGTERM; stderr:\n%s", stderr)
	}
	checkLogs(t, stderr.String(), []string{"listening", "shutting down", "stopped"}, "s3cret-e2e")
}

func waitHealthy(t *testing.T, url string, exited <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("ledger serve exited early with %v; stderr:\n%s", err, stderr)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not healthy within 30s; stderr:\n%s", url, stderr)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, strings.TrimSpace(body.String())
}

// checkLogs asserts that every line of logs is a JSON record, that the
// messages in want appear, and that secret never does.
func checkLogs(t *testing.T, logs string, want []string, secret string) {
	t.Helper()
	seen := map[string]bool{}
	for line := range strings.Lines(logs) {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
		seen[rec.Msg] = true
	}
	for _, msg := range want {
		if !seen[msg] {
			t.Errorf("logs lack %q:\n%s", msg, logs)
		}
	}
	if strings.Contains(logs, secret) {
		t.Errorf("logs show the database password:\n%s", logs)
	}
}

func TestMigrateEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	for i := range 2 { // the second run finds nothing to apply
		cmd, _, stderr := ledgerCmd(t, []string{"LEDGER_DATABASE_URL=" + dbURL}, "migrate")
		if err := cmd.Run(); err != nil {
			t.Fatalf("ledger migrate #%d: %v; stderr:\n%s", i+1, err, stderr)
		}
		checkLogs(t, stderr.String(), []string{"migrations applied"}, "s3cret-e2e")
	}
}

func TestInvalidSettingsExitNonZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{
			name: "http addr from env",
			env:  []string{"LEDGER_HTTP_ADDR=nonsense"},
			args: []string{"serve"},
			want: `ledger: invalid LEDGER_HTTP_ADDR (--http-addr) "nonsense": missing port in address`,
		},
		{
			name: "shutdown timeout from flag",
			args: []string{"serve", "--shutdown-timeout=soon"},
			want: `ledger: invalid LEDGER_SHUTDOWN_TIMEOUT (--shutdown-timeout) "soon": not a Go duration such as 15s or 1m30s`,
		},
		{
			name: "log level for migrate",
			env:  []string{"LEDGER_LOG_LEVEL=loud"},
			args: []string{"migrate"},
			want: `ledger: invalid LEDGER_LOG_LEVEL (--log-level) "loud": must be one of debug, info, warn, error`,
		},
		{
			name: "database url without its password",
			env:  []string{"LEDGER_DATABASE_URL=postgres://root:s3cret-e2e@127.0.0.1:99999/ledger"},
			args: []string{"serve"},
			want: "ledger: invalid LEDGER_DATABASE_URL (--database-url): cannot parse `postgres://root:xxxxx@127.0.0.1:99999/ledger`: invalid port",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, _, stderr := ledgerCmd(t, tt.env, tt.args...)
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
				t.Fatalf("ledger %v = %v, want a non-zero exit", tt.args, err)
			}
			if got := strings.TrimSpace(stderr.String()); got != tt.want {
				t.Errorf("stderr = %q, want the one line %q", got, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	cmd, stdout, stderr := ledgerCmd(t, nil, "version")
	if err := cmd.Run(); err != nil {
		t.Fatalf("ledger version: %v; stderr:\n%s", err, stderr)
	}
	out := stdout.String()
	if !strings.HasPrefix(out, "ledger ") || !strings.Contains(out, "go: go1.") {
		t.Errorf("ledger version printed %q, want the ledger and Go versions", out)
	}
}
