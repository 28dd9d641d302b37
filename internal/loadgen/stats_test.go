package loadgen

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99.5 of 1..100 rounds up", ms(hundred...), 99.5, 100 * time.Millisecond},
		{"p100 is the max", ms(1, 5, 9), 100, 9 * time.Millisecond},
		{"p0 is the min", ms(1, 5, 9), 0, 1 * time.Millisecond},
		{"above 100 is the max", ms(1, 5, 9), 150, 9 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestPercentileProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		raw := rapid.SliceOfN(rapid.Int64Range(0, int64(time.Minute)), 1, 500).Draw(rt, "latencies")
		sorted := make([]time.Duration, len(raw))
		for i, v := range raw {
			sorted[i] = time.Duration(v)
		}
		slices.Sort(sorted)
		p := rapid.Float64Range(0, 100).Draw(rt, "p")
		q := rapid.Float64Range(p, 100).Draw(rt, "q")
		lo, hi := Percentile(sorted, p), Percentile(sorted, q)
		if lo < sorted[0] || hi > sorted[len(sorted)-1] {
			rt.Fatalf("percentiles %v, %v outside [%v, %v]", lo, hi, sorted[0], sorted[len(sorted)-1])
		}
		if lo > hi {
			rt.Fatalf("p%v = %v > p%v = %v", p, lo, q, hi)
		}
		if !slices.Contains(sorted, lo) {
			rt.Fatalf("p%v = %v is not a recorded value", p, lo)
		}
		below := 0
		for _, d := range sorted {
			if d <= lo {
				below++
			}
		}
		if float64(below) < p/100*float64(len(sorted))-1e-9 {
			rt.Fatalf("only %d of %d values at or below p%v = %v", below, len(sorted), p, lo)
		}
	})
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	ok := func(op Op, ms int, pos int64) result {
		return result{op: op, reply: reply{status: 200, position: pos, latency: time.Duration(ms) * time.Millisecond}}
	}
	r.add(ok(OpAmend, 3, 10))
	r.add(ok(OpAmend, 1, 11))
	r.add(ok(OpCreate, 2, 0))
	r.add(result{op: OpAmend, reply: reply{status: 422, code: "invalid_quantity", detail: "first", latency: 5 * time.Millisecond}})
	r.add(result{op: OpAmend, reply: reply{status: 422, code: "invalid_quantity", detail: "second", latency: time.Millisecond}})
	r.add(result{op: OpUsage, err: syscall.ECONNREFUSED})
	r.add(result{op: OpRead, minPos: true, reply: reply{status: 503, code: "projection_lag", latency: 5 * time.Second}})
	r.add(result{op: OpRead, minPos: true, reply: reply{status: 200, latency: time.Millisecond}})
	r.add(result{op: OpCreate, reply: reply{status: 201, position: 3}, err: errors.Join(errBadBody)})

	byOp, all := mergeRecorders([]*recorder{r, {}})
	amend := byOp[OpAmend]
	if amend.ok != 2 || amend.requests() != 4 || len(amend.latencies) != 4 {
		t.Errorf("amend: ok %d of %d, %d latencies; want 2 of 4, 4", amend.ok, amend.requests(), len(amend.latencies))
	}
	if !slices.IsSorted(amend.latencies) || amend.latencies[3] != 5*time.Millisecond {
		t.Errorf("amend latencies %v: want sorted, max 5ms", amend.latencies)
	}
	if e := amend.errors[errKey{422, "invalid_quantity"}]; e == nil || e.count != 2 || e.example != "first" {
		t.Errorf("amend 422 tally %+v, want 2 with the first detail", e)
	}
	if e := byOp[OpUsage].errors[errKey{0, "connection_refused"}]; e == nil || e.count != 1 || len(byOp[OpUsage].latencies) != 0 {
		t.Errorf("usage: %+v, latencies %v; want one connection_refused without latency", e, byOp[OpUsage].latencies)
	}
	if e := byOp[OpCreate].errors[errKey{201, "bad_response_body"}]; e == nil || e.count != 1 {
		t.Errorf("create bad body tally %+v", e)
	}
	if r.readsMinPos != 2 || r.readsLagged != 1 || r.noPosition != 1 {
		t.Errorf("read-your-writes %d reads, %d lagged, %d writes without position; want 2, 1, 1", r.readsMinPos, r.readsLagged, r.noPosition)
	}
	if all.requests() != 9 || all.ok != 4 {
		t.Errorf("all: ok %d of %d, want 4 of 9", all.ok, all.requests())
	}
}
