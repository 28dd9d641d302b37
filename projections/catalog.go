package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ledger/domain"
	"ledger/eventstore"
)

// Catalog is the read model of the tenants' catalogs: one row per
// product, its charges as JSON in the order they were given.
type Catalog struct{}

// Name implements Projection.
func (Catalog) Name() string { return "catalog" }

// Tables implements Projection.
func (Catalog) Tables() []string { return []string{"catalog_products"} }

// Create implements Projection. The primary key serves both queries: a
// tenant's products in order of id, and one product.
func (Catalog) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
CREATE TABLE %s (
    tenant_id  uuid        NOT NULL,
    product_id uuid        NOT NULL,
    name       text        NOT NULL,
    sku        text        NOT NULL,
    charges    jsonb       NOT NULL,
    version    bigint      NOT NULL,
    created_by jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    position   bigint      NOT NULL,
    PRIMARY KEY (tenant_id, product_id)
)`, table(schema, "catalog_products")))
	if err != nil {
		return fmt.Errorf("catalog: create tables: %w", err)
	}
	return nil
}

// Apply implements Projection. A product is created once and never
// changes, so an event applied twice changes nothing.
func (Catalog) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	t := table(schema, "catalog_products")
	var b pgx.Batch
	for _, e := range batch {
		if e.Type != "ProductCreated" {
			continue
		}
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("catalog: decode event at position %d: %w", e.Position, err)
		}
		ev, ok := decoded.(*domain.ProductCreated)
		if !ok {
			return fmt.Errorf("catalog: event at %d is a %T", e.Position, decoded)
		}
		charges := ev.Charges
		if charges == nil {
			charges = []domain.Charge{}
		}
		b.Queue(`INSERT INTO `+t+` (tenant_id, product_id, name, sku, charges, version, created_by, created_at, position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
			ev.TenantID, ev.ProductID, ev.Name, ev.SKU, charges, int64(e.Version), ev.CreatedBy, ev.CreatedAt, int64(e.Position))
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("catalog: apply batch: %w", err)
	}
	return nil
}
