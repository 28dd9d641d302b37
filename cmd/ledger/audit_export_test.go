package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ledger/audit"
	"ledger/auditexport"
)

// runAuditExport runs `audit export` in process with args against the
// database at dbURL, and returns its stdout and stderr.
func runAuditExport(t *testing.T, dbURL string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newAuditExportCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(append(args, "--database-url", dbURL, "--log-level", "warn"))
	err := cmd.ExecuteContext(t.Context())
	return stdout.String(), stderr.String(), err
}

// TestAuditExportCommand seeds a log, catches the read models up, and
// exports a tenant's audit log as NDJSON to stdout and as CSV to a file:
// every event of the tenant, in order, each NDJSON line with the leaf of
// the event as stored.
func TestAuditExportCommand(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	out, err := runLedger(t, env, "bench", "seed", "--events", "1500", "--tenants", "1")
	tenant := regexp.MustCompile(`tenant ([0-9a-f-]{36})`).FindStringSubmatch(out)
	if err != nil || tenant == nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if out, err := runLedger(t, env, "projections", "rebuild", "--all"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var want int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM readmodel.audit_log WHERE tenant_id = $1`, tenant[1]).Scan(&want); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, err := runAuditExport(t, dbURL, "--tenant", tenant[1], "--format", "ndjson")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	if n := checkNDJSONLeaves(t, ctx, conn, stdout); n != want || want < 1000 {
		t.Fatalf("%d NDJSON lines, %d events of the tenant in the audit log (want over 1000)", n, want)
	}

	file := filepath.Join(t.TempDir(), "audit.csv")
	if _, stderr, err := runAuditExport(t, dbURL, "--tenant", tenant[1], "--format", "csv", "--output", file); err != nil {
		t.Fatalf("export to a file: %v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(rows) != want+1 || strings.Join(rows[0], ",") != strings.Join(auditexport.CSVHeader, ",") {
		t.Fatalf("CSV: %d rows (want %d and a header), %v", len(rows), want, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*partial")); len(left) > 0 {
		t.Errorf("partial files left behind: %v", left)
	}

	for _, args := range [][]string{{"--tenant", tenant[1], "--format", "xml"}, {"--format", "csv"}, {"--tenant", tenant[1], "--format", "csv", "--from", "yesterday"}} {
		if _, _, err := runAuditExport(t, dbURL, args...); err == nil {
			t.Errorf("export %v succeeded, want a refusal", args)
		}
	}
}

// checkNDJSONLeaves checks that the lines of out ascend by position and
// each carries the leaf of the event stored there, and returns how many
// there are.
func checkNDJSONLeaves(t *testing.T, ctx context.Context, conn *pgx.Conn, out string) int {
	t.Helper()
	var (
		n    int
		last int64
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Position int64       `json:"position"`
			Leaf     *audit.Leaf `json:"leaf"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Leaf == nil || line.Position <= last {
			t.Fatalf("line %d %s: %v; want a leaf, after position %d", n+1, sc.Bytes(), err, last)
		}
		last, n = line.Position, n+1
		var stored audit.Leaf
		var data, metadata string
		err := conn.QueryRow(ctx, `SELECT event_id, stream, version, type, schema_version, data::text, metadata::text, recorded_at
FROM events WHERE position = $1`, line.Position).Scan(&stored.ID, &stored.Stream, &stored.Version, &stored.Type,
			&stored.SchemaVersion, &data, &metadata, &stored.RecordedAt)
		if err != nil {
			t.Fatal(err)
		}
		stored.Data, stored.Metadata = json.RawMessage(data), json.RawMessage(metadata)
		got, err1 := line.Leaf.LeafHash()
		want, err2 := stored.LeafHash()
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Fatalf("line %d: leaf hash %x, stored event's %x (%v, %v)", n, got, want, err1, err2)
		}
	}
	return n
}
