package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// unavailableCodes are the codes api.md gives a 503: each an answer to
// retry later, with Retry-After.
var unavailableCodes = []string{"projection_lag", "read_model_stale", "database_unavailable", "timeout"}

// wrongAnswer returns why an answer breaks api.md's rule that a 5xx is
// never a bug: a 503 must carry Retry-After and a documented code, and no
// other 5xx may be sent; nil for any other answer.
func wrongAnswer(resp *http.Response, body []byte) error {
	if resp.StatusCode < 500 {
		return nil
	}
	var p problemJSON
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	if !slices.Contains(unavailableCodes, p.Code) || resp.Header.Get("Retry-After") == "" {
		return fmt.Errorf("503 %s with Retry-After %q, want one of %v with Retry-After", p.Code, resp.Header.Get("Retry-After"), unavailableCodes)
	}
	return nil
}

// TestServeNeverFailsAtStart starts `ledger serve` on a database whose
// migrations have run and whose tenant exists (`ledger tenant create`
// did both) but whose read models do not yet, and reads from the moment
// the process starts, before /healthz first answers: no read is ever
// answered 500 (a missing read-model table once was), and once /readyz
// has said ready, every read is 200.
func TestServeNeverFailsAtStart(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	tenant := runBootstrap(t, env, "tenant", "Early Bird")
	addr := freeAddr(t)
	cmd, _, stderr := ledgerCmd(t, append(env, "LEDGER_HTTP_ADDR="+addr), "serve")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ledger serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	base := "http://" + addr
	accounts := fmt.Sprintf("%s/v1/tenants/%s/accounts", base, tenant.ID)
	var (
		ready    atomic.Bool
		answered atomic.Int64
		nWrong   atomic.Int64
		mu       sync.Mutex
		wrong    []string
	)
	fail := func(format string, args ...any) {
		nWrong.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(wrong) < 20 {
			wrong = append(wrong, fmt.Sprintf(format, args...))
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	read := func(url string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tenant.AdminKey)
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				wasReady := ready.Load()
				resp, body, err := read(accounts)
				if err != nil { // not listening yet
					time.Sleep(time.Millisecond)
					continue
				}
				answered.Add(1)
				if err := wrongAnswer(resp, body); err != nil {
					fail("GET accounts: %v", err)
				} else if wasReady && resp.StatusCode != http.StatusOK {
					fail("GET accounts after /readyz said ready: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
	wg.Go(func() {
		for !ready.Load() {
			select {
			case <-done:
				return
			default:
			}
			if resp, _, err := read(base + "/readyz"); err == nil && resp.StatusCode == http.StatusOK {
				ready.Store(true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	waitHealthy(t, base+"/healthz", exited, stderr)
	time.Sleep(2 * time.Second)
	close(done)
	wg.Wait()
	if !ready.Load() {
		t.Errorf("/readyz never said ready within 2s of /healthz")
	}
	if answered.Load() == 0 {
		t.Fatalf("no read was answered")
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d reads answered from the start were wrong; the first %d:\n%s", nWrong.Load(), answered.Load(), len(wrong), strings.Join(wrong, "\n"))
	}
}
