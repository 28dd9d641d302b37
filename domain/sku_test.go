package domain

import (
	"reflect"
	"testing"

	"github.com/google/uuid"
)

// TestSKUReserve checks that a SKU is taken once: the first product
// reserves it, any other is 409 duplicate_sku.
func TestSKUReserve(t *testing.T) {
	t.Parallel()
	var r SKUReservation
	events := fxMust(t)(r.Reserve(fxTenant, fxProduct, "SUITE-1", fxAt("2025-01-01")))
	want := &SKUReserved{TenantID: fxTenant, SKU: "SUITE-1", ProductID: fxProduct, ReservedAt: fxAt("2025-01-01")}
	if len(events) != 1 || !reflect.DeepEqual(events[0], want) {
		t.Fatalf("Reserve = %+v, want %+v", events, want)
	}
	r.Apply(events[0])
	if !r.Exists() || r.ProductID != fxProduct || r.Version != 1 {
		t.Fatalf("after SKUReserved: %+v", r)
	}
	for _, product := range []struct {
		name string
		id   uuid.UUID
	}{{"another product", fxAcct}, {"the same product again", fxProduct}} {
		_, err := r.Clone().Reserve(fxTenant, product.id, "SUITE-1", fxAt("2025-01-02"))
		fxWantErr(t, err, ErrConflict, CodeDuplicateSKU, "sku")
	}
}
