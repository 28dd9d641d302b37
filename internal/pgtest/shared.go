package pgtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"ledger/internal/pgresolve"
)

// The shared server: when neither LEDGER_TEST_DATABASE_URL nor a local
// server answers, the test packages of a run (go test runs each as a
// process of its own, several at once) share one embedded Postgres,
// started like make run's, in a well-known directory under os.TempDir():
//
//   - lock: held exclusively while a process starts the server, or the
//     reaper stops it;
//   - users: every test process that uses the server holds a shared lock
//     on it until it exits (the kernel releases it, even on a crash);
//   - pg/: the server's files (pg/data, its cluster, is kept between runs,
//     so a run's first package only starts the server);
//   - reaper.pid, reaper.log: the reaper, a copy of the first test binary
//     started in a session of its own, stops the server once no test
//     process has held users for reaperGrace, then exits.
const (
	reaperEnv   = "LEDGER_PGTEST_REAPER"
	reaperGrace = 15 * time.Second
	superuser   = "postgres"
)

// sharedUsers is this process's shared lock on the server's users file,
// held until it exits.
var sharedUsers *os.File

// sharedDir is the shared server's directory for this user.
func sharedDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("ledger-pgtest-%d", os.Geteuid()))
}

// sharedServer starts the shared server unless it runs, registers this
// process as its user, and returns its connection settings.
func sharedServer(ctx context.Context) (*pgx.ConnConfig, string, error) {
	dir := sharedDir()
	if err := ownDir(dir); err != nil {
		return nil, "", err
	}
	lock, err := lockFile(filepath.Join(dir, "lock"), syscall.LOCK_EX)
	if err != nil {
		return nil, "", err
	}
	defer lock.Close() // unlocks
	if sharedUsers, err = lockFile(filepath.Join(dir, "users"), syscall.LOCK_SH); err != nil {
		return nil, "", err
	}
	srv := &pgresolve.Server{Dir: filepath.Join(dir, "pg")}
	port, running := srv.Running()
	how := "reused"
	if !running {
		how = "started"
		if port, err = startShared(ctx, dir, srv); err != nil {
			return nil, "", err
		}
	}
	if err := ensureReaper(dir); err != nil {
		return nil, "", err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=postgres sslmode=disable", port, superuser))
	if err != nil {
		return nil, "", fmt.Errorf("shared server settings: %w", err)
	}
	if how == "started" {
		dropLeftovers(ctx, cfg)
	}
	source := fmt.Sprintf("the embedded test Postgres at 127.0.0.1:%d (%s; files in %s, shared by this run's packages, stopped %s after the last one)",
		port, how, dir, reaperGrace)
	return cfg, source, nil
}

// startShared starts the shared server in dir, creating its cluster on
// first use, and returns its port.
func startShared(ctx context.Context, dir string, srv *pgresolve.Server) (int, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	if srv.User, err = pgresolve.ServerAccount(logger); err != nil {
		return 0, err
	}
	if srv.Bin, err = pgresolve.InstallBinaries(dir, logger); err != nil {
		return 0, err
	}
	srv.Port = sparePortOrZero()
	if srv.Port == 0 {
		return 0, errors.New("find a free port for the shared test postgres")
	}
	srv.Sockets = filepath.Join(srv.Dir, "run")
	fresh := !srv.Initialized()
	if fresh {
		if err := os.RemoveAll(srv.DataDir()); err != nil {
			return 0, fmt.Errorf("clear the shared test cluster: %w", err)
		}
	}
	if err := srv.Prepare(); err != nil {
		return 0, err
	}
	if fresh {
		if err := srv.Init(ctx, superuser, ""); err != nil {
			return 0, fmt.Errorf("create the shared test cluster: %w", err)
		}
		conf := "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 400\n"
		if err := appendFile(filepath.Join(srv.DataDir(), "postgresql.conf"), conf); err != nil {
			return 0, err
		}
	}
	if err := srv.Start(ctx); err != nil {
		return 0, fmt.Errorf("start the shared test postgres (log: %s): %w", srv.LogFile(), err)
	}
	return srv.Port, nil
}

// dropLeftovers drops the test databases that test processes killed
// before their cleanup left on the shared server: when it starts, no test
// process uses it.
func dropLeftovers(ctx context.Context, cfg *pgx.ConnConfig) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return // the tests will say why
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'ledger\_test\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("configure the shared test cluster: %w", err)
	}
	_, err = f.WriteString(text)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("configure the shared test cluster: %w", err)
	}
	return nil
}

