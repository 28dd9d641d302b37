package pgresolve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccountReaches(t *testing.T) {
	t.Parallel()
	top := t.TempDir()
	inner := filepath.Join(top, "a", "b")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	stranger := &Account{Name: "stranger", UID: 54321, GID: 54321}
	if err := stranger.Reaches(inner); err != nil {
		t.Errorf("Reaches through search bits: %v", err)
	}
	closed := filepath.Join(top, "a")
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	err := stranger.Reaches(inner)
	if !errors.Is(err, ErrNoServerUser) || !strings.Contains(err.Error(), "cannot enter "+closed) ||
		!strings.Contains(err.Error(), "LEDGER_DATA_DIR") {
		t.Errorf("Reaches past a closed directory = %v, want an error naming %s and what to set", err, closed)
	}
}

func TestServerAccountAsNormalUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: ServerAccount picks a user, which TestStartEmbedded covers")
	}
	if a, err := ServerAccount(nil); a != nil || err != nil {
		t.Errorf("ServerAccount = %+v, %v; want the process's own user (nil)", a, err)
	}
}
