package projections

import "fmt"

// All returns every projection the ledger runs, in a stable order.
func All() []Projection {
	return []Projection{Accounts{}, Catalog{}, Partners{}, Subscriptions{}, Usage{}, Audit{}, Invoices{}, MRRHistory{}, AccessRequests{}}
}

// ByName returns the projection named name.
func ByName(name string) (Projection, error) {
	for _, p := range All() {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no projection named %q", name)
}
