package domain

import (
	"maps"
	"slices"
)

// The Clone methods return a copy of an aggregate's state that shares
// nothing mutable with it, so that a state kept aside (a snapshot) stays
// as it was while its copy evolves.

// Clone returns a deep copy of t.
func (t *Tenant) Clone() *Tenant {
	c := *t
	c.Users = maps.Clone(t.Users)
	return &c
}

// Clone returns a deep copy of p.
func (p *Partner) Clone() *Partner {
	c := *p
	c.Users = maps.Clone(p.Users)
	return &c
}

// Clone returns a deep copy of g.
func (g *PartnerAccess) Clone() *PartnerAccess {
	c := *g
	c.AccountIDs = slices.Clone(g.AccountIDs)
	c.Actions = slices.Clone(g.Actions)
	if g.ExpiresAt != nil {
		at := *g.ExpiresAt
		c.ExpiresAt = &at
	}
	return &c
}

// Clone returns a deep copy of a.
func (a *Account) Clone() *Account {
	c := *a
	return &c
}

// Clone returns a deep copy of p.
func (p *Product) Clone() *Product {
	c := *p
	c.Charges = slices.Clone(p.Charges)
	return &c
}

// Clone returns a deep copy of s.
func (s *Subscription) Clone() *Subscription {
	c := *s
	c.Items = slices.Clone(s.Items)
	for i := range c.Items {
		c.Items[i].Quantities = slices.Clone(s.Items[i].Quantities)
	}
	return &c
}

// Clone returns a deep copy of u.
func (u *SubscriptionUsage) Clone() *SubscriptionUsage {
	c := *u
	c.Seen = maps.Clone(u.Seen)
	return &c
}