// ownDir creates dir, or checks that this user owns it: the directory is
// in a place every user may write to.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is not a directory of this user's: remove it, or set LEDGER_TEST_DATABASE_URL", dir)
	}
	if os.Geteuid() == 0 { // the server's user passes through to pg/
		if err := os.Chmod(dir, 0o711); err != nil {
			return fmt.Errorf("open %s to the server's user: %w", dir, err)
		}
	}
	return nil
}

// lockFile opens path, creating it, and takes a flock of how on it; the
// lock lasts until the file is closed or the process exits.
func lockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// ensureReaper starts the reaper unless one runs.
func ensureReaper(dir string) error {
	if raw, err := os.ReadFile(filepath.Join(dir, "reaper.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
			return nil
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start the shared test postgres's reaper: %w", err)
	}
	log, err := os.OpenFile(filepath.Join(dir, "reaper.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("start the shared test postgres's reaper: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), reaperEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the shared test postgres's reaper: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "reaper.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the reaper's pid: %w", err)
	}
	return cmd.Process.Release()
}

func init() {
	if dir := os.Getenv(reaperEnv); dir != "" {
		if err := reap(dir); err != nil {
			fmt.Fprintln(os.Stderr, "reaper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// reap waits until no test process has used the shared server in dir for
// reaperGrace, then stops it, as pg_ctl stop -m fast does (SIGINT to the
// postmaster), and returns.
func reap(dir string) error {
	srv := &pgresolve.Server{Dir: filepath.Join(dir, "pg")}
	var idleSince time.Time
	for {
		time.Sleep(time.Second)
		lock, err := lockFile(filepath.Join(dir, "lock"), syscall.LOCK_EX)
		if err != nil {
			return err
		}
		done, err := reapOnce(dir, srv, &idleSince)
		lock.Close()
		if done || err != nil {
			return err
		}
	}
}

// reapOnce looks once, holding the lock; it reports whether the reaper's
// work is over.
func reapOnce(dir string, srv *pgresolve.Server, idleSince *time.Time) (bool, error) {
	if _, running := srv.Running(); !running {
		return true, nil
	}
	users, err := os.OpenFile(filepath.Join(dir, "users"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false, fmt.Errorf("open users: %w", err)
	}
	defer users.Close()
	if err := syscall.Flock(int(users.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		*idleSince = time.Time{} // in use
		return false, nil
	}
	if idleSince.IsZero() {
		*idleSince = time.Now()
	}
	if time.Since(*idleSince) < reaperGrace {
		return false, nil
	}
	fmt.Fprintf(os.Stderr, "%s: no test process for %s: stopping the server\n", time.Now().Format(time.RFC3339), reaperGrace)
	return true, stopPostmaster(srv)
}

// stopPostmaster asks the postmaster for a fast shutdown and waits for it
// to exit.
func stopPostmaster(srv *pgresolve.Server) error {
	raw, err := os.ReadFile(filepath.Join(srv.DataDir(), "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("read postmaster.pid: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return fmt.Errorf("postmaster.pid starts with %q", line)
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		return fmt.Errorf("stop the postmaster (pid %d): %w", pid, err)
	}
	for deadline := time.Now().Add(time.Minute); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the postmaster (pid %d) still runs a minute after SIGINT", pid)
		}
	}
	return nil
}

// sparePortOrZero returns a TCP port free on the loopback interface a
// moment ago, or 0.
func sparePortOrZero() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
