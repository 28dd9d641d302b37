package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"ledger/internal/secretfile"
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
	text, err := secretfile.Load(dataDir, SessionKeyFileName, func() (string, error) {
		key := make([]byte, SessionKeySize)
		_, err := rand.Read(key)
		return hex.EncodeToString(key), err
	})
	if err != nil {
		return nil, fmt.Errorf("portal session key: %w", err)
	}
	return parseSessionKey(text)
}

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
