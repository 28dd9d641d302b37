package loadgen

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// live counts a phase's requests as they complete, for the progress line.
type live struct {
	done   atomic.Int64
	failed atomic.Int64
}

// progress writes a phase's progress: one line that rewrites itself on a
// terminal, a plain line per tick otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	label    string
	counts   *live
	start    time.Time
	lastAt   time.Time
	lastDone int64
}

func newProgress(w io.Writer, terminal bool, label string, counts *live) *progress {
	now := time.Now()
	return &progress{w: w, terminal: terminal, label: label, counts: counts, start: now, lastAt: now}
}

// run writes a line every interval until ctx ends, then a last one.
func (p *progress) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.finish()
			return
		case now := <-tick.C:
			p.line(now, "")
		}
	}
}

// line writes the progress at now: elapsed time, requests done, the rate
// since the last line, and errors.
func (p *progress) line(now time.Time, note string) {
	done, failed := p.counts.done.Load(), p.counts.failed.Load()
	rate := float64(done-p.lastDone) / max(now.Sub(p.lastAt).Seconds(), 1e-9)
	p.lastAt, p.lastDone = now, done
	text := fmt.Sprintf("%-6s %6.1fs  %d requests  %.0f req/s%s  %d errors",
		p.label, now.Sub(p.start).Seconds(), done, rate, note, failed)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", text)
		return
	}
	fmt.Fprintln(p.w, text)
}

// finish writes the last line, with the phase's average rate.
func (p *progress) finish() {
	p.lastAt, p.lastDone = p.start, 0
	p.line(time.Now(), " average")
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}
