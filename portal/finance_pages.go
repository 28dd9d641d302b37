package portal

import "net/http"

// financeRoutes registers the pages of finance: MRR, movements, revenue, bill runs and invoices.
func (p *Portal) financeRoutes(mux *http.ServeMux) {
	_ = mux
}
