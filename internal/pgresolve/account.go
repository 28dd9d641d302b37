package pgresolve

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// CreatedUser is the system user that a ledger running as root creates
// to run the embedded server when neither "postgres" nor "nobody" exists.
const CreatedUser = "ledger-pg"

// ErrNoServerUser reports that, running as root, the ledger found no
// unprivileged user to run the embedded server as and could create none.
var ErrNoServerUser = errors.New("no unprivileged user to run the embedded postgres as")

// Account is the unprivileged user that the embedded server runs as when
// the ledger runs as root, since initdb and postgres refuse root.
type Account struct {
	Name     string
	UID, GID uint32
	// How says how it was found: "reused" or "created".
	How string
}

// ServerAccount returns nil when this process is not root: the server
// runs as this process's user. As root it returns the user "postgres" or
// "nobody", whichever exists first, else creates the system user
// ledger-pg with useradd, and logs which.
func ServerAccount(logger *slog.Logger) (*Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, name := range []string{"postgres", "nobody"} {
		if a, err := lookupAccount(name); err == nil {
			a.How = "reused"
			logger.Info("running as root: the embedded postgres runs as an existing unprivileged user", "user", name)
			return a, nil
		}
	}
	if a, err := lookupAccount(CreatedUser); err == nil {
		a.How = "reused"
		logger.Info("running as root: the embedded postgres runs as the user that an earlier run created", "user", CreatedUser)
		return a, nil
	}
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		return nil, fmt.Errorf("%w: no user postgres or nobody, and no useradd to create %s; "+
			"create one (useradd --system %s), or run as a non-root user, or set LEDGER_DATABASE_URL", ErrNoServerUser, CreatedUser, CreatedUser)
	}
	out, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", CreatedUser).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: useradd --system %s: %w: %s; "+
			"create a user yourself, or run as a non-root user, or set LEDGER_DATABASE_URL", ErrNoServerUser, CreatedUser, err, strings.TrimSpace(string(out)))
	}
	a, err := lookupAccount(CreatedUser)
	if err != nil {
		return nil, fmt.Errorf("%w: look up the created user %s: %w", ErrNoServerUser, CreatedUser, err)
	}
	a.How = "created"
	logger.Info("running as root: created a system user for the embedded postgres", "user", CreatedUser)
	return a, nil
}

func lookupAccount(name string) (*Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %s is root", name)
	}
	return &Account{Name: name, UID: uint32(uid), GID: uint32(gid)}, nil
}

func (a *Account) credential() *syscall.Credential {
	return &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: []uint32{}}
}

// Own gives path, and what it holds, to the account.
func (a *Account) Own(path string) error {
	err := filepath.WalkDir(path, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(a.UID), int(a.GID))
	})
	if err != nil {
		return fmt.Errorf("give %s to user %s: %w", path, a.Name, err)
	}
	return nil
}

// Reaches checks that the account may pass through every directory from
// the root down to dir; the error says which one stops it and what to do.
func (a *Account) Reaches(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if !a.searchable(info) {
			return fmt.Errorf("%w: the embedded postgres runs as user %s, who cannot enter %s (mode %v); "+
				"set LEDGER_DATA_DIR to a directory that user can reach (e.g. LEDGER_DATA_DIR=/var/lib/ledger), "+
				"or run chmod o+x %s, or run as a non-root user", ErrNoServerUser, a.Name, d, info.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (a *Account) searchable(info os.FileInfo) bool {
	perm := info.Mode().Perm()
	st, ok := info.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return perm&0o001 != 0
	case st.Uid == a.UID:
		return perm&0o100 != 0
	case st.Gid == a.GID:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
