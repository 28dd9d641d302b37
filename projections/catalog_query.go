package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
)

// ProductView is a catalog product as api.md represents it.
type ProductView struct {
	ID        uuid.UUID    `json:"id"`
	Name      string       `json:"name"`
	SKU       string       `json:"sku"`
	Charges   []ChargeView `json:"charges"`
	Version   uint64       `json:"version"`
	CreatedBy AuditActor   `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
}

// ChargeView is one charge of a product. Price has the currency's minor
// units, or more places when the price has them, as a subscription
// item's unit price. BillingPeriod is null but for recurring charges,
// Unit but for usage charges.
type ChargeView struct {
	ID            uuid.UUID             `json:"id"`
	Name          string                `json:"name"`
	Type          domain.ChargeType     `json:"type"`
	Price         string                `json:"price"`
	Currency      domain.Currency       `json:"currency"`
	BillingPeriod *domain.BillingPeriod `json:"billing_period"`
	Unit          *string               `json:"unit"`
}

// productColumns are the columns catScan reads, in its order.
const productColumns = `product_id, name, sku, charges, version, created_by, created_at`

// ListProducts returns one page of tenant's catalog, ordered by id. Every
// principal of the tenant with catalog.read sees all of it. It is a
// *StaleError while events of a product of the tenant are parked.
func ListProducts(ctx context.Context, db Querier, tenant uuid.UUID, page Page) (List[ProductView], error) {
	if err := staleTenant(ctx, db, Catalog{}.Name(), tenant); err != nil {
		return List[ProductView]{}, err
	}
	return keysetList[ProductView]{
		what: "list products",
		sql:  `SELECT ` + productColumns + ` FROM ` + table(LiveSchema, "catalog_products") + ` WHERE tenant_id = $1`,
		args: []any{tenant}, key: "product_id",
		scan: catScan, keyOf: func(v ProductView) uuid.UUID { return v.ID },
	}.run(ctx, db, page)
}

// GetProduct returns tenant's product id, or domain.NotFound when the
// tenant has none; a *StaleError when events of the product are parked.
func GetProduct(ctx context.Context, db Querier, tenant, id uuid.UUID) (ProductView, error) {
	row := db.QueryRow(ctx, `SELECT `+productColumns+` FROM `+table(LiveSchema, "catalog_products")+`
WHERE tenant_id = $1 AND product_id = $2`, tenant, id)
	v, err := catScan(row)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ProductView{}, fmt.Errorf("get product: %w", err)
	}
	if err := staleStream(ctx, db, Catalog{}.Name(), streamName("product", tenant, id)); err != nil {
		return ProductView{}, err
	}
	if err != nil {
		return ProductView{}, domain.NotFound("product")
	}
	return v, nil
}

// catScan reads a row of productColumns.
func catScan(row pgx.Row) (ProductView, error) {
	var (
		v       ProductView
		charges []domain.Charge
		by      domain.Actor
		version int64
	)
	if err := row.Scan(&v.ID, &v.Name, &v.SKU, &charges, &version, &by, &v.CreatedAt); err != nil {
		return ProductView{}, err
	}
	v.Version, v.CreatedBy, v.CreatedAt = uint64(version), viewActor(by), v.CreatedAt.UTC()
	v.Charges = make([]ChargeView, len(charges))
	for i, c := range charges {
		price, err := subsPresentPrice(c.Currency, c.Price.String())
		if err != nil {
			return ProductView{}, err
		}
		v.Charges[i] = ChargeView{ID: c.ID, Name: c.Name, Type: c.Type, Price: price, Currency: c.Currency, Unit: subsText(c.Unit)}
		if c.BillingPeriod != "" {
			period := c.BillingPeriod
			v.Charges[i].BillingPeriod = &period
		}
	}
	return v, nil
}
