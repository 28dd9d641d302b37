package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// (catalog.manage). The product takes its SKU in the same append
// (SKUStream): a SKU another product holds is 409 duplicate_sku, decided on
// the log, so that of two racing creates with one SKU only one wins.
func (s *Service) CreateProduct(ctx context.Context, req Request, cmd CreateProduct) (Outcome[domain.Product], error) {
	id := s.newID()
	charges := make([]domain.ChargeInput, len(cmd.Charges))
	for i, c := range cmd.Charges {
		charges[i] = domain.ChargeInput{Name: c.Name, Type: c.Type, Price: c.Price, Currency: c.Currency, BillingPeriod: c.BillingPeriod, Unit: c.Unit}
	}
	stream, sku := ProductStream(req.TenantID, id), SKUStream(req.TenantID, cmd.SKU)
	c := command{
		name: "CreateProduct", input: cmd, scope: TenantStream(req.TenantID),
		writes: []string{stream, sku},
		reads:  []string{stream, sku},
		decide: func(ctx context.Context, v *view, req Request, now time.Time) (decision, error) {
			if _, err := s.authorize(ctx, v, req, access{perm: domain.PermCatalogManage, resource: "products"}, now); err != nil {
				return decision{}, err
			}
			return s.decideProduct(ctx, v, req, stream, sku, domain.CreateProduct{
				ProductID: id, TenantID: req.TenantID, Name: cmd.Name, SKU: cmd.SKU, Charges: charges, NewID: s.newID,
			}, now)
		},
		record: func(_ *view, d decision) ([]byte, error) {
			return json.Marshal(keyedResult{Stream: stream, Created: created(d)})
		},
	}
	v := s.newView()
	ex, err := s.execute(ctx, v, req, c)
	if err != nil {
		return Outcome[domain.Product]{}, err
	}
	if ex.res.Replayed {
		return replay[domain.Product](ctx, s, ex.res)
	}
	p := &domain.Product{}
	for _, e := range ex.decision.writes[0].events {
		p.Apply(e)
	}
	v.advance(stream, p.Clone(), ex.res.Version, ex.res.Position)
	return Outcome[domain.Product]{State: p, Stream: stream, Version: ex.res.Version, Position: ex.res.Position,
		Principal: ex.principal, Created: true}, nil
}

// decideProduct decides creating the product of stream and its taking the
// SKU of stream sku, each at the version read.
func (s *Service) decideProduct(ctx context.Context, v *view, req Request, stream, sku string, cmd domain.CreateProduct, now time.Time) (decision, error) {
	p, version, err := load[domain.Product](ctx, v, stream)
	if err != nil {
		return decision{}, err
	}
	if req.IfMatch != nil && *req.IfMatch != version {
		return decision{}, precondition(version, *req.IfMatch)
	}
	events, err := p.Create(cmd, req.Principal.Actor(), now)
	if err != nil {
		return decision{}, err
	}
	held, skuVersion, err := load[domain.SKUReservation](ctx, v, sku)
	if err != nil {
		return decision{}, err
	}
	taken, err := held.Reserve(cmd.TenantID, cmd.ProductID, cmd.SKU, now)
	if err != nil {
		return decision{}, err
	}
	return decision{writes: []write{{stream: stream, version: version, events: events}, {stream: sku, version: skuVersion, events: taken}}}, nil
}

// SKUStream holds the reservation of sku in tenant's catalog: the product
// that took it. It is named by a hash of the SKU, which may hold
// characters a stream name should not.
func SKUStream(tenant uuid.UUID, sku string) string {
	sum := sha256.Sum256([]byte(sku))
	return "sku-" + tenant.String() + "-" + hex.EncodeToString(sum[:16])
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
