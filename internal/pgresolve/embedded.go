package pgresolve

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
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
	if err := checkDataVersion(filepath.Join(root, "data"), inst.version); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o700); err != nil {
		return nil, fmt.Errorf("create postgres directory: %w", err)
	}
	port, err := choosePort()
	if err != nil {
		return nil, err
	}
	password, err := embeddedPassword(root)
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(root, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open postgres log: %w", err)
	}
	cfg := embeddedConfig(root, inst, port, password).Logger(logFile)
	logger.Info("starting embedded postgres", "dir", root, "binaries", binariesLabel(inst), "port", port)
	server := embeddedpostgres.NewDatabase(cfg)
	if err := server.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start postgres in %s: %w", root, err), logFile.Close())
	}
	stop := func() error {
		return errors.Join(server.Stop(), logFile.Close())
	}
	db, err := openEmbedded(ctx, port, password, dbName)
	if err != nil {
		return nil, errors.Join(err, stop())
	}
	db.Source = fmt.Sprintf("embedded Postgres at %s, database %s, files in %s", hostPort("localhost", uint16(port)), dbName, root)
	db.stop = stop
	return db, nil
}

func embeddedConfig(root string, inst install, port uint32, password string) embeddedpostgres.Config {
	cfg := embeddedpostgres.DefaultConfig().
		Version(inst.version).Port(port).
		Username(embeddedUser).Password(password).Database("postgres").
		DataPath(filepath.Join(root, "data")).RuntimePath(filepath.Join(root, "runtime")).
		Locale("C").Encoding("UTF8").
		StartParameters(map[string]string{"unix_socket_directories": socketDir(root, port), "listen_addresses": "localhost"}).
		StartTimeout(embeddedTimeout)
	if inst.dir != "" {
		cfg = cfg.BinariesPath(inst.dir)
	}
	return cfg
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
