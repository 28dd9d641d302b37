package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Op is one kind of request of the load.
type Op int

// The operations, in the order they are reported.
const (
	// OpCreate creates a subscription.
	OpCreate Op = iota
	// OpAmend changes the quantity of a subscription's recurring item.
	OpAmend
	// OpHot is OpAmend on the one subscription that every client of the
	// run amends: a hot stream.
	OpHot
	// OpUsage records a few usage records.
	OpUsage
	// OpRead reads a subscription at the client's last write position.
	OpRead
	numOps
)

var opNames = [numOps]string{OpCreate: "create", OpAmend: "amend", OpHot: "hot", OpUsage: "usage", OpRead: "read"}

// String returns the operation's name as the --mix flag spells it.
func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "op(" + strconv.Itoa(int(o)) + ")"
	}
	return opNames[o]
}

// parseOp returns the operation named s.
func parseOp(s string) (Op, bool) {
	for o, name := range opNames {
		if name == s {
			return Op(o), true
		}
	}
	return 0, false
}

// Mix is the weight of each operation: each request is op o with
// probability Mix[o] / the sum of the weights.
type Mix [numOps]int

// DefaultMix is mostly amendments, the write the benchmark is about,
// each client's to its own subscriptions: hot weighs 0.
var DefaultMix = Mix{OpCreate: 10, OpAmend: 70, OpUsage: 10, OpRead: 10}

// ParseMix reads a mix such as "amend=70,create=10,usage=10,read=10".
// Weights are non-negative integers, not necessarily summing to 100; an
// operation left out weighs 0, and at least one must weigh more.
func ParseMix(s string) (Mix, error) {
	var m Mix
	var seen [numOps]bool
	if strings.TrimSpace(s) == "" {
		return m, fmt.Errorf("invalid mix %q: empty", s)
	}
	for part := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			return Mix{}, fmt.Errorf("invalid mix %q: %q is not op=weight", s, part)
		}
		op, known := parseOp(name)
		if !known {
			return Mix{}, fmt.Errorf("invalid mix %q: unknown operation %q (want create, amend, hot, usage or read)", s, name)
		}
		if seen[op] {
			return Mix{}, fmt.Errorf("invalid mix %q: %s given twice", s, name)
		}
		w, err := strconv.Atoi(value)
		if err != nil || w < 0 || w > 1_000_000 {
			return Mix{}, fmt.Errorf("invalid mix %q: weight of %s must be an integer 0..1000000", s, name)
		}
		m[op], seen[op] = w, true
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("invalid mix %q: every weight is 0", s)
	}
	return m, nil
}

// String returns the mix as ParseMix reads it, leaving out zero weights.
func (m Mix) String() string {
	var parts []string
	for o, w := range m {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", Op(o), w))
		}
	}
	return strings.Join(parts, ",")
}

func (m Mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// pick returns the operation that n, drawn uniformly from [0, total),
// falls on.
func (m Mix) pick(n int) Op {
	for o, w := range m {
		if n < w {
			return Op(o)
		}
		n -= w
	}
	return numOps - 1
}

// asMap returns the weights by operation name, zeros included.
func (m Mix) asMap() map[string]int {
	out := make(map[string]int, numOps)
	for o, w := range m {
		out[Op(o).String()] = w
	}
	return out
}
