package pgresolve

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	embeddedPort    = 54329
	embeddedUser    = "ledger"
	embeddedTimeout = 30 * time.Second
	maxSocketPath   = 107 // sun_path less its terminating NUL
)

// install is a PostgreSQL installation: its directory, the parent of bin,
// or empty when the binaries must be downloaded.
type install struct {
	dir     string
	version embeddedpostgres.PostgresVersion
}

func startEmbedded(ctx context.Context, dataDir, dbName string, logger *slog.Logger) (*DB, error) {
	root, err := filepath.Abs(filepath.Join(dataDir, "pg"))
	if err != nil {
		return nil, fmt.Errorf("resolve data directory: %w", err)
	}
	inst := findInstall()
	srv := &Server{Dir: root}
	if err := checkDataVersion(srv.DataDir(), inst.version); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create postgres directory: %w", err)
	}
	password, err := embeddedPassword(root)
	if err != nil {
		return nil, err
	}
	if port, ok := srv.Running(); ok {
		return attachEmbedded(ctx, root, port, password, dbName, logger)
	}
	if srv.User, err = ServerAccount(logger); err != nil {
		return nil, err
	}
	if srv.Bin, err = installBinaries(root, inst, logger); err != nil {
		return nil, err
	}
	port, err := choosePort()
	if err != nil {
		return nil, err
	}
	srv.Port, srv.Sockets = int(port), socketDir(root, port)
	if err := letThrough(srv.User, filepath.Dir(root)); err != nil {
		return nil, err
	}
	if err := initEmbedded(ctx, srv, password); err != nil {
		return nil, err
	}
	logger.Info("starting embedded postgres", "dir", root, "binaries", binariesLabel(inst), "port", port, "user", userLabel(srv.User))
	if err := srv.Start(ctx); err != nil {
		return nil, fmt.Errorf("start postgres in %s (its log: %s): %w", root, srv.LogFile(), err)
	}
	stop := func() error { return srv.Stop(context.Background()) }
	db, err := openEmbedded(ctx, port, password, dbName)
	if err != nil {
		return nil, errors.Join(err, stop())
	}
	db.Source = fmt.Sprintf("embedded Postgres at %s, database %s, files in %s", hostPort("localhost", uint16(port)), dbName, root)
	db.stop = stop
	return db, nil
}

// initEmbedded gives the server's files to its user and creates the
// cluster unless it exists; a cluster directory without a cluster, as a
// failed first start leaves, is made afresh.
func initEmbedded(ctx context.Context, srv *Server, password string) error {
	fresh := !srv.Initialized()
	if fresh {
		if err := os.RemoveAll(srv.DataDir()); err != nil {
			return fmt.Errorf("clear the unfinished cluster in %s: %w", srv.DataDir(), err)
		}
	}
	if err := srv.Prepare(); err != nil {
		return err
	}
	if !fresh {
		return nil
	}
	if err := srv.Init(ctx, embeddedUser, password); err != nil {
		return fmt.Errorf("create the cluster in %s: %w", srv.DataDir(), err)
	}
	return nil
}

// attachEmbedded connects to the embedded server that another ledger
// process, such as "ledger serve", started in root and still runs; this
// process leaves it running when it ends.
func attachEmbedded(ctx context.Context, root string, port int, password, dbName string, logger *slog.Logger) (*DB, error) {
	logger.Info("using the embedded postgres that another ledger process runs", "dir", root, "port", port)
	db, err := openEmbedded(ctx, uint32(port), password, dbName)
	if err != nil {
		return nil, fmt.Errorf("the embedded postgres in %s runs on port %d but: %w", root, port, err)
	}
	db.Source = fmt.Sprintf("embedded Postgres at %s, database %s, files in %s (run by another ledger process)",
		hostPort("localhost", uint16(port)), dbName, root)
	return db, nil
}

// installBinaries returns the bin directory of inst, or downloads the
// binaries into root once, with embedded-postgres, when none are
// installed.
func installBinaries(root string, inst install, logger *slog.Logger) (string, error) {
	if inst.dir != "" {
		return filepath.Join(inst.dir, "bin"), nil
	}
	dest := filepath.Join(root, "binaries-"+string(inst.version))
	if _, err := os.Stat(filepath.Join(dest, "bin", "pg_ctl")); err == nil {
		return filepath.Join(dest, "bin"), nil
	}
	logger.Info("no postgres binaries installed: downloading them", "version", inst.version, "into", dest)
	if err := DownloadBinaries(dest, inst.version); err != nil {
		return "", err
	}
	return filepath.Join(dest, "bin"), nil
}

