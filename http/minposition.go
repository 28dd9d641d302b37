package http

import (
	"context"
	"errors"

	"ledger/domain"
	"ledger/eventstore"
	"ledger/projections"
)

// codePositionBeyondHead refuses a Ledger-Min-Position that no write has
// been given yet.
const codePositionBeyondHead = "position_beyond_head"

// waitFor waits, at most minPositionWait, until the read models include
// pos, on the one poll the server's waiter shares among every waiting
// request. A position beyond the log's head is 422 at once, naming the
// head.
func (s *server) waitFor(ctx context.Context, pos eventstore.Position) error {
	err := s.waiter.Wait(ctx, pos, minPositionWait)
	var beyond *projections.BeyondHeadError
	if errors.As(err, &beyond) {
		return domain.RuleError(codePositionBeyondHead,
			"Ledger-Min-Position %d is beyond the log's head, %d: no write has been given that position", beyond.Position, beyond.Head)
	}
	return err
}
