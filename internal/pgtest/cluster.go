package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/internal/pguuid"
)

// Cluster is a Postgres server of a test's own, started from the system's
// binaries in a directory of its own, on a spare port, for tests that must
// do to a server what they may not do to the shared one: restore into it,
// restart it, kill it. Its transaction ids start afresh, as those of a
// newly made server do.
type Cluster struct {
	Port    int
	dir     string
	bin     string
	runAs   []string // the command prefix that runs as the server's user
	sockets string
}

// NewCluster initialises and starts a cluster, stopped and removed when tb
// ends. As root it runs the server as the user "postgres" (initdb refuses
// root); it skips tb when that is not possible, or when no server
// binaries are installed.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin := binDir()
	if bin == "" {
		tb.Skip("no PostgreSQL server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin)")
	}
	c := &Cluster{bin: bin}
	dir, err := os.MkdirTemp("", "ledger-pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	c.dir, c.sockets = filepath.Join(dir, "data"), dir
	if os.Geteuid() == 0 {
		c.runAs = asPostgres(tb, dir)
	}
	c.Port = sparePort(tb)
	c.run(tb, "initdb", "-D", c.dir, "-A", "trust", "-U", "postgres", "--no-sync")
	if err := c.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.exec("pg_ctl", "-D", c.dir, "-w", "-m", "immediate", "stop"); err != nil && c.running() {
			tb.Error(err)
		}
	})
	return c
}

// start starts the server and waits until it accepts connections.
func (c *Cluster) start() error {
	return c.exec("pg_ctl", "-D", c.dir, "-w", "-l", c.logFile(), "start",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.Port, c.sockets))
}

// logFile is where the server writes its log.
func (c *Cluster) logFile() string { return filepath.Join(c.sockets, "server.log") }

// Restart restarts c's server as `pg_ctl restart -m fast` does: it ends
// every session, rolling back their transactions, shuts down cleanly and
// starts again, returning once the server accepts connections.
func (c *Cluster) Restart(tb testing.TB) {
	tb.Helper()
	c.run(tb, "pg_ctl", "-D", c.dir, "-w", "-l", c.logFile(), "-m", "fast", "restart")
}

// Kill kills c's postmaster with SIGKILL, as a crash would, and returns
// once it is gone; its backends notice and exit by themselves. Start
// brings the server back, through crash recovery.
func (c *Cluster) Kill(tb testing.TB) {
	tb.Helper()
	pid, err := c.postmaster()
	if err != nil {
		tb.Fatalf("kill the postmaster: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		tb.Fatalf("kill the postmaster (pid %d): %v", pid, err)
	}
	for deadline := time.Now().Add(30 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("the postmaster (pid %d) still runs 30s after SIGKILL", pid)
		}
	}
}

// postmaster returns the pid of c's postmaster, from its lock file.
func (c *Cluster) postmaster() (int, error) {
	raw, err := os.ReadFile(filepath.Join(c.dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid starts with %q", line)
	}
	return pid, nil
}

// running reports whether c's postmaster runs.
func (c *Cluster) running() bool {
	pid, err := c.postmaster()
	return err == nil && alive(pid)
}

// alive reports whether process pid runs: it exists and is no zombie.
func alive(pid int) bool {
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		_, rest, _ := strings.Cut(string(stat), ") ")
		return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
	}
	return syscall.Kill(pid, 0) == nil
}

// Start starts c's server after Kill, and returns once it accepts
// connections. It tries again while the killed server's backends, still
// exiting, hold its shared memory.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("start the server again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// asPostgres prepares dir for the server's user "postgres" and returns
// the prefix that runs a command as that user.
func asPostgres(tb testing.TB, dir string) []string {
	tb.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		tb.Skip("running as root with no user postgres to run a private server as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		tb.Fatal(err)
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		tb.Skip("running as root without runuser to start a private server as postgres")
	}
	return []string{runuser, "-u", "postgres", "--"}
}

// run runs one of the server's programs, failing tb with its output.
func (c *Cluster) run(tb testing.TB, program string, args ...string) {
	tb.Helper()
	if err := c.exec(program, args...); err != nil {
		tb.Fatal(err)
	}
}

// exec runs one of the server's programs; its error carries the output.
func (c *Cluster) exec(program string, args ...string) error {
	argv := append(slices.Clone(c.runAs), append([]string{filepath.Join(c.bin, program)}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", program, err, out)
	}
	return nil
}

// Config returns the settings to connect to database on c.
func (c *Cluster) Config(tb testing.TB, database string) *pgx.ConnConfig {
	tb.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", c.Port, database))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Pool creates database on c, empty, and returns a pool to it, closed
// when tb ends.
func (c *Cluster) Pool(tb testing.TB, database string) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	admin, err := pgx.ConnectConfig(ctx, c.Config(tb, "postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	poolCfg, err := pgxpool.ParseConfig("")
	if err != nil {
		tb.Fatal(err)
	}
	poolCfg.ConnConfig = c.Config(tb, database)
	poolCfg.AfterConnect = pguuid.AfterConnect
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Bin is the path of one of the server's client programs, such as
// pg_dump.
func (c *Cluster) Bin(program string) string { return filepath.Join(c.bin, program) }

// ConnString is cfg as a libpq keyword string, for the client programs.
func ConnString(cfg *pgx.ConnConfig) string {
	s := fmt.Sprintf("host=%s port=%d dbname=%s", cfg.Host, cfg.Port, cfg.Database)
	if cfg.User != "" {
		s += " user=" + cfg.User
	}
	return s
}

func binDir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := filepath.Clean(string(trimNewline(out))); isServerDir(dir) {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Reverse(dirs)
	for _, dir := range dirs {
		if isServerDir(dir) {
			return dir
		}
	}
	return ""
}

func isServerDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "initdb"))
	return err == nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// sparePort returns a TCP port free on the loopback interface a moment
// ago.
func sparePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// OpenTransaction begins a transaction on pool that takes a transaction id,
// and so holds the server's transaction horizon, until it ends; it
// returns the transaction and its session's pid. It is rolled back when tb
// ends, if still open.
func OpenTransaction(tb testing.TB, pool *pgxpool.Pool) (pgx.Tx, int32) {
	tb.Helper()
	tx, err := pool.Begin(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tx.Rollback(context.Background()) })
	var pid int32
	if err := tx.QueryRow(context.Background(), `SELECT pg_backend_pid(), pg_current_xact_id()::text`).Scan(&pid, new(string)); err != nil {
		tb.Fatal(err)
	}
	return tx, pid
}
