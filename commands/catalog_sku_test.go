package commands_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
)

func skuProduct(name, sku string) commands.CreateProduct {
	return commands.CreateProduct{Name: name, SKU: sku, Charges: []commands.Charge{
		{Name: "Seat", Type: "recurring", Price: "10", Currency: "EUR", BillingPeriod: "month"},
	}}
}

// TestCreateProductDuplicateSKU checks that a SKU is one product's per
// tenant: a second product with it is 409 duplicate_sku, while another
// SKU, the same SKU in another tenant and a keyed retry are not.
func TestCreateProductDuplicateSKU(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newMemoryWorld(t)
	first, err := w.svc.CreateProduct(ctx, w.req(w.admin), skuProduct("Pro", "PRO-1"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := w.svc.CreateTenant(ctx, commands.Request{Principal: operator}, commands.CreateTenant{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	otherAdmin := domain.Principal{Type: domain.ActorTenantUser, ID: other.AdminUserID, TenantID: other.ID, Role: domain.RoleTenantAdmin}
	keyed := w.req(w.admin)
	keyed.IdempotencyKey = "sku-retry"
	tests := []struct {
		name string
		req  commands.Request
		cmd  commands.CreateProduct
		code string // "" when accepted
	}{
		{"same sku", w.req(w.admin), skuProduct("Pro again", "PRO-1"), domain.CodeDuplicateSKU},
		{"same sku, same name", w.req(w.admin), skuProduct("Pro", "PRO-1"), domain.CodeDuplicateSKU},
		{"another sku", w.req(w.admin), skuProduct("Pro", "PRO-2"), ""},
		{"sku of another case", w.req(w.admin), skuProduct("Pro", "pro-1"), ""},
		{"same sku, another tenant", commands.Request{Principal: otherAdmin, TenantID: other.ID}, skuProduct("Pro", "PRO-1"), ""},
		{"keyed", keyed, skuProduct("Keyed", "KEY-1"), ""},
		{"keyed retry", keyed, skuProduct("Keyed", "KEY-1"), ""},
		{"keyed sku again", w.req(w.admin), skuProduct("Keyed 2", "KEY-1"), domain.CodeDuplicateSKU},
	}
	for _, tt := range tests { // in order: each case sees the ones before
		out, err := w.svc.CreateProduct(ctx, tt.req, tt.cmd)
		if tt.code != "" {
			wantCode(t, err, domain.ErrConflict, tt.code)
			continue
		}
		if err != nil || out.State.SKU != tt.cmd.SKU || out.State.ID == first.State.ID {
			t.Fatalf("%s: CreateProduct = %+v, %v", tt.name, out.State, err)
		}
	}
	if got := productsCreated(t, w.store); got != 5 {
		t.Fatalf("%d products created, want 5", got)
	}
}

// productsCreated counts the ProductCreated events of the log.
func productsCreated(t *testing.T, store eventstore.Store) int {
	t.Helper()
	evs, err := store.ReadAll(context.Background(), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == "ProductCreated" {
			n++
		}
	}
	return n
}

// TestPostgresRacingCreatesOneSKU races creates of one SKU from two
// replicas on Postgres: exactly one product is created, every other
// create is 409 duplicate_sku.
func TestPostgresRacingCreatesOneSKU(t *testing.T) {
	t.Parallel()
	store := postgresStore(t)
	w := newWorld(t, func(func() time.Time) eventstore.Store { return store })
	replicas := [2]*commands.Service{w.svc, commands.New(store, commands.WithClock(func() time.Time { return w.now }))}
	const racers = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won      int
		winner   uuid.UUID
		refusals []error
	)
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			out, err := replicas[i%2].CreateProduct(context.Background(), w.req(w.admin), skuProduct("Racer "+uuid.NewString()[:8], "RACE-1"))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won, winner = won+1, out.State.ID
			} else {
				refusals = append(refusals, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d creates of one sku won, want 1 (refusals %v)", won, refusals)
	}
	for _, err := range refusals {
		var derr *domain.Error
		if !errors.As(err, &derr) || derr.Code != domain.CodeDuplicateSKU {
			t.Fatalf("refusal %v, want duplicate_sku", err)
		}
	}
	held, err := store.ReadStream(context.Background(), commands.SKUStream(w.tenant, "RACE-1"), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Type != "SKUReserved" {
		t.Fatalf("the sku's stream holds %d events, want one SKUReserved", len(held))
	}
	reserved, err := domain.UnmarshalEvent(held[0].Type, held[0].SchemaVersion, held[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := reserved.(*domain.SKUReserved).ProductID; got != winner {
		t.Fatalf("the sku is held by %s, want the winner %s", got, winner)
	}
}
