package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"ledger/internal/secretfile"
)

// KeyName is the name of the ledger's signing key in the notes it signs.
const KeyName = "ledger"

// KeyFileName is the key's file in the data directory when neither
// LEDGER_SIGNING_KEY_FILE nor LEDGER_SIGNING_KEY names one.
const KeyFileName = "audit-signing.key"

// Key is the ledger's ed25519 signing key: a note signer and its verifier.
type Key struct {
	Signer note.Signer
	// VerifierKey is the public key in note format (name+hash+base64),
	// what `ledger audit public-key` prints.
	VerifierKey string
	Verifier    note.Verifier
}

// KeySource says where the key is: File, else Text (the note-format
// private key), else DataDir/KeyFileName, generated when absent.
type KeySource struct {
	File    string
	Text    string
	DataDir string
}

// KeySourceFromEnv reads LEDGER_SIGNING_KEY_FILE and LEDGER_SIGNING_KEY;
// dataDir is the fallback's directory.
func KeySourceFromEnv(dataDir string) KeySource {
	return KeySource{File: os.Getenv("LEDGER_SIGNING_KEY_FILE"), Text: os.Getenv("LEDGER_SIGNING_KEY"), DataDir: dataDir}
}

// Load returns the key. With generate, a key missing from the data
// directory is generated there (mode 0600); without, it is an error. No
// error ever holds the key's text.
func (s KeySource) Load(generate bool) (*Key, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		return ParseKey(string(b))
	case s.Text != "":
		return ParseKey(s.Text)
	case s.DataDir == "":
		return nil, errors.New("signing key: set LEDGER_SIGNING_KEY_FILE, LEDGER_SIGNING_KEY or a data directory")
	}
	var create func() (string, error)
	if generate {
		create = func() (string, error) {
			skey, _, err := note.GenerateKey(rand.Reader, KeyName)
			return skey, err
		}
	}
	text, err := secretfile.Load(s.DataDir, KeyFileName, create)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return ParseKey(text)
}

// ParseKey parses a note-format ed25519 private key
// (PRIVATE+KEY+name+hash+base64) and derives its verifier key.
func ParseKey(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	signer, err := note.NewSigner(text)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err) // the error never quotes the key
	}
	parts := strings.SplitN(text, "+", 5) // PRIVATE, KEY, name, hash, key (whose base64 may hold a +)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("signing key: not an ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &Key{Signer: signer, VerifierKey: vkey, Verifier: verifier}, nil
}

// String never shows the private key.
func (k *Key) String() string { return "audit key " + k.VerifierKey }
