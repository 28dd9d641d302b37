package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SessionKeyFileName is the file in the data directory that holds the
// session key when LEDGER_SESSION_KEY is not set.
const SessionKeyFileName = "portal-session.key"

// SessionKeyEnv names the environment variable that holds the session
// key: 64 hexadecimal digits.
const SessionKeyEnv = "LEDGER_SESSION_KEY"

// SessionKeySize is the size of the session key in bytes (AES-256).
const SessionKeySize = 32

// LoadSessionKey returns the key that seals the API keys of sessions:
// LEDGER_SESSION_KEY when set, else the key in dataDir's
// portal-session.key, generated there (mode 0600) when missing. No error
// ever holds the key.
func LoadSessionKey(dataDir string) ([]byte, error) {
	if text := os.Getenv(SessionKeyEnv); text != "" {
		return parseSessionKey(text)
	}
	if dataDir == "" {
		return nil, errors.New("portal session key: set " + SessionKeyEnv + " or a data directory")
	}
	path := filepath.Join(dataDir, SessionKeyFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		return parseSessionKey(string(b))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("portal session key: %w", err)
	}
	return generateSessionKey(dataDir, path)
}

// generateSessionKey writes a new random key to path, or reads the one
// another process wrote there first.
func generateSessionKey(dataDir, path string) ([]byte, error) {
	key := make([]byte, SessionKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate the portal session key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("portal session key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("portal session key: %w", rerr)
		}
		return parseSessionKey(string(b))
	}
	if err != nil {
		return nil, fmt.Errorf("portal session key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("write the portal session key %s: %w", path, err)
	}
	return key, nil
}

// parseSessionKey decodes 64 hexadecimal digits.
func parseSessionKey(text string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != SessionKeySize {
		return nil, fmt.Errorf("portal session key: must be %d hexadecimal digits", 2*SessionKeySize)
	}
	return key, nil
}

// sealer seals and opens the API keys of sessions with AES-256-GCM. The
// additional data binds a sealed key to its session's id hash, so that a
// sealed key copied to another row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SessionKeySize {
		return nil, fmt.Errorf("portal session key: must be %d bytes", SessionKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("portal session key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("portal session key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns a random nonce followed by the ciphertext of plain.
func (s *sealer) seal(plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, ad), nil
}

// open reverses seal; any tampering, or another key, is an error.
func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("open sealed key: too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, errors.New("open sealed key: authentication failed")
	}
	return plain, nil
}
