package audit

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func testKey(t *testing.T) *Key {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, KeyName)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckpointSignsAndOpens(t *testing.T) {
	t.Parallel()
	key, other := testKey(t), testKey(t)
	root := Hasher.HashLeaf([]byte("x"))
	signed, err := SignCheckpoint(key.Signer, "t1", 7, root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("ledger/t1\n7\n")) {
		t.Fatalf("checkpoint text = %q", signed)
	}
	tenant, cp, err := OpenCheckpoint(signed, key.Verifier)
	if err != nil || tenant != "t1" || cp.Size != 7 || !bytes.Equal(cp.Hash, root) {
		t.Fatalf("open = %q, %+v, %v", tenant, cp, err)
	}
	tests := []struct {
		name   string
		signed []byte
		key    *Key
	}{
		{"another key", signed, other},
		{"size changed", bytes.Replace(signed, []byte("\n7\n"), []byte("\n8\n"), 1), key},
		{"not a ledger origin", bytes.Replace(signed, []byte("ledger/"), []byte("elsewhere/"), 1), key},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := OpenCheckpoint(tc.signed, tc.key.Verifier); err == nil {
				t.Fatal("opened")
			}
		})
	}
}

func TestKeyIsGeneratedOnceIntoTheDataDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := KeySource{DataDir: dir}.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", info, err)
	}
	again, err := KeySource{DataDir: dir}.Load(true)
	if err != nil || again.VerifierKey != first.VerifierKey {
		t.Fatalf("second load = %v, %v; want the same key", again, err)
	}
	if !strings.HasPrefix(first.VerifierKey, KeyName+"+") || strings.Contains(first.String(), "PRIVATE") {
		t.Fatalf("verifier key %q, String %q", first.VerifierKey, first.String())
	}
	if _, err := (KeySource{DataDir: t.TempDir()}).Load(false); err == nil {
		t.Fatal("a missing key loaded without generate")
	}
}

func TestKeyFromFileOrTextWinsOverTheDataDirectory(t *testing.T) {
	t.Parallel()
	skey, vkey, err := note.GenerateKey(rand.Reader, "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(file, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]KeySource{
		"file": {File: file, Text: "ignored", DataDir: t.TempDir()},
		"text": {Text: skey, DataDir: t.TempDir()},
	} {
		k, err := src.Load(true)
		if err != nil || k.VerifierKey != vkey {
			t.Fatalf("%s: %v, %v; want %s", name, k, err, vkey)
		}
	}
	_, err = ParseKey("PRIVATE+KEY+x+00000000+c2VjcmV0")
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("bad key: %v; want an error that does not quote it", err)
	}
}
