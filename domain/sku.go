package domain

import (
	"time"

	"github.com/google/uuid"
)

// CodeDuplicateSKU is the refusal of a product whose SKU another product
// of the tenant's catalog holds.
const CodeDuplicateSKU = "duplicate_sku"

// SKUReservation is the hold of one SKU in a tenant's catalog, in a stream
// of its own: the product that took it first. Creating a product appends
// to this stream and the product's together, all or none, so that of two
// racing creates with one SKU only one can win.
type SKUReservation struct {
	TenantID   uuid.UUID
	SKU        string
	ProductID  uuid.UUID
	ReservedAt time.Time
	Version    uint64
}

// SKUReserved records that a product took a SKU of its tenant's catalog.
type SKUReserved struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	SKU        string    `json:"sku"`
	ProductID  uuid.UUID `json:"product_id"`
	ReservedAt time.Time `json:"reserved_at"`
}

// EventType implements Event.
func (*SKUReserved) EventType() string { return "SKUReserved" }

func init() {
	register(func() Event { return &SKUReserved{} })
}

// Exists reports whether a product holds the SKU.
func (r *SKUReservation) Exists() bool { return r.ProductID != uuid.Nil }

// Apply evolves the reservation by one of its events.
func (r *SKUReservation) Apply(e Event) {
	r.Version++
	switch e := e.(type) {
	case *SKUReserved:
		r.TenantID, r.SKU, r.ProductID, r.ReservedAt = e.TenantID, e.SKU, e.ProductID, e.ReservedAt
	}
}

// Clone returns a copy of r.
func (r *SKUReservation) Clone() *SKUReservation {
	c := *r
	return &c
}

// Reserve decides that product takes sku in tenant's catalog at now: 409
// CodeDuplicateSKU when another product holds it.
func (r *SKUReservation) Reserve(tenant, product uuid.UUID, sku string, now time.Time) ([]Event, error) {
	if r.Exists() {
		return nil, &Error{Kind: ErrConflict, Code: CodeDuplicateSKU, Message: "sku: another product of this catalog has it",
			Fields: []FieldError{{Field: "sku", Message: "another product of this catalog has it"}}}
	}
	return []Event{&SKUReserved{TenantID: tenant, SKU: sku, ProductID: product, ReservedAt: now.UTC()}}, nil
}
