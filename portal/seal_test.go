package portal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	s, err := newSealer(bytes.Repeat([]byte{1}, SessionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer(bytes.Repeat([]byte{2}, SessionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal([]byte("lk_secret"), []byte("session-a"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name   string
		s      *sealer
		sealed []byte
		ad     string
		ok     bool
	}{
		{"same key and session", s, sealed, "session-a", true},
		{"another session's row", s, sealed, "session-b", false},
		{"another server key", other, sealed, "session-a", false},
		{"tampered", s, tampered, "session-a", false},
		{"truncated", s, sealed[:10], "session-a", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plain, err := tc.s.open(tc.sealed, []byte(tc.ad))
			if (err == nil) != tc.ok || (tc.ok && string(plain) != "lk_secret") {
				t.Fatalf("open = %q, %v; want ok %v", plain, err, tc.ok)
			}
		})
	}
}

// TestLoadSessionKey is not parallel: it sets LEDGER_SESSION_KEY.
func TestLoadSessionKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(SessionKeyEnv, "")
	generated, err := LoadSessionKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, SessionKeyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode())
	}
	again, err := LoadSessionKey(dir)
	if err != nil || !bytes.Equal(again, generated) || len(generated) != SessionKeySize {
		t.Fatalf("reloaded key differs or is not %d bytes (%v)", SessionKeySize, err)
	}
	t.Setenv(SessionKeyEnv, "00"+string(bytes.Repeat([]byte("ab"), SessionKeySize-1)))
	fromEnv, err := LoadSessionKey(dir)
	if err != nil || fromEnv[0] != 0 || fromEnv[1] != 0xab {
		t.Fatalf("LEDGER_SESSION_KEY not used: %v", err)
	}
	t.Setenv(SessionKeyEnv, "not hex")
	if _, err := LoadSessionKey(dir); err == nil || bytes.Contains([]byte(err.Error()), []byte("not hex")) {
		t.Fatalf("a malformed key: %v, want an error that does not quote it", err)
	}
}
