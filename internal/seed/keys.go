package seed

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/google/uuid"

	"ledger/domain"
)

// Keys are the seeded users' API keys: every tenant's admin, and every
// partner user on every tenant its partner is granted access to.
type Keys struct {
	TenantAdmins []Key `json:"tenant_admins"`
	PartnerUsers []Key `json:"partner_users"`
}

// Key is a user's working API key, with the tenant it acts on and a few
// accounts in its scope there.
type Key struct {
	TenantID  string   `json:"tenant_id"`
	Role      string   `json:"role"`
	UserID    string   `json:"user_id"`
	PartnerID string   `json:"partner_id,omitempty"`
	Key       string   `json:"key"`
	Accounts  []string `json:"accounts,omitempty"`
}

// keyAccounts is how many accounts in scope a key lists, at most.
const keyAccounts = 20

// WriteKeys writes keys to path as JSON, readable by its owner only.
func WriteKeys(path string, keys Keys) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write keys: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("write keys: %w", err)
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(keys); err != nil {
		_ = f.Close()
		return fmt.Errorf("write keys to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write keys to %s: %w", path, err)
	}
	return nil
}

// keys lists the key of every tenant admin and partner user of w.
func (w *world) keys() Keys {
	var out Keys
	for _, t := range w.tenants {
		if t.adminKey == "" {
			continue // not created: the seed stopped before
		}
		p := t.admin.Principal
		out.TenantAdmins = append(out.TenantAdmins, Key{TenantID: t.id.String(), Role: string(p.Role), UserID: p.ID.String(),
			Key: t.adminKey, Accounts: sample(t.accountIDs)})
		for _, g := range t.grants {
			if g.state == nil {
				continue
			}
			scope := g.opened
			if g.all {
				scope = t.accountIDs
			}
			out.PartnerUsers = append(out.PartnerUsers,
				partnerKey(t, g.partner.admin, g.partner.adminKey, scope),
				partnerKey(t, g.partner.operator, g.partner.operatorKey, scope))
		}
	}
	return out
}

func partnerKey(t *tenant, p domain.Principal, key string, scope []uuid.UUID) Key {
	return Key{TenantID: t.id.String(), Role: string(p.Role), UserID: p.ID.String(), PartnerID: p.PartnerID.String(),
		Key: key, Accounts: sample(scope)}
}

// sample is up to keyAccounts of ids, spread over them.
func sample(ids []uuid.UUID) []string {
	n := min(len(ids), keyAccounts)
	out := make([]string, n)
	for i := range out {
		out[i] = ids[i*len(ids)/n].String()
	}
	return out
}

// result sums up what was written.
func (s *seeder) result() Result {
	res := Result{Events: s.written(), Partners: len(s.world.partners), From: s.clock.start, To: s.clock.Now(), Keys: s.world.keys()}
	s.mu.Lock()
	res.Bypassed = s.bypassed
	s.mu.Unlock()
	for _, t := range s.world.tenants {
		if t.id == uuid.Nil {
			continue
		}
		res.Accounts += len(t.accountIDs)
		res.Subscriptions += t.created
		res.Tenants = append(res.Tenants, TenantSummary{ID: t.id.String(), Accounts: len(t.accountIDs), Events: t.events})
	}
	slices.SortStableFunc(res.Tenants, func(a, b TenantSummary) int { return cmp.Compare(b.Events, a.Events) })
	return res
}
