package portal

import "net/http"

// accountRoutes registers the pages of customers (accounts) and billing details, the catalog, and users of tenants and partners.
func (p *Portal) accountRoutes(mux *http.ServeMux) {
	_ = mux
}
