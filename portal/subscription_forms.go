package portal

import "net/http"

// subscriptionFormRoutes registers the pages of the subscription write pages (create, amend, cancel, withdraw a scheduled change), the state at an instant, and usage upload.
func (p *Portal) subscriptionFormRoutes(mux *http.ServeMux) {
	_ = mux
}
