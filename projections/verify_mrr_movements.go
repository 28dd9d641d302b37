package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"ledger/domain"
	"ledger/eventstore"
)

// storedSteps are the steps of one subscription as the mrr_movements
// read model holds them.
type storedSteps struct {
	tenant, id uuid.UUID
	steps      []MRRStep
}

// verifyMRRSteps cross-checks the mrr_movements read model with the log:
// for every subscription it holds, the subscription's stream, up to the
// projection's checkpoint, folded by domain.Subscription, must give the
// steps stored (MRRSteps), and at each stored step's date and the day
// before it, domain.Subscription.MRR must be the stored MRR and the one
// before. It returns the subscriptions that differ, at most
// maxShownDifferences.
func verifyMRRSteps(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store) ([]Difference, error) {
	at, subs, err := atCheckpoint(ctx, pool, MRRHistory{}.Name(), func(db Querier) ([]storedSteps, error) {
		return readStoredSteps(ctx, db)
	})
	if err != nil {
		return nil, err
	}
	var out []Difference
	for _, s := range subs {
		sub, bad, err := foldSubscription(ctx, store, streamName("subscription", s.tenant, s.id), at)
		if err != nil {
			return nil, err
		}
		if bad == nil {
			bad = stepsDifference(s, sub)
		}
		if bad != nil && len(out) < maxShownDifferences {
			out = append(out, *bad)
		}
	}
	return out, nil
}

// readStoredSteps reads every subscription of the read model with its
// steps.
func readStoredSteps(ctx context.Context, db Querier) ([]storedSteps, error) {
	t := mrrMoveTables(LiveSchema)
	rows, err := db.Query(ctx, t.expand(`SELECT st.tenant_id, st.subscription_id, s.effective, s.mrr::text
FROM {states} st LEFT JOIN {steps} s ON s.subscription_id = st.subscription_id
ORDER BY st.tenant_id, st.subscription_id, s.effective`))
	if err != nil {
		return nil, fmt.Errorf("read mrr steps: %w", err)
	}
	var out []storedSteps
	var tenant, id uuid.UUID
	var on *time.Time
	var mrr *string
	_, err = pgx.ForEachRow(rows, []any{&tenant, &id, &on, &mrr}, func() error {
		if n := len(out); n == 0 || out[n-1].id != id {
			out = append(out, storedSteps{tenant: tenant, id: id})
		}
		if on == nil {
			return nil
		}
		value, err := decimal.NewFromString(*mrr)
		if err != nil {
			return fmt.Errorf("read %q: %w", *mrr, err)
		}
		last := &out[len(out)-1]
		last.steps = append(last.steps, MRRStep{Effective: domain.DateOf(*on), MRR: value})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read mrr steps: %w", err)
	}
	return out, nil
}

// foldSubscription folds stream up to position at with the domain. An
// event the domain cannot read is returned as a difference.
func foldSubscription(ctx context.Context, store eventstore.Store, stream string, at eventstore.Position) (*domain.Subscription, *Difference, error) {
	sub := &domain.Subscription{}
	for from := uint64(1); ; {
		events, err := store.ReadStream(ctx, stream, from, rebuildBatch)
		if err != nil {
			return nil, nil, fmt.Errorf("verify mrr steps: %w", err)
		}
		for _, e := range events {
			if e.Position > at {
				break
			}
			decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				d, err := stepsDomainDifference(struct {
					Stream   string              `json:"stream"`
					Position eventstore.Position `json:"position"`
					Error    string              `json:"domain_error"`
				}{stream, e.Position, err.Error()})
				return nil, d, err
			}
			sub.Apply(decoded)
		}
		if len(events) < rebuildBatch || events[len(events)-1].Position > at {
			return sub, nil, nil
		}
		from = events[len(events)-1].Version + 1
	}
}

// stepsDifference returns how the stored steps s differ from the domain's
// sub, or nil when they agree.
func stepsDifference(s storedSteps, sub *domain.Subscription) *Difference {
	want := MRRSteps(sub)
	same := slices.EqualFunc(s.steps, want, func(a, b MRRStep) bool { return a.Effective == b.Effective && a.MRR.Equal(b.MRR) })
	prev := decimal.Zero
	for _, st := range s.steps {
		if !sub.MRR(st.Effective).Equal(st.MRR) || !sub.MRR(st.Effective.AddDays(-1)).Equal(prev) {
			same = false
		}
		prev = st.MRR
	}
	if same {
		return nil
	}
	d, _ := stepsDomainDifference(struct {
		ID        uuid.UUID      `json:"subscription_id"`
		Tenant    uuid.UUID      `json:"tenant_id"`
		ReadModel []stepsSideRow `json:"read_model"`
		Domain    []stepsSideRow `json:"domain"`
	}{s.id, s.tenant, stepsSide(s.steps), stepsSide(want)})
	return d
}

// stepsSideRow is a step as a difference shows it.
type stepsSideRow struct {
	Effective domain.Date `json:"effective"`
	MRR       string      `json:"mrr"`
}

func stepsSide(steps []MRRStep) []stepsSideRow {
	out := make([]stepsSideRow, len(steps))
	for i, st := range steps {
		out[i] = stepsSideRow{st.Effective, st.MRR.String()}
	}
	return out
}

// stepsDomainDifference is a subscription the domain and the
// mrr_movements read model disagree on, row saying how.
func stepsDomainDifference(row any) (*Difference, error) {
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("verify mrr steps: %w", err)
	}
	return &Difference{Projection: MRRHistory{}.Name(), Table: "subscription_mrr_steps", Side: SideDomain, Row: string(b)}, nil
}
