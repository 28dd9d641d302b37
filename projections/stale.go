package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// ErrStale reports a read of a read model that lacks events of the
// stream asked for: they are parked (see applyGroup), so what the read
// model holds of that stream is behind the log until the stream is
// rebuilt. Reads answer it as 503 read_model_stale.
var ErrStale = errors.New("read model is stale")

// StaleError is ErrStale for a read model and, for a read of one
// resource, the stream whose events are parked in it; a list or report
// names none, only that the tenant has parked events there.
type StaleError struct {
	Projection string
	Stream     string
}

func (e *StaleError) Error() string {
	if e.Stream == "" {
		return fmt.Sprintf("read model %s has parked events of this tenant: %v", e.Projection, ErrStale)
	}
	return fmt.Sprintf("read model %s has parked events of stream %s: %v", e.Projection, e.Stream, ErrStale)
}

// Unwrap returns ErrStale.
func (e *StaleError) Unwrap() error { return ErrStale }

// streamName is the stream of the aggregate of category with ids, as the
// commands name it (commands/streams.go): category-id-id….
func streamName(category string, ids ...uuid.UUID) string {
	var b strings.Builder
	b.WriteString(category)
	for _, id := range ids {
		b.WriteByte('-')
		b.WriteString(id.String())
	}
	return b.String()
}

// staleStream returns a *StaleError when stream has events parked in
// projection, nil otherwise.
func staleStream(ctx context.Context, db Querier, projection, stream string) error {
	return staleCheck(ctx, db, &StaleError{Projection: projection, Stream: stream},
		`SELECT EXISTS (SELECT 1 FROM `+table(LiveSchema, parkedTable)+` WHERE projection = $1 AND stream = $2)`, projection, stream)
}

// staleTenant returns a *StaleError when any stream of tenant has events
// parked in projection, nil otherwise.
func staleTenant(ctx context.Context, db Querier, projection string, tenant uuid.UUID) error {
	return staleCheck(ctx, db, &StaleError{Projection: projection},
		`SELECT EXISTS (SELECT 1 FROM `+table(LiveSchema, parkedTable)+` WHERE tenant_id = $1 AND projection = $2)`, tenant, projection)
}

// staleCheck runs query, which says whether something is parked, and
// returns stale when it is. Read models set up before parking existed
// have no parked events table, and so nothing parked.
func staleCheck(ctx context.Context, db Querier, stale *StaleError, query string, args ...any) error {
	var parked bool
	if err := db.QueryRow(ctx, query, args...).Scan(&parked); err != nil {
		if notSetUp(err) {
			return nil
		}
		return fmt.Errorf("read parked events: %w", err)
	}
	if parked {
		return stale
	}
	return nil
}

// staleSeen is staleStream for a resource the caller may see: one found
// in its scope, or any when it sees the whole tenant (seen). Otherwise it
// returns nil: a resource not found in a narrower scope is not found,
// stale or not, so that no answer tells what exists outside the scope.
func staleSeen(ctx context.Context, db Querier, seen bool, projection, stream string) error {
	if !seen {
		return nil
	}
	return staleStream(ctx, db, projection, stream)
}

// stalePartnerGrants returns a *StaleError when a grant to partner, from
// any tenant, has events parked in the partners read model.
func stalePartnerGrants(ctx context.Context, db Querier, partner uuid.UUID) error {
	projection := Partners{}.Name()
	return staleCheck(ctx, db, &StaleError{Projection: projection},
		`SELECT EXISTS (SELECT 1 FROM `+table(LiveSchema, parkedTable)+` WHERE projection = $1 AND stream LIKE $2)`,
		projection, "access-%-"+partner.String())
}
