package http

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes registers the operations routes, and the API routes of api.md
// when the server has its commands and read models.
func (s *server) routes(e *echo.Echo, metrics *prometheus.Registry) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.yaml", serveOpenAPI)
	if metrics != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(metrics, promhttp.HandlerOpts{})))
	}
	if s.commands == nil || s.pool == nil {
		return
	}
	// The group has no middleware of its own (echo would then answer every
	// unknown /v1 path and method itself): each route authenticates.
	v1 := &authenticated{e.Group("/v1"), s.limits.around(s.authenticate), s.limits.around(s.credential)}

	v1.POST("/tenants/:tenant_id/users", s.addTenantUser)
	v1.DELETE("/tenants/:tenant_id/users/:user_id", s.removeTenantUser)
	v1.POST("/partners/:partner_id/users", s.addPartnerUser)
	v1.DELETE("/partners/:partner_id/users/:user_id", s.removePartnerUser)
	v1.GET("/partners/:partner_id/tenants", s.listPartnerTenants)

	v1.PUT("/tenants/:tenant_id/partners/:partner_id/access", s.putAccess)
	v1.DELETE("/tenants/:tenant_id/partners/:partner_id/access", s.revokeAccess)
	v1.GET("/tenants/:tenant_id/partners/:partner_id/access", s.getAccess)
	v1.GET("/tenants/:tenant_id/partners", s.listAccess)

	v1.POST("/partners/:partner_id/access-requests", s.requestAccess)
	v1.GET("/partners/:partner_id/access-requests", s.listPartnerAccessRequests)
	v1.GET("/partners/:partner_id/access-requests/:request_id", s.getPartnerAccessRequest)
	v1.GET("/tenants/:tenant_id/access-requests", s.listTenantAccessRequests)
	v1.POST("/tenants/:tenant_id/access-requests/:request_id/approve", s.approveAccessRequest)
	v1.POST("/tenants/:tenant_id/access-requests/:request_id/reject", s.rejectAccessRequest)

	v1.POST("/tenants/:tenant_id/accounts", s.createAccount)
	v1.GET("/tenants/:tenant_id/accounts", s.listAccounts)
	v1.GET("/tenants/:tenant_id/accounts/:account_id", s.getAccount)
	v1.PUT("/tenants/:tenant_id/accounts/:account_id/billing", s.updateBilling)

	v1.POST("/tenants/:tenant_id/products", s.createProduct)
	v1.GET("/tenants/:tenant_id/products", s.listProducts)
	v1.GET("/tenants/:tenant_id/products/:product_id", s.getProduct)

	v1.POST("/tenants/:tenant_id/subscriptions", s.createSubscription)
	v1.GET("/tenants/:tenant_id/subscriptions", s.listSubscriptions)
	v1.GET("/tenants/:tenant_id/subscriptions/:subscription_id", s.getSubscription)
	v1.GET("/tenants/:tenant_id/subscriptions/:subscription_id/history", s.subscriptionHistory)
	v1.POST("/tenants/:tenant_id/subscriptions/:subscription_id/amendments", s.amendSubscription)
	v1.POST("/tenants/:tenant_id/subscriptions/:subscription_id/cancel", s.cancelSubscription)
	v1.DELETE("/tenants/:tenant_id/subscriptions/:subscription_id/scheduled-changes/:change_id", s.withdrawScheduledChange)

	v1.POST("/tenants/:tenant_id/usage", s.recordUsage)
	v1.GET("/tenants/:tenant_id/usage/summary", s.usageSummary)

	v1.POST("/tenants/:tenant_id/bill-runs", s.runBill)
	v1.GET("/tenants/:tenant_id/bill-runs/:bill_run_id", s.getBillRun)
	v1.GET("/tenants/:tenant_id/invoices", s.listInvoices)
	v1.GET("/tenants/:tenant_id/invoices/:invoice_id", s.getInvoice)
	v1.POST("/tenants/:tenant_id/invoices/:invoice_id/void", s.voidInvoice)

	v1.GET("/tenants/:tenant_id/reports/mrr", s.mrrReport)
	v1.GET("/tenants/:tenant_id/reports/mrr-movements", s.mrrMovementsReport)
	v1.GET("/tenants/:tenant_id/reports/revenue", s.revenueReport)
	v1.GET("/tenants/:tenant_id/reports/access-review", s.accessReview)
	v1.GET("/tenants/:tenant_id/audit/events", s.auditEvents)
	v1.GET("/tenants/:tenant_id/audit/checkpoint", s.auditCheckpoint)
	v1.GET("/tenants/:tenant_id/audit/proof", s.auditProof)
	v1.GET("/tenants/:tenant_id/audit/consistency", s.auditConsistency)
}

// serveOpenAPI serves the API's OpenAPI document.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", OpenAPIDocument)
}

// authenticated registers routes that authenticate first: reads resolve
// the caller's key before the handler runs; writes pass it to their
// command, which authenticates it on the states it appends on.
type authenticated struct {
	group *echo.Group
	read  echo.MiddlewareFunc
	write echo.MiddlewareFunc
}

func (a *authenticated) GET(path string, h echo.HandlerFunc)    { a.group.GET(path, h, a.read) }
func (a *authenticated) POST(path string, h echo.HandlerFunc)   { a.group.POST(path, h, a.write) }
func (a *authenticated) PUT(path string, h echo.HandlerFunc)    { a.group.PUT(path, h, a.write) }
func (a *authenticated) DELETE(path string, h echo.HandlerFunc) { a.group.DELETE(path, h, a.write) }
