package commands

import "github.com/google/uuid"

// Stream names: one stream per aggregate, named by category and id, and
// scoped by tenant wherever the aggregate belongs to one, so that an id
// looked up under another tenant finds nothing.

// TenantStream is a tenant's own stream: the tenant and its users.
func TenantStream(tenant uuid.UUID) string { return "tenant-" + tenant.String() }

// PartnerStream is a partner's stream: the partner and its users.
func PartnerStream(partner uuid.UUID) string { return "partner-" + partner.String() }

// AccessStream is the grant of tenant to partner.
func AccessStream(tenant, partner uuid.UUID) string {
	return "access-" + tenant.String() + "-" + partner.String()
}

// AccountStream is a customer account of tenant.
func AccountStream(tenant, account uuid.UUID) string {
	return "account-" + tenant.String() + "-" + account.String()
}

// ProductStream is a catalog product of tenant.
func ProductStream(tenant, product uuid.UUID) string {
	return "product-" + tenant.String() + "-" + product.String()
}

// SubscriptionStream is a subscription of tenant.
func SubscriptionStream(tenant, subscription uuid.UUID) string {
	return "subscription-" + tenant.String() + "-" + subscription.String()
}

// UsageStream holds the usage recorded against a subscription of tenant.
func UsageStream(tenant, subscription uuid.UUID) string {
	return "usage-" + tenant.String() + "-" + subscription.String()
}

// AuditStream holds a tenant's audit events that belong to no aggregate:
// the refusals of access.
func AuditStream(tenant uuid.UUID) string { return "audit-" + tenant.String() }

// InvoicesStream holds the invoices of an account of tenant.
func InvoicesStream(tenant, account uuid.UUID) string {
	return "invoices-" + tenant.String() + "-" + account.String()
}

// InvoiceNumberingStream holds the numbers given to tenant's invoices, in
// order and without gaps.
func InvoiceNumberingStream(tenant uuid.UUID) string { return "invoicenumbers-" + tenant.String() }

// BillRunStream is a bill run of tenant.
func BillRunStream(tenant, run uuid.UUID) string {
	return "billrun-" + tenant.String() + "-" + run.String()
}
