package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the outcome of a run, as printed with --json.
type Summary struct {
	URL            string               `json:"url"`
	Clients        int                  `json:"clients"`
	Mix            map[string]int       `json:"mix"`
	Accounts       int                  `json:"accounts"`
	Pool           int                  `json:"subscriptions_per_client"`
	WarmupSeconds  float64              `json:"warmup_seconds"`
	ElapsedSeconds float64              `json:"elapsed_seconds"`
	Setup          SetupSummary         `json:"setup"`
	Operations     map[string]OpSummary `json:"operations"`
	Overall        OpSummary            `json:"overall"`
	ProjectionLag  LagSummary           `json:"projection_lag"`
	ReadYourWrites RYWSummary           `json:"read_your_writes"`
	// Aborted says why the run stopped early, when it did.
	Aborted string `json:"aborted,omitempty"`
}

// SetupSummary is what setup made, and how long it took. Subscriptions
// counts the hot one, whose id HotSubscription is when the mix has hot.
type SetupSummary struct {
	Seconds         float64 `json:"seconds"`
	Accounts        int     `json:"accounts"`
	Subscriptions   int     `json:"subscriptions"`
	HotSubscription string  `json:"hot_subscription,omitempty"`
}

// OpSummary is the measured outcome of one operation, or of all.
// Latencies are of the requests that got a response, whatever its status.
type OpSummary struct {
	Requests          int64        `json:"requests"`
	OK                int64        `json:"ok"`
	Errors            []ErrorCount `json:"errors"`
	RequestsPerSecond float64      `json:"requests_per_second"`
	OKPerSecond       float64      `json:"ok_per_second"`
	LatencyMS         Latency      `json:"latency_ms"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ErrorCount counts the failures of one kind: a status and its problem
// code, or status 0 and the class of a request that got no response
// (timeout, connection_refused, connection_reset, transport).
type ErrorCount struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Count   int64  `json:"count"`
	Example string `json:"example,omitempty"`
}

// LagSummary is what the scrapes of GET /metrics saw of the projections'
// lag during the measured run.
type LagSummary struct {
	Samples       int                      `json:"samples"`
	FailedSamples int                      `json:"failed_samples"`
	LastError     string                   `json:"last_error,omitempty"`
	Projections   map[string]ProjectionLag `json:"projections"`
}

// ProjectionLag is one projection's largest and last lag.
type ProjectionLag struct {
	MaxSeconds  float64 `json:"max_seconds"`
	LastSeconds float64 `json:"last_seconds"`
	MaxEvents   int64   `json:"max_events"`
	LastEvents  int64   `json:"last_events"`
}

// RYWSummary is the read-your-writes outcome: reads sent with
// Ledger-Min-Position, and how many of them got 503 projection_lag.
type RYWSummary struct {
	Reads                 int64 `json:"reads_with_min_position"`
	ProjectionLag         int64 `json:"projection_lag_503"`
	WritesWithoutPosition int64 `json:"writes_without_position"`
}

// opSummary summarizes m over elapsed.
func opSummary(m *merged, elapsed time.Duration) OpSummary {
	secs := max(elapsed.Seconds(), 1e-9)
	s := OpSummary{Requests: m.requests(), OK: m.ok, Errors: []ErrorCount{}}
	s.RequestsPerSecond = round(float64(s.Requests)/secs, 1)
	s.OKPerSecond = round(float64(s.OK)/secs, 1)
	for k, t := range m.errors {
		s.Errors = append(s.Errors, ErrorCount{Status: k.status, Code: k.code, Count: t.count, Example: t.example})
	}
	slices.SortFunc(s.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Status, b.Status), strings.Compare(a.Code, b.Code))
	})
	if n := len(m.latencies); n > 0 {
		s.LatencyMS = Latency{P50: ms(Percentile(m.latencies, 50)), P90: ms(Percentile(m.latencies, 90)),
			P99: ms(Percentile(m.latencies, 99)), Max: ms(m.latencies[n-1])}
	}
	return s
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(x*p) / p
}

// fillResults sets the measured figures of s from the workers' records.
func (s *Summary) fillResults(recs []*recorder, elapsed time.Duration) {
	byOp, all := mergeRecorders(recs)
	s.ElapsedSeconds = round(elapsed.Seconds(), 3)
	s.Operations = make(map[string]OpSummary, numOps)
	for o := range byOp {
		s.Operations[Op(o).String()] = opSummary(&byOp[o], elapsed)
	}
	s.Overall = opSummary(&all, elapsed)
	for _, r := range recs {
		s.ReadYourWrites.Reads += r.readsMinPos
		s.ReadYourWrites.ProjectionLag += r.readsLagged
		s.ReadYourWrites.WritesWithoutPosition += r.noPosition
	}
}

// WriteJSON writes s as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes s as tables for people.
func (s *Summary) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s: %d clients, %.1fs measured after %.1fs warmup, mix %s\n",
		s.URL, s.Clients, s.ElapsedSeconds, s.WarmupSeconds, mixText(s.Mix))
	fmt.Fprintf(b, "setup: 1 product, %d accounts, %d subscriptions in %.2fs\n",
		s.Setup.Accounts, s.Setup.Subscriptions, s.Setup.Seconds)
	if s.Aborted != "" {
		fmt.Fprintf(b, "ABORTED: %s\n", s.Aborted)
	}
	b.WriteString("\n")
	s.writeOps(b)
	s.writeErrors(b)
	s.writeLag(b)
	fmt.Fprintf(b, "\nread-your-writes: %d reads with Ledger-Min-Position, %d got 503 projection_lag",
		s.ReadYourWrites.Reads, s.ReadYourWrites.ProjectionLag)
	if n := s.ReadYourWrites.WritesWithoutPosition; n > 0 {
		fmt.Fprintf(b, "; %d successful writes had no Ledger-Position", n)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func mixText(m map[string]int) string {
	var parts []string
	for o := range numOps {
		if w := m[o.String()]; w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", o, w))
		}
	}
	return strings.Join(parts, ",")
}

func (s *Summary) writeOps(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op    \trequests\tok\terrors\treq/s\tok/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	row := func(name string, o OpSummary) {
		fmt.Fprintf(tw, "%-6s\t%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, o.Requests, o.OK, o.Requests-o.OK,
			o.RequestsPerSecond, o.OKPerSecond, o.LatencyMS.P50, o.LatencyMS.P90, o.LatencyMS.P99, o.LatencyMS.Max)
	}
	for o := range numOps {
		if op, ok := s.Operations[o.String()]; ok && (op.Requests > 0 || s.Mix[o.String()] > 0) {
			row(o.String(), op)
		}
	}
	row("all", s.Overall)
	tw.Flush()
}

func (s *Summary) writeErrors(w io.Writer) {
	var lines []string
	for o := range numOps {
		for _, e := range s.Operations[o.String()].Errors {
			status := fmt.Sprint(e.Status)
			if e.Status == 0 {
				status = "no response"
			}
			lines = append(lines, fmt.Sprintf("  %-6s %-11s %-28s %8d  %s", o, status, cmp.Or(e.Code, "-"), e.Count, e.Example))
		}
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "\nerrors: none")
		return
	}
	fmt.Fprintln(w, "\nerrors (operation, status, problem code, count, first detail):")
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

func (s *Summary) writeLag(w io.Writer) {
	l := s.ProjectionLag
	fmt.Fprintf(w, "\nprojection lag from GET /metrics: %d samples, %d failed", l.Samples, l.FailedSamples)
	if l.LastError != "" {
		fmt.Fprintf(w, " (last: %s)", l.LastError)
	}
	fmt.Fprintln(w)
	if len(l.Projections) == 0 {
		fmt.Fprintln(w, "  no ledger_projection_lag_* gauges seen")
		return
	}
	names := make([]string, 0, len(l.Projections))
	for n := range l.Projections {
		names = append(names, n)
	}
	slices.Sort(names)
	width := len("projection")
	for _, n := range names {
		width = max(width, len(n))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tmax s\tlast s\tmax events\tlast events\t\n", width, "projection")
	for _, n := range names {
		p := l.Projections[n]
		fmt.Fprintf(tw, "%-*s\t%.3f\t%.3f\t%d\t%d\t\n", width, n, p.MaxSeconds, p.LastSeconds, p.MaxEvents, p.LastEvents)
	}
	tw.Flush()
}