// DownloadBinaries downloads PostgreSQL version into dest (dest/bin/pg_ctl
// …) with embedded-postgres, which offers no download alone: it starts a
// throwaway server in a scratch directory and stops it, or, as root, its
// initdb refuses once the binaries are in place.
func DownloadBinaries(dest string, version embeddedpostgres.PostgresVersion) error {
	scratch, err := os.MkdirTemp("", "ledger-pg-download-")
	if err != nil {
		return fmt.Errorf("download postgres: %w", err)
	}
	defer os.RemoveAll(scratch)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("download postgres: find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := embeddedpostgres.DefaultConfig().Version(version).Port(uint32(port)).
		BinariesPath(dest).RuntimePath(filepath.Join(scratch, "runtime")).DataPath(filepath.Join(scratch, "data")).
		Logger(io.Discard).StartTimeout(embeddedTimeout)
	server := embeddedpostgres.NewDatabase(cfg)
	startErr := server.Start()
	if startErr == nil {
		startErr = server.Stop()
	}
	if _, err := os.Stat(filepath.Join(dest, "bin", "pg_ctl")); err != nil {
		return fmt.Errorf("download postgres %s: %w", version, errors.Join(startErr, err))
	}
	return nil
}

// letThrough lets the server's user, if any, pass through the ledger's
// data directory (search, not read), to the server's files under it; the
// ledger's own files there keep their owner-only modes.
func letThrough(a *Account, dataDir string) error {
	if a == nil {
		return nil
	}
	info, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("stat data directory: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o011 != 0o011 {
		if err := os.Chmod(dataDir, perm|0o011); err != nil {
			return fmt.Errorf("let user %s through %s: %w", a.Name, dataDir, err)
		}
	}
	return nil
}

func userLabel(a *Account) string {
	if a == nil {
		return "this process's"
	}
	return a.Name + " (" + a.How + ")"
}

func openEmbedded(ctx context.Context, port uint32, password, dbName string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=localhost port=%d user=%s dbname=postgres sslmode=disable", port, embeddedUser))
	if err != nil {
		return nil, fmt.Errorf("embedded connection string: %w", err)
	}
	cfg.ConnConfig.Password = password
	pool, err := openDatabase(ctx, cfg, dbName)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded postgres: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// embeddedPassword reads the server's password from root, where the first
// start writes a random one that only the owner may read.
func embeddedPassword(root string) (string, error) {
	path := filepath.Join(root, "password")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read postgres password: %w", err)
	}
	password := rand.Text()
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write postgres password: %w", err)
	}
	return password, nil
}

// findInstall looks for PostgreSQL server binaries: where pg_config says,
// then in Debian's /usr/lib/postgresql/*/bin, newest first. When there are
// none, embedded-postgres downloads its default version.
func findInstall() install {
	for _, bin := range candidateBinDirs() {
		if v, err := serverVersion(bin); err == nil {
			return install{dir: filepath.Dir(bin), version: v}
		}
	}
	return install{version: embeddedpostgres.V18}
}

func candidateBinDirs() []string {
	var dirs []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int { return majorOf(b) - majorOf(a) })
	return append(dirs, debian...)
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func serverVersion(binDir string) (embeddedpostgres.PostgresVersion, error) {
	for _, tool := range []string{"pg_ctl", "initdb"} {
		if _, err := os.Stat(filepath.Join(binDir, tool)); err != nil {
			return "", err
		}
	}
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("postgres --version: %w", err)
	}
	return parseVersion(string(out))
}

var versionPattern = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// parseVersion turns the output of postgres --version into the version
// embedded-postgres compares with a data directory's PG_VERSION.
func parseVersion(out string) (embeddedpostgres.PostgresVersion, error) {
	m := versionPattern.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("unrecognised postgres version %q", strings.TrimSpace(out))
	}
	minor := m[2]
	if minor == "" {
		minor = "0"
	}
	return embeddedpostgres.PostgresVersion(m[1] + "." + minor + ".0"), nil
}

// checkDataVersion refuses a data directory of another major version, which
// embedded-postgres would otherwise delete and initialise afresh.
func checkDataVersion(dataPath string, version embeddedpostgres.PostgresVersion) error {
	b, err := os.ReadFile(filepath.Join(dataPath, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read data version: %w", err)
	}
	have := strings.TrimSpace(string(b))
	if !strings.HasPrefix(string(version), have+".") {
		return fmt.Errorf("%s holds PostgreSQL %s data but the server found is PostgreSQL %s; "+
			"install PostgreSQL %s or move that directory away", dataPath, have, version, have)
	}
	return nil
}

// choosePort prefers the fixed embedded port, so that tools can find the
// server, and takes any free port when it is busy.
func choosePort() (uint32, error) {
	if ln, err := net.Listen("tcp", hostPort("localhost", embeddedPort)); err == nil {
		return embeddedPort, ln.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("find a free port: unexpected address %s", ln.Addr())
	}
	return uint32(addr.Port), nil
}

// socketDir returns the directory for the server's unix socket, or "" to
// turn the socket off when its path would be too long.
func socketDir(root string, port uint32) string {
	dir := filepath.Join(root, "run")
	if len(dir)+len("/.s.PGSQL.")+len(strconv.Itoa(int(port))) > maxSocketPath {
		return ""
	}
	return dir
}

func binariesLabel(inst install) string {
	if inst.dir == "" {
		return "download " + string(inst.version)
	}
	return inst.dir
}

// InstallBinaries returns the bin directory of the newest PostgreSQL
// server installed (pg_config --bindir, /usr/lib/postgresql/*/bin), or,
// when there is none, of the binaries that embedded-postgres downloads
// into dir once.
func InstallBinaries(dir string, logger *slog.Logger) (string, error) {
	return installBinaries(dir, findInstall(), logger)
}
