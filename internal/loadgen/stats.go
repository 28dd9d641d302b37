package loadgen

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"time"
)

// result is one completed request of the load.
type result struct {
	op     Op
	reply  reply
	err    error
	minPos bool // a read sent with Ledger-Min-Position
}

// errKey groups failures: by status and problem code, or for a request
// without a response, status 0 and the transport failure's class.
type errKey struct {
	status int
	code   string
}

// errTally counts the failures of one key and keeps the first one's
// detail as an example.
type errTally struct {
	count   int64
	example string
}

// opRecord is what one worker recorded of one operation.
type opRecord struct {
	latencies []time.Duration
	ok        int64
	errors    map[errKey]*errTally
}

// recorder is one worker's record of the measured requests; only that
// worker writes to it, so it needs no lock.
type recorder struct {
	ops         [numOps]opRecord
	readsMinPos int64
	readsLagged int64
	noPosition  int64
}

func (r *recorder) add(res result) {
	rec := &r.ops[res.op]
	if res.op == OpRead && res.minPos {
		r.readsMinPos++
		if res.reply.status == http.StatusServiceUnavailable && res.reply.code == "projection_lag" {
			r.readsLagged++
		}
	}
	if res.err == nil && res.reply.ok() {
		rec.latencies = append(rec.latencies, res.reply.latency)
		rec.ok++
		if res.op != OpRead && res.reply.position == 0 {
			r.noPosition++
		}
		return
	}
	key, example := failureOf(res)
	if res.reply.status != 0 {
		rec.latencies = append(rec.latencies, res.reply.latency)
	}
	if rec.errors == nil {
		rec.errors = map[errKey]*errTally{}
	}
	t := rec.errors[key]
	if t == nil {
		t = &errTally{example: example}
		rec.errors[key] = t
	}
	t.count++
}

// failureOf returns the key of a failed request and a line about it.
func failureOf(res result) (errKey, string) {
	switch {
	case res.reply.status == 0:
		return errKey{code: transportCode(res.err)}, truncate(res.err.Error(), 200)
	case res.err != nil && errors.Is(res.err, errBadBody):
		return errKey{status: res.reply.status, code: "bad_response_body"}, truncate(res.err.Error(), 200)
	default:
		return errKey{status: res.reply.status, code: res.reply.code}, res.reply.detail
	}
}

// failed reports whether res counts as an error in the live progress.
func (res result) failed() bool { return res.err != nil || !res.reply.ok() }

// merged is the record of every worker, for one operation or all.
type merged struct {
	latencies []time.Duration // sorted
	ok        int64
	errors    map[errKey]*errTally
}

func (m *merged) requests() int64 {
	n := m.ok
	for _, t := range m.errors {
		n += t.count
	}
	return n
}

func (m *merged) addRecord(rec *opRecord) {
	m.latencies = append(m.latencies, rec.latencies...)
	m.ok += rec.ok
	for k, t := range rec.errors {
		if m.errors == nil {
			m.errors = map[errKey]*errTally{}
		}
		if have := m.errors[k]; have != nil {
			have.count += t.count
		} else {
			m.errors[k] = &errTally{count: t.count, example: t.example}
		}
	}
}

// mergeRecorders merges the workers' records by operation and overall,
// each with its latencies sorted.
func mergeRecorders(recs []*recorder) (byOp [numOps]merged, all merged) {
	for _, r := range recs {
		for o := range r.ops {
			byOp[o].addRecord(&r.ops[o])
			all.addRecord(&r.ops[o])
		}
	}
	for o := range byOp {
		slices.Sort(byOp[o].latencies)
	}
	slices.Sort(all.latencies)
	return byOp, all
}

// Percentile returns the nearest-rank p-th percentile of sorted: the
// smallest recorded value with at least p % of the values at or below
// it. p is clamped to (0, 100]; an empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}
