package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
)

// Charge is one charge of a product, as api.md's body carries it.
type Charge struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Price         string `json:"price"`
	Currency      string `json:"currency"`
	BillingPeriod string `json:"billing_period,omitempty"`
	Unit          string `json:"unit,omitempty"`
}

// CreateProduct is the command to add a product to the catalog.
type CreateProduct struct {
	Name    string   `json:"name"`
	SKU     string   `json:"sku"`
	Charges []Charge `json:"charges"`
}

// CreateProduct adds a product with its charges to req's tenant's catalog
// (catalog.manage).
func (s *Service) CreateProduct(ctx context.Context, req Request, cmd CreateProduct) (Outcome[domain.Product], error) {
	id := s.newID()
	charges := make([]domain.ChargeInput, len(cmd.Charges))
	for i, c := range cmd.Charges {
		charges[i] = domain.ChargeInput{Name: c.Name, Type: c.Type, Price: c.Price, Currency: c.Currency, BillingPeriod: c.BillingPeriod, Unit: c.Unit}
	}
	return run(ctx, s, req, plan[domain.Product]{
		name: "CreateProduct", input: cmd,
		stream: ProductStream(req.TenantID, id),
		decide: func(ctx context.Context, v *view, req Request, p *domain.Product, _ uint64, now time.Time) ([]domain.Event, error) {
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermCatalogManage, resource: "products"}, now); err != nil {
				return nil, err
			}
			return p.Create(domain.CreateProduct{
				ProductID: id, TenantID: req.TenantID, Name: cmd.Name, SKU: cmd.SKU, Charges: charges, NewID: s.newID,
			}, req.Principal.Actor(), now)
		},
	})
}

// productStreams are the streams of the products of req's tenant that ids
// name.
func productStreams(req Request, ids []uuid.UUID) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != uuid.Nil {
			out = append(out, ProductStream(req.TenantID, id))
		}
	}
	return out
}

// loadProducts loads the products of req's tenant that ids name; those
// that do not exist are left out, for the aggregate to refuse.
func loadProducts(ctx context.Context, v *view, req Request, ids []uuid.UUID) (map[uuid.UUID]*domain.Product, error) {
	products := make(map[uuid.UUID]*domain.Product, len(ids))
	for _, id := range ids {
		if _, done := products[id]; done || id == uuid.Nil {
			continue
		}
		p, _, err := load[domain.Product](ctx, v, ProductStream(req.TenantID, id))
		if err != nil {
			return nil, err
		}
		if p.Exists() {
			products[id] = p
		}
	}
	return products, nil
}
