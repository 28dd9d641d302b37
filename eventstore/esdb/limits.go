package esdb

import "ledger/eventstore"

var _ eventstore.Limited = (*Store)(nil)

// Unkept implements eventstore.Limited. The server, through this client,
// has no condition on a stream an append does not write, no append to
// several streams at once and no transaction around a key and its
// events, so the store keeps none of the three guarantees:
//
//   - eventstore.ConditionsInLogOrder: conditions are checked by a read
//     just before the write, not atomically with it;
//   - eventstore.AtomicStreams: several streams are written one after
//     another, and a failure part way leaves the earlier ones written
//     (ErrPartlyWritten);
//   - eventstore.AtomicKeys: a key is recorded after its events, so
//     racing requests with one key may both append.
//
// Everything else of the contract is kept; see Append.
func (s *Store) Unkept() []eventstore.Guarantee {
	return []eventstore.Guarantee{eventstore.ConditionsInLogOrder, eventstore.AtomicStreams, eventstore.AtomicKeys}
}

// Warnings returns one line per guarantee the store cannot keep (see
// Unkept), in Unkept's order, each a sentence for a program to print
// when it starts on this store.
func (s *Store) Warnings() []string {
	unkept := s.Unkept()
	out := make([]string, len(unkept))
	for i, g := range unkept {
		out[i] = warning(g)
	}
	return out
}

// warning is the start-up warning for guarantee g.
func warning(g eventstore.Guarantee) string {
	switch g {
	case eventstore.ConditionsInLogOrder:
		return "eventstoredb: conditions on streams an append does not write are checked by a read just before the write, not atomically with it; a write to such a stream in between goes unnoticed"
	case eventstore.AtomicStreams:
		return "eventstoredb: an append to several streams writes them one after another, not atomically; a failure part way leaves the earlier streams written"
	case eventstore.AtomicKeys:
		return "eventstoredb: an idempotency key is recorded after its events, not atomically with them; racing requests with one key may both append"
	default:
		return "eventstoredb: the store does not promise that " + string(g)
	}
}
