package postgres

import (
	"cmp"
	"hash/fnv"
	"slices"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// advisoryLock is one transaction-scoped advisory lock an append takes: on a
// stream's key, exclusive to write the stream (or record an idempotency
// key), shared to hold it still for a condition.
type advisoryLock struct {
	key       int64
	exclusive bool
}

// lockKey is the advisory lock key of a stream, or with kind 'k' of an
// idempotency key: a 64-bit FNV-1a hash. Two names that share a key only
// take turns when they need not.
func lockKey(kind byte, parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte{kind})
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int64(h.Sum64())
}

func streamLock(stream string) int64 { return lockKey('s', stream) }

// locksOf returns the locks of req, in the order of their keys, each key
// once and exclusive if any use of it is.
func locksOf(req eventstore.AppendRequest) []advisoryLock {
	var locks []advisoryLock
	for _, s := range req.Streams {
		locks = append(locks, advisoryLock{key: streamLock(s.Stream), exclusive: true})
	}
	if req.Key != nil {
		locks = append(locks, advisoryLock{key: lockKey('k', req.Key.Caller, req.Key.Key), exclusive: true})
	}
	for _, c := range req.Conditions {
		locks = append(locks, advisoryLock{key: streamLock(c.Stream)})
	}
	return mergeLocks(locks)
}

// mergeLocks sorts locks by key and keeps each key once, exclusive if any
// of its uses is: locks taken in one order by every transaction cannot
// deadlock.
func mergeLocks(locks []advisoryLock) []advisoryLock {
	slices.SortFunc(locks, func(a, b advisoryLock) int { return cmp.Compare(a.key, b.key) })
	out := locks[:0]
	for _, l := range locks {
		if n := len(out); n > 0 && out[n-1].key == l.key {
			out[n-1].exclusive = out[n-1].exclusive || l.exclusive
			continue
		}
		out = append(out, l)
	}
	return out
}

// queueLocks queues the statement that takes locks, in their order.
func queueLocks(b *pgx.Batch, locks []advisoryLock) {
	if len(locks) == 1 && locks[0].exclusive {
		b.Queue(lockOneSQL, locks[0].key)
		return
	}
	keys, exclusive := make([]int64, len(locks)), make([]bool, len(locks))
	for i, l := range locks {
		keys[i], exclusive[i] = l.key, l.exclusive
	}
	b.Queue(lockSQL, keys, exclusive)
}
