package commands

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// keyPrefix starts every API key, so that a leaked key is easy to spot.
const keyPrefix = "lk_"

// keyVersion is the first byte of a key's body, so that its layout can
// change without ambiguity.
const keyVersion byte = 1

// keySecretBytes is how many random bytes a key carries: 256 bits.
const keySecretBytes = 32

// Who a key belongs to: a user of a tenant or of a partner.
const (
	keyOfTenant  byte = 't'
	keyOfPartner byte = 'p'
)

// keyBodyLen is the length of a key's body: version, owner kind, owner
// id, user id and the secret.
const keyBodyLen = 2 + 16 + 16 + keySecretBytes

// apiKey is what a key names: the user it belongs to and that user's
// tenant or partner. It proves nothing until its hash matches the one
// stored for that user.
type apiKey struct {
	ownerKind byte
	ownerID   uuid.UUID
	userID    uuid.UUID
}

// newAPIKey returns a new API key of a user of owner, with 256 random
// bits, and its hash: the only form in which it is stored. The key names
// its user, so that it is resolved by reading that one user's owner, in
// constant time, and never by searching for a hash.
func newAPIKey(ownerKind byte, ownerID, userID uuid.UUID) (key, hash string) {
	body := make([]byte, 0, keyBodyLen)
	body = append(body, keyVersion, ownerKind)
	body = append(body, ownerID[:]...)
	body = append(body, userID[:]...)
	secret := make([]byte, keySecretBytes)
	_, _ = rand.Read(secret) // never fails: crypto/rand panics rather than return an error
	body = append(body, secret...)
	key = keyPrefix + base64.RawURLEncoding.EncodeToString(body)
	return key, HashAPIKey(key)
}

// parseAPIKey reads what key names; ok is false for anything that is not
// a well-formed key.
func parseAPIKey(key string) (k apiKey, ok bool) {
	rest, found := strings.CutPrefix(key, keyPrefix)
	if !found || len(rest) != base64.RawURLEncoding.EncodedLen(keyBodyLen) {
		return apiKey{}, false
	}
	body, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(body) != keyBodyLen || body[0] != keyVersion {
		return apiKey{}, false
	}
	if kind := body[1]; kind != keyOfTenant && kind != keyOfPartner {
		return apiKey{}, false
	}
	k.ownerKind = body[1]
	copy(k.ownerID[:], body[2:18])
	copy(k.userID[:], body[18:34])
	if k.ownerID == uuid.Nil || k.userID == uuid.Nil || bytes.Equal(body[34:], make([]byte, keySecretBytes)) {
		return apiKey{}, false
	}
	return k, true
}

// HashAPIKey returns the stored form of key. Keys carry 256 random bits,
// so a fast hash is enough: there is nothing to guess.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// keyMatches compares key's hash with the stored one in constant time.
func keyMatches(key, storedHash string) bool {
	got := HashAPIKey(key)
	return len(storedHash) == len(got) && subtle.ConstantTimeCompare([]byte(got), []byte(storedHash)) == 1
}

// ownerStream is the stream of the tenant or partner whose user k names.
func (k apiKey) ownerStream() string {
	if k.ownerKind == keyOfPartner {
		return PartnerStream(k.ownerID)
	}
	return TenantStream(k.ownerID)
}
