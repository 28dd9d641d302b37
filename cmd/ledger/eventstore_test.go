package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestServeRefusesRestoredLog moves the log's positions far ahead of the
// server's transaction ids, as a restore into another server does: serve
// refuses to start, saying what to run; eventstore check fails; after
// eventstore rebase, check passes and serve would start.
func TestServeRefusesRestoredLog(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_HTTP_ADDR=" + freeAddr(t)}
	run := func(args ...string) (string, error) {
		cmd, _, stderr := ledgerCmd(t, env, args...)
		err := cmd.Run()
		return stderr.String(), err
	}
	if out, err := run("tenant", "create", "--name", "Acme"); err != nil {
		t.Fatalf("tenant create: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `ALTER TABLE events DISABLE TRIGGER events_append_only; UPDATE events SET position = position + (1::bigint << 50)`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve"}, {"eventstore", "check"}} {
		out, err := run(args...)
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || !strings.Contains(out, "ledger eventstore rebase") || !strings.Contains(out, "restored or moved") {
			t.Fatalf("ledger %s on a restored log = %v, stderr:\n%s\nwant a non-zero exit naming the repair", strings.Join(args, " "), err, out)
		}
	}
	if out, err := run("eventstore", "rebase"); err != nil || !strings.Contains(out, "positions rebased") {
		t.Fatalf("eventstore rebase = %v:\n%s", err, out)
	}
	if out, err := run("eventstore", "check"); err != nil {
		t.Fatalf("eventstore check after the rebase = %v:\n%s", err, out)
	}
	if out, err := run("eventstore", "rebase"); err != nil || !strings.Contains(out, "no rebase needed") {
		t.Fatalf("second eventstore rebase = %v:\n%s", err, out)
	}
}

// TestServeWarnsWhatEventStoreDBCannotKeep points serve at an
// EventStoreDB/KurrentDB address (no server need answer for it to start):
// it says, at start-up, every guarantee of the append contract that
// backend cannot keep.
func TestServeWarnsWhatEventStoreDBCannotKeep(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	addr := freeAddr(t)
	cmd, _, stderr := ledgerCmd(t, []string{"LEDGER_HTTP_ADDR=" + addr, "LEDGER_DATABASE_URL=" + dbURL,
		"LEDGER_EVENTSTORE_URL=esdb://127.0.0.1:" + strings.Split(freeAddr(t), ":")[1] + "?tls=false"}, "serve")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	waitHealthy(t, "http://"+addr+"/healthz", exited, stderr)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	logs := stderr.String()
	for _, want := range []string{"conditions on streams an append does not write", "several streams", "idempotency key"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve on EventStoreDB did not warn about %q:\n%s", want, logs)
		}
	}
}
