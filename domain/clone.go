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
	c.Items = cloneItems(s.Items)
	c.ItemsBefore = cloneItems(s.ItemsBefore)
	c.Scheduled = slices.Clone(s.Scheduled)
	for i := range c.Scheduled {
		c.Scheduled[i].Changes = cloneChanges(s.Scheduled[i].Changes)
	}
	return &c
}

func cloneItems(items []Item) []Item {
	c := slices.Clone(items)
	for i := range c {
		c[i].Quantities = slices.Clone(items[i].Quantities)
	}
	return c
}

func cloneChanges(changes []Change) []Change {
	c := slices.Clone(changes)
	for i := range c {
		if changes[i].Item != nil {
			spec := *changes[i].Item
			c[i].Item = &spec
		}
	}
	return c
}

// Clone returns a deep copy of u.
func (u *SubscriptionUsage) Clone() *SubscriptionUsage {
	c := *u
	c.Seen = maps.Clone(u.Seen)
	c.LastUsed = maps.Clone(u.LastUsed)
	c.Daily = maps.Clone(u.Daily)
	return &c
}
