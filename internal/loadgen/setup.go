package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// world is what setup made in the tenant: the product and its charges,
// the accounts, and the hot subscription when the mix has op hot.
type world struct {
	productID   string
	seatCharge  string
	usageCharge string
	accounts    []string
	// hot is the subscription every worker amends with op hot, or nil; its
	// quantity field is left alone, hotSent counts its amendments sent.
	hot     *subRef
	hotSent atomic.Int64
}

// setup creates the catalog, the accounts, each worker's pool of
// subscriptions and, when the mix has hot, the hot subscription over
// HTTP; none of it is measured.
func setup(ctx context.Context, a *api, cfg Config, log io.Writer) ([]*worker, SetupSummary, error) {
	start := time.Now()
	w := &world{}
	if err := createCatalog(ctx, a, w); err != nil {
		return nil, SetupSummary{}, err
	}
	if err := createAccounts(ctx, a, w, cfg.Accounts, cfg.Clients); err != nil {
		return nil, SetupSummary{}, err
	}
	fmt.Fprintf(log, "setup: 1 product, %d accounts\n", len(w.accounts))
	workers := make([]*worker, cfg.Clients)
	for i := range workers {
		c, err := newWire(a, cfg.Timeout)
		if err != nil {
			return nil, SetupSummary{}, err
		}
		workers[i] = newWorker(i, a, c, w, cfg.Mix)
	}
	err := parallel(cfg.Clients, cfg.Clients, func(i int) error { return fillPool(ctx, workers[i], i, cfg.Pool) })
	if err == nil && cfg.Mix[OpHot] > 0 {
		err = createHot(ctx, workers[0])
	}
	if err != nil {
		disconnect(workers)
		return nil, SetupSummary{}, err
	}
	s := SetupSummary{Seconds: round(time.Since(start).Seconds(), 3), Accounts: len(w.accounts), Subscriptions: cfg.Clients * cfg.Pool}
	hot := ""
	if w.hot != nil {
		s.Subscriptions++
		s.HotSubscription = w.hot.id
		hot = ", and the hot one " + w.hot.id
	}
	fmt.Fprintf(log, "setup: %d subscriptions (%d per client%s) in %s\n", s.Subscriptions, cfg.Pool, hot, time.Since(start).Round(time.Millisecond))
	return workers, s, nil
}

// productBody is the part of a product the load needs.
type productBody struct {
	ID      string `json:"id"`
	Charges []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"charges"`
}

func createCatalog(ctx context.Context, a *api, w *world) error {
	body := map[string]any{
		"name": "Bench Platform",
		"sku":  "BENCH-" + uuid.NewString()[:8],
		"charges": []map[string]any{
			{"name": "Seat", "type": "recurring", "price": "49.00", "currency": "USD", "billing_period": "month"},
			{"name": "API calls", "type": "usage", "price": "0.01", "currency": "USD", "unit": "call"},
		},
	}
	var p productBody
	r, err := a.call(ctx, http.MethodPost, a.tenantPath("/products"), body, 0, &p)
	if err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	if r.status != http.StatusCreated {
		return r.failure("create product")
	}
	w.productID = p.ID
	for _, c := range p.Charges {
		switch c.Type {
		case "recurring":
			w.seatCharge = c.ID
		case "usage":
			w.usageCharge = c.ID
		}
	}
	if w.productID == "" || w.seatCharge == "" || w.usageCharge == "" {
		return fmt.Errorf("create product: %w: no product id or charge ids", errBadBody)
	}
	return nil
}

func createAccounts(ctx context.Context, a *api, w *world, n, width int) error {
	w.accounts = make([]string, n)
	return parallel(n, width, func(i int) error {
		body := map[string]any{
			"name":     fmt.Sprintf("Bench customer %d", i+1),
			"currency": "USD",
			"billing": map[string]any{"contact_name": "Billing desk", "email": fmt.Sprintf("billing%d@bench.example", i+1),
				"payment_terms_days": 30, "invoice_delivery": "email"},
		}
		var out struct {
			ID string `json:"id"`
		}
		r, err := a.call(ctx, http.MethodPost, a.tenantPath("/accounts"), body, 0, &out)
		if err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		if r.status != http.StatusCreated {
			return r.failure("create account")
		}
		if out.ID == "" {
			return fmt.Errorf("create account: %w: no id", errBadBody)
		}
		w.accounts[i] = out.ID
		return nil
	})
}

// disconnect closes every worker's connection.
func disconnect(workers []*worker) {
	for _, w := range workers {
		w.http.drop()
	}
}

// fillPool creates the n subscriptions worker i amends, on its own
// account.
func fillPool(ctx context.Context, w *worker, i, n int) error {
	account := w.world.accounts[i%len(w.world.accounts)]
	for range n {
		r, ref, err := w.newSubscription(ctx, account)
		if err != nil {
			return fmt.Errorf("create subscription: %w", err)
		}
		if r.status != http.StatusCreated {
			return r.failure("create subscription")
		}
		w.pool = append(w.pool, ref)
		w.wrote(r, ref)
	}
	return nil
}

// createHot creates the world's hot subscription through w, on the first
// account.
func createHot(ctx context.Context, w *worker) error {
	r, ref, err := w.newSubscription(ctx, w.world.accounts[0])
	if err != nil {
		return fmt.Errorf("create hot subscription: %w", err)
	}
	if r.status != http.StatusCreated {
		return r.failure("create hot subscription")
	}
	w.world.hot = ref
	return nil
}

// parallel runs f(0) … f(n-1) on width goroutines and stops at the first
// error, which it returns with how many more failed.
func parallel(n, width int, f func(i int) error) error {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		first  error
		others int
		wg     sync.WaitGroup
	)
	for range min(width, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					} else {
						others++
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first != nil && others > 0 {
		return errors.Join(first, fmt.Errorf("and %d more setup requests failed", others))
	}
	return first
}
