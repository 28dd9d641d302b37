package commands

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// keyPrefix starts every API key, so that a leaked key is easy to spot.
const keyPrefix = "lk_"

// NewAPIKey returns a new API key with 256 random bits, and its hash: the
// only form in which it is stored.
func NewAPIKey() (key, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand panics rather than return an error
	key = keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// HashAPIKey returns the stored form of key. Keys carry 256 random bits,
// so a fast hash is enough: there is nothing to guess.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
