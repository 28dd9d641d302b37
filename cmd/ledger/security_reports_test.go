package main

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestPartnerMRRReportHidesOtherPartners has three partners subscribe
// accounts of one tenant beside its own direct subscription: the tenant
// sees each partner by id and name, while a partner's report by partner
// names and sizes only itself and direct, with every other partner's
// revenue in one group "other", unnamed, and never another partner's id
// or name anywhere in the body.
func TestPartnerMRRReportHidesOtherPartners(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	api := newAPIClient(srv.base)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"}
	s := newShop(t, api, env, "Acme Reports") // one direct subscription of one 10.00 seat

	type partner struct {
		id, name string
		admin    *caller
	}
	var partners []partner
	for i, name := range []string{"Northwind Resellers", "Southwind Secret", "Eastwind Hidden"} {
		b := runBootstrap(t, env, "partner", name)
		p := partner{id: b.ID.String(), name: name, admin: &caller{api: api, name: name, key: b.AdminKey}}
		s.admin.put(t, s.path("/partners/"+p.id+"/access"), map[string]any{"role": "partner_admin", "all_accounts": true}).want(t, 201)
		p.admin.post(t, s.path("/subscriptions"), map[string]any{"account_id": s.account, "start_date": "2025-01-01",
			"term": map[string]any{"type": "evergreen"}, "items": []map[string]any{{"product_id": s.product, "charge_id": s.charge, "quantity": i + 2}}}).
			want(t, 201)
		partners = append(partners, p)
	}

	report := func(c *caller) (map[string]mrrGroupJSON, string) {
		t.Helper()
		r := c.get(t, s.path("/reports/mrr?group_by=partner")).want(t, 200)
		var v struct {
			Groups []mrrGroupJSON `json:"groups"`
		}
		s.decode(t, r, 200, &v)
		groups := map[string]mrrGroupJSON{}
		for _, g := range v.Groups {
			groups[g.Key] = g
		}
		return groups, string(r.Body)
	}

	all, _ := report(s.admin)
	wantKeys := []string{"direct", partners[0].id, partners[1].id, partners[2].id}
	if keys := slices.Sorted(maps.Keys(all)); !slices.Equal(keys, sorted(wantKeys...)) {
		t.Fatalf("the tenant's groups %v, want %v", keys, sorted(wantKeys...))
	}
	for _, p := range partners {
		if all[p.id].Name != p.name {
			t.Errorf("the tenant's group of %s is named %q", p.name, all[p.id].Name)
		}
	}

	seen, body := report(partners[0].admin)
	if keys := slices.Sorted(maps.Keys(seen)); !slices.Equal(keys, sorted("direct", partners[0].id, "other")) {
		t.Fatalf("the partner's groups %v, want direct, its own and other", keys)
	}
	if seen[partners[0].id] != all[partners[0].id] || seen["direct"] != all["direct"] {
		t.Errorf("the partner's own and direct groups %+v, %+v; want the tenant's %+v, %+v",
			seen[partners[0].id], seen["direct"], all[partners[0].id], all["direct"])
	}
	// 3 and 4 seats of 10.00 a month: 70.00 for the other two together.
	if other := seen["other"]; other.MRR != "70.00" || other.Name != "Other" {
		t.Errorf("the partner's other group %+v, want 70.00 named Other", other)
	}
	for _, p := range partners[1:] {
		if strings.Contains(body, p.id) || strings.Contains(body, p.name) {
			t.Errorf("the partner's report names %s (%s): %s", p.name, p.id, body)
		}
	}
}
