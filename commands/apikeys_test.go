package commands

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore/memory"
)

func TestParseAPIKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, kind := range []byte{keyOfTenant, keyOfPartner} {
		owner, user := uuid.New(), uuid.New()
		key, hash := newAPIKey(kind, owner, user)
		k, ok := parseAPIKey(key)
		if !ok || k != (apiKey{ownerKind: kind, ownerID: owner, userID: user}) {
			t.Fatalf("parseAPIKey(newAPIKey(%c)) = %+v, %v", kind, k, ok)
		}
		if !keyMatches(key, hash) || keyMatches(key+"x", hash) || keyMatches(key, "") {
			t.Fatalf("keyMatches does not tell the key's hash from others")
		}
	}
}

func TestKeysAreNotRepeated(t *testing.T) {
	t.Parallel()
	owner, user := uuid.New(), uuid.New()
	seen := map[string]bool{}
	for range 1000 {
		key, _ := newAPIKey(keyOfTenant, owner, user)
		if seen[key] {
			t.Fatalf("key repeated after %d keys", len(seen))
		}
		seen[key] = true
	}
}

// A key whose user id was rewritten to another user's still parses, but
// its secret belongs to the first user: it must open nothing.
func TestKeyOfOneUserDoesNotOpenAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := New(memory.New())
	tb, err := svc.CreateTenant(ctx, Request{Principal: domain.Principal{Type: domain.ActorOperator}}, CreateTenant{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	admin := domain.Principal{Type: domain.ActorTenantUser, ID: tb.AdminUserID, TenantID: tb.ID, Role: domain.RoleTenantAdmin}
	other, err := svc.AddTenantUser(ctx, Request{Principal: admin, TenantID: tb.ID}, AddUser{Name: "Aud", Role: domain.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(other.Key, keyPrefix))
	if err != nil {
		t.Fatal(err)
	}
	copy(body[18:34], tb.AdminUserID[:])
	forged := keyPrefix + base64.RawURLEncoding.EncodeToString(body)
	if _, ok := parseAPIKey(forged); !ok {
		t.Fatal("the forged key should parse: only its hash may refuse it")
	}
	if p, err := svc.Authenticate(ctx, forged); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("Authenticate(forged) = %+v, %v; want ErrUnauthenticated", p, err)
	}
}

func FuzzParseAPIKey(f *testing.F) {
	key, _ := newAPIKey(keyOfPartner, uuid.New(), uuid.New())
	for _, seed := range []string{key, "", "lk_", "lk_AAAA", key[:40], strings.ToUpper(key)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := parseAPIKey(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(s, keyPrefix) || k.ownerID == uuid.Nil || k.userID == uuid.Nil ||
			(k.ownerKind != keyOfTenant && k.ownerKind != keyOfPartner) {
			t.Fatalf("parseAPIKey(%q) accepted %+v", s, k)
		}
	})
}
