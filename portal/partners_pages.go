package portal

import "net/http"

// partnerRoutes registers the pages of partners and grants, and access requests on both sides.
func (p *Portal) partnerRoutes(mux *http.ServeMux) {
	_ = mux
}
