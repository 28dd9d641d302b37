package esdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/eventstore"
)

// maxBatch bounds the events of one delivery to a Handler.
const maxBatch = 512

// delivery is one message of a subscription: an event, or the error that
// dropped it.
type delivery struct {
	event *esdb.RecordedEvent
	err   error
}

// Subscribe implements eventstore.Store with a catch-up subscription to
// $all from after, or from the start when after is 0. The server filters
// out system events; events in system streams, and any event at or before
// the last one delivered, are skipped here. A batch holds the events that
// have arrived by the time the previous batch is handled, at least one and
// at most 512. A dropped subscription ends Subscribe with an error.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.Handler) error {
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := s.client.SubscribeToAll(subCtx, esdb.SubscribeToAllOptions{
		From:   fromPosition(after),
		Filter: esdb.ExcludeSystemEventsFilter(),
	})
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("subscribe to $all after %d: %w", after, err))
	}
	in := make(chan delivery, maxBatch)
	go pump(subCtx, sub, in)
	defer func() {
		cancel()
		_ = sub.Close()
		for range in {
		}
	}()
	b := batcher{in: in, last: after}
	for {
		batch, err := b.next(ctx)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			continue
		}
		if err := handle(ctx, batch); err != nil {
			return err
		}
	}
}

// pump moves sub's events and its drop to out until the drop or ctx's end,
// then closes out.
func pump(ctx context.Context, sub *esdb.Subscription, out chan<- delivery) {
	defer close(out)
	for {
		var d delivery
		switch m := sub.Recv(); {
		case m.EventAppeared != nil:
			d.event = m.EventAppeared.OriginalEvent()
		case m.SubscriptionDropped != nil:
			d.err = m.SubscriptionDropped.Error
			if d.err == nil {
				d.err = errors.New("dropped by the server")
			}
		default:
			continue
		}
		select {
		case out <- d:
		case <-ctx.Done():
			return
		}
		if d.err != nil {
			return
		}
	}
}

// batcher turns deliveries into batches of ledger events.
type batcher struct {
	in   <-chan delivery
	last eventstore.Position
	err  error
}

// next waits for one delivery, then takes those already waiting. It returns
// the events gathered; an error that arrives after some events is kept for
// the following call, so that the events are handled first.
func (b *batcher) next(ctx context.Context) ([]eventstore.Event, error) {
	if b.err != nil {
		return nil, b.err
	}
	var batch []eventstore.Event
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case d, ok := <-b.in:
		if batch, b.err = b.add(ctx, batch, d, ok); b.err != nil {
			return nil, b.err
		}
	}
	for len(batch) < maxBatch {
		select {
		case d, ok := <-b.in:
			if batch, b.err = b.add(ctx, batch, d, ok); b.err != nil {
				return batch, nil
			}
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// add appends d's event to batch unless it is to be skipped, or returns the
// error that ends the subscription.
func (b *batcher) add(ctx context.Context, batch []eventstore.Event, d delivery, ok bool) ([]eventstore.Event, error) {
	switch {
	case ctx.Err() != nil:
		return batch, ctx.Err()
	case !ok:
		return batch, errors.New("subscription to $all ended")
	case d.err != nil:
		return batch, fmt.Errorf("subscription to $all dropped: %w", d.err)
	case d.event == nil || isSystem(d.event) || toPosition(d.event.Position) <= b.last:
		return batch, nil
	}
	e, err := decodeEvent(d.event)
	if err != nil {
		return batch, fmt.Errorf("subscription to $all: %w", err)
	}
	b.last = e.Position
	return append(batch, e), nil
}
