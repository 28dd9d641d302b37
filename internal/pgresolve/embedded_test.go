package pgresolve

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		out  string
		want embeddedpostgres.PostgresVersion
	}{
		{"postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", "15.20.0"},
		{"postgres (PostgreSQL) 18.1\n", "18.1.0"},
		{"postgres (PostgreSQL) 17beta1\n", "17.0.0"},
		{"postgres (PostgreSQL) 9.6.24\n", "9.6.0"},
	}
	for _, tt := range tests {
		t.Run(tt.out, func(t *testing.T) {
			t.Parallel()
			got, err := parseVersion(tt.out)
			if err != nil || got != tt.want {
				t.Errorf("parseVersion = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := parseVersion("command not found"); err == nil {
		t.Error("parseVersion accepted output without a version")
	}
}

func TestCheckDataVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pgVersion string
		version         embeddedpostgres.PostgresVersion
		wantErr         bool
	}{
		{name: "fresh directory", version: "15.20.0"},
		{name: "same major", pgVersion: "15\n", version: "15.20.0"},
		{name: "old style major", pgVersion: "9.6\n", version: "9.6.0"},
		{name: "other major", pgVersion: "15\n", version: "18.1.0", wantErr: true},
		{name: "prefix is not a match", pgVersion: "1\n", version: "15.2.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.pgVersion != "" {
				if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte(tt.pgVersion), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := checkDataVersion(dir, tt.version)
			if (err != nil) != tt.wantErr {
				t.Errorf("checkDataVersion = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSocketDirTurnsLongPathsOff(t *testing.T) {
	t.Parallel()
	short := "/home/dev/.ledger/pg"
	long := "/home/dev/" + strings.Repeat("d", 100) + "/pg"
	tests := []struct {
		root string
		want string
	}{
		{short, short + "/run"},
		{long, ""},
	}
	for _, tt := range tests {
		if got := socketDir(tt.root, embeddedPort); got != tt.want {
			t.Errorf("socketDir(%q) = %q, want %q", tt.root, got, tt.want)
		}
	}
}

func TestEmbeddedPasswordIsKept(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	first, err := embeddedPassword(root)
	if err != nil || len(first) < 20 {
		t.Fatalf("embeddedPassword = %q, %v; want a long random password", first, err)
	}
	info, err := os.Stat(filepath.Join(root, "password"))
	if err != nil {
		t.Fatalf("password file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("password file mode %v, want 0600", perm)
	}
	if again, err := embeddedPassword(root); err != nil || again != first {
		t.Errorf("embeddedPassword again = %q, %v; want %q", again, err, first)
	}
}

func TestStartEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if os.Geteuid() == 0 { // the server's user must reach dir: see Account.Reaches
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	db := startTestEmbedded(t, ctx, dir, logger)
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE kept (id int)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	attachWhileRunning(t, ctx, dir, logger, db)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = startTestEmbedded(t, ctx, dir, logger)
	defer db.Close()
	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil {
		t.Fatalf("the restarted server lost its data: %v", err)
	}
}

func startTestEmbedded(t *testing.T, ctx context.Context, dir string, logger *slog.Logger) *DB {
	t.Helper()
	db, err := startEmbedded(ctx, dir, "ledger", logger)
	if err != nil {
		t.Fatalf("startEmbedded: %v", err)
	}
	var current string
	if err := db.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&current); err != nil || current != "ledger" {
		t.Fatalf("current_database() = %q, %v; want ledger", current, err)
	}
	if !strings.HasPrefix(db.Source, "embedded Postgres at localhost:") {
		t.Errorf("Source = %q, want the embedded server", db.Source)
	}
	return db
}

// attachWhileRunning starts the embedded server again while db's runs, as
// "ledger tenant create" does beside "ledger serve": it connects to the
// running server, and closing it leaves that server running.
func attachWhileRunning(t *testing.T, ctx context.Context, dir string, logger *slog.Logger, db *DB) {
	t.Helper()
	other, err := startEmbedded(ctx, dir, "ledger", logger)
	if err != nil {
		t.Fatalf("startEmbedded beside a running one: %v", err)
	}
	if !strings.HasSuffix(other.Source, "(run by another ledger process)") {
		t.Errorf("Source = %q, want the running server", other.Source)
	}
	var n int
	if err := other.Pool.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil {
		t.Errorf("the second process does not see the first's database: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Errorf("Close the attached: %v", err)
	}
	if err := db.Pool.Ping(ctx); err != nil {
		t.Errorf("closing the attached process stopped the server: %v", err)
	}
}
