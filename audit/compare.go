package audit

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/google/uuid"
)

// compareTenant checks a tenant's log (its events in log order, hashed)
// against its checkpoints, in order of size, and names the events that
// differ from witness, the leaves appended to its checkpointed part.
func compareTenant(tenant string, cps []signedCheckpoint, witness []witnessLeaf, log []leafRow) ([]Finding, error) {
	if len(cps) == 0 {
		return nil, nil
	}
	var out []Finding
	// The signed roots decide.
	rng := EmptyRange()
	rootsOK, i := true, 0
	for _, cp := range cps {
		for ; uint64(i) < cp.size && i < len(log); i++ {
			if err := rng.Append(log[i].hash[:], nil); err != nil {
				return nil, err
			}
		}
		if rng.End() < cp.size {
			rootsOK = false
			out = append(out, Finding{Kind: BadRoot, Tenant: tenant,
				Detail: fmt.Sprintf("checkpoint at size %d: the log has only %d events of the tenant", cp.size, rng.End())})
			break
		}
		root, err := RootOfRange(rng)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(root, cp.root) {
			rootsOK = false
			out = append(out, Finding{Kind: BadRoot, Tenant: tenant,
				Detail: fmt.Sprintf("checkpoint at size %d: its root is not the root of the log's first %d events", cp.size, cp.size)})
		}
	}
	// The witness names the events; it must itself match the checkpoints.
	size := cps[len(cps)-1].size
	if !witnessMatches(witness, cps) {
		out = append(out, Finding{Kind: BadWitness, Tenant: tenant,
			Detail: fmt.Sprintf("the audit leaves recorded for the first %d events do not match the checkpoints: events cannot be named", size)})
		return out, nil
	}
	named := nameChanges(tenant, witness, log)
	if !rootsOK && len(named) == 0 {
		named = append(named, Finding{Kind: BadRoot, Tenant: tenant, Detail: "the log differs from its checkpoints, but no event could be named"})
	}
	return append(out, named...), nil
}

// witnessMatches tells whether the witness leaves hash to every
// checkpoint's root.
func witnessMatches(witness []witnessLeaf, cps []signedCheckpoint) bool {
	rng := EmptyRange()
	i := 0
	for _, cp := range cps {
		for ; uint64(i) < cp.size && i < len(witness); i++ {
			if rng.Append(witness[i].hash[:], nil) != nil {
				return false
			}
		}
		root, err := RootOfRange(rng)
		if rng.End() < cp.size || err != nil || !bytes.Equal(root, cp.root) {
			return false
		}
	}
	return true
}

// nameChanges compares the log with the checkpointed leaves: a leaf
// missing from the log was removed, one whose hash differs was changed; an
// event not checkpointed that comes before the last checkpointed event
// still in the log was inserted; of the events both hold, those outside a
// longest run in checkpointed order were reordered (one event moved is
// named alone, both of two swapped are named unless adjacent).
func nameChanges(tenant string, witness []witnessLeaf, log []leafRow) []Finding {
	inLog := make(map[uuid.UUID]*leafRow, len(log))
	for i := range log {
		inLog[log[i].id] = &log[i]
	}
	inWitness := make(map[uuid.UUID]int, len(witness))
	var out []Finding
	for i, w := range witness {
		inWitness[w.id] = i
		r, ok := inLog[w.id]
		switch {
		case !ok:
			out = append(out, Finding{Kind: Removed, Tenant: tenant, EventID: w.id, Detail: fmt.Sprintf("leaf %d is no longer in the log", i)})
		case r.hash != w.hash:
			out = append(out, Finding{Kind: Changed, Tenant: tenant, EventID: w.id, Position: r.position,
				Detail: fmt.Sprintf("leaf %d: the event is not as checkpointed", i)})
		}
	}
	// The leaf indices of the events both hold, in log order.
	var seq []int
	lastCommon := -1
	for i := range log {
		if leaf, ok := inWitness[log[i].id]; ok {
			seq = append(seq, leaf)
			lastCommon = i
		}
	}
	inOrder := longestIncreasing(seq)
	c := 0
	for i := range log {
		r := &log[i]
		leaf, ok := inWitness[r.id]
		switch {
		case ok && !inOrder[c]:
			out = append(out, Finding{Kind: Reordered, Tenant: tenant, EventID: r.id, Position: r.position,
				Detail: fmt.Sprintf("leaf %d is out of its checkpointed order", leaf)})
		case !ok && i < lastCommon:
			out = append(out, Finding{Kind: Inserted, Tenant: tenant, EventID: r.id, Position: r.position,
				Detail: "not checkpointed, yet before checkpointed events"})
		}
		if ok {
			c++
		}
	}
	return out
}

// longestIncreasing marks the elements of a longest increasing
// subsequence of seq (patience sorting, O(n log n)).
func longestIncreasing(seq []int) []bool {
	var tails []int // tails[k]: the index in seq ending a run of length k+1
	prev := make([]int, len(seq))
	for i, v := range seq {
		k := sort.Search(len(tails), func(j int) bool { return seq[tails[j]] >= v })
		prev[i] = -1
		if k > 0 {
			prev[i] = tails[k-1]
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	keep := make([]bool, len(seq))
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			keep[i] = true
		}
	}
	return keep
}
