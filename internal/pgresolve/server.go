package pgresolve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a PostgreSQL server run from the binaries in Bin, with its
// files in Dir: the cluster in data/, the unix socket in run/ and the log
// in postgres.log. As root it runs as User, who owns those three; the
// ledger, as root, can still remove Dir.
type Server struct {
	// Bin is the directory of initdb, pg_ctl and postgres.
	Bin string
	// Dir holds the server's files.
	Dir string
	// Port is the TCP port the server listens on, on localhost.
	Port int
	// Sockets is the directory of the unix socket; empty turns it off.
	Sockets string
	// User is the account the server runs as; nil runs it as this
	// process's user.
	User *Account
}

// DataDir is the server's cluster directory.
func (s *Server) DataDir() string { return filepath.Join(s.Dir, "data") }

// LogFile is where the server writes its log.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "postgres.log") }

// Initialized reports whether the cluster directory holds a cluster.
func (s *Server) Initialized() bool {
	_, err := os.Stat(filepath.Join(s.DataDir(), "PG_VERSION"))
	return err == nil
}

// Prepare creates Dir and, when the server runs as another user, gives
// that user the cluster directory, the socket directory and the log, and
// checks that the user can reach them.
func (s *Server) Prepare() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create postgres directory: %w", err)
	}
	if s.Sockets != "" {
		if err := os.MkdirAll(s.Sockets, 0o700); err != nil {
			return fmt.Errorf("create socket directory: %w", err)
		}
	}
	if s.User == nil {
		return nil
	}
	// The directory stays the ledger's own; the server's user may only
	// pass through it, to its data, socket and log.
	if err := os.Chmod(s.Dir, 0o711); err != nil {
		return fmt.Errorf("open postgres directory to %s: %w", s.User.Name, err)
	}
	if err := s.User.Reaches(s.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.DataDir(), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	log, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create postgres log: %w", err)
	}
	log.Close()
	for _, path := range []string{s.DataDir(), s.Sockets, s.LogFile()} {
		if path == "" {
			continue
		}
		if err := s.User.Own(path); err != nil {
			return err
		}
	}
	return nil
}

// Init creates the cluster with superuser, who signs in with password
// over TCP, or is trusted when password is empty.
func (s *Server) Init(ctx context.Context, superuser, password string) error {
	args := []string{"-D", s.DataDir(), "-U", superuser, "--locale=C", "--encoding=UTF8"}
	if password == "" {
		args = append(args, "-A", "trust", "--no-sync")
	} else {
		pwfile := s.DataDir() + ".pwfile"
		if err := os.WriteFile(pwfile, []byte(password), 0o600); err != nil {
			return fmt.Errorf("write initdb password file: %w", err)
		}
		defer os.Remove(pwfile)
		if s.User != nil {
			if err := s.User.Own(pwfile); err != nil {
				return err
			}
		}
		args = append(args, "-A", "password", "--pwfile="+pwfile)
	}
	return s.run(ctx, "initdb", args...)
}

// Start starts the server and returns once it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -c listen_addresses=localhost -c unix_socket_directories='%s'", s.Port, s.Sockets)
	return s.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", s.DataDir(), "-l", s.LogFile(), "-o", opts)
}

// Stop stops the server with pg_ctl's mode "fast": it rolls back open
// transactions, ends the sessions and shuts down cleanly.
func (s *Server) Stop(ctx context.Context) error {
	return s.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", s.DataDir())
}

// Running returns the port of the postmaster that runs on the cluster,
// from its lock file, and whether one runs.
func (s *Server) Running() (int, bool) {
	raw, err := os.ReadFile(filepath.Join(s.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 || !processAlive(pid) {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0, false
	}
	return port, true
}

// processAlive reports whether process pid exists and is no zombie.
func processAlive(pid int) bool {
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		_, rest, _ := strings.Cut(string(stat), ") ")
		return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// run runs one of the server's programs as its user; the error carries
// the program's output.
func (s *Server) run(ctx context.Context, program string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, program), args...)
	cmd.Dir = s.Dir
	if s.User != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.User.credential()}
		cmd.Env = append(os.Environ(), "HOME="+s.Dir, "USER="+s.User.Name, "LOGNAME="+s.User.Name)
	}
	out, err := cmd.CombinedOutput()
	if s.User != nil && errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("%w: running as root, the ledger cannot start %s as user %s (%w); "+
			"run it as a non-root user instead (e.g. runuser -u %s -- make run), or set LEDGER_DATABASE_URL=postgres://user@host:5432/ledger",
			ErrNoServerUser, program, s.User.Name, err, s.User.Name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w: %s", program, err, strings.TrimSpace(string(out)))
	}
	return nil
}
