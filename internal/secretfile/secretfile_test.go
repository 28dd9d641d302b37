package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadCreatesOnceAndReadsAfter(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Load(dir, "k", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing without create: %v, want fs.ErrNotExist", err)
	}
	const racers = 8
	got := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			var err error
			got[i], err = Load(dir, "k", func() (string, error) { return "secret-" + string(rune('a'+i)), nil })
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, g := range got {
		if strings.TrimSpace(g) == "" || strings.TrimSpace(g) != strings.TrimSpace(got[0]) {
			t.Fatalf("racers read %q, want one secret for all", got)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "k"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if dirInfo, err := os.Stat(dir); err != nil || dirInfo.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v (%v), want 0700", dirInfo.Mode().Perm(), err)
	}
}
