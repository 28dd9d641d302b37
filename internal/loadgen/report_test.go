package loadgen

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleSummary is a summary of a small run with an error of each kind.
func sampleSummary(t *testing.T) *Summary {
	t.Helper()
	r := &recorder{}
	for i := range 10 {
		r.add(result{op: OpAmend, reply: reply{status: 200, position: int64(i + 1), latency: time.Duration(i+1) * time.Millisecond}})
	}
	r.add(result{op: OpAmend, reply: reply{status: 409, code: "conflict", detail: "concurrent change", latency: time.Millisecond}})
	r.add(result{op: OpRead, minPos: true, reply: reply{status: 503, code: "projection_lag", latency: 5 * time.Second}})
	r.add(result{op: OpUsage, err: errTestRefused})
	r.add(result{op: OpHot, reply: reply{status: 409, code: "conflict", detail: "hot stream", latency: 2 * time.Millisecond}})
	s := &Summary{URL: "http://x", Clients: 2, Mix: DefaultMix.asMap(), Accounts: 1, Pool: 2}
	s.fillResults([]*recorder{r}, 2*time.Second)
	s.ProjectionLag = LagSummary{Samples: 2, Projections: map[string]ProjectionLag{"audit": {MaxSeconds: 1.5, MaxEvents: 9}}}
	return s
}

func TestSummaryJSONShape(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleSummary(t).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"accounts", "clients", "elapsed_seconds", "mix", "operations", "overall", "projection_lag",
		"read_your_writes", "setup", "subscriptions_per_client", "url", "warmup_seconds"}
	if got := sortedKeys(doc); !slices.Equal(got, wantKeys) {
		t.Errorf("top-level keys %v, want %v", got, wantKeys)
	}
	ops := doc["operations"].(map[string]any)
	if got := sortedKeys(ops); !slices.Equal(got, []string{"amend", "create", "hot", "read", "usage"}) {
		t.Errorf("operations %v", got)
	}
	amend := ops["amend"].(map[string]any)
	if got := sortedKeys(amend); !slices.Equal(got, []string{"errors", "latency_ms", "ok", "ok_per_second", "requests", "requests_per_second"}) {
		t.Errorf("operation keys %v", got)
	}
	lat := amend["latency_ms"].(map[string]any)
	if lat["p50"] != 5.0 || lat["p90"] != 9.0 || lat["p99"] != 10.0 || lat["max"] != 10.0 {
		t.Errorf("amend latency_ms %v, want p50 5, p90 9, p99 10, max 10", lat)
	}
	if amend["requests"] != 11.0 || amend["ok"] != 10.0 || amend["requests_per_second"] != 5.5 {
		t.Errorf("amend %v", amend)
	}
	wantErr := map[string]any{"status": 409.0, "code": "conflict", "count": 1.0, "example": "concurrent change"}
	if errs := amend["errors"].([]any); len(errs) != 1 || !equalJSON(errs[0], wantErr) {
		t.Errorf("amend errors %v, want [%v]", errs, wantErr)
	}
	if errs := ops["create"].(map[string]any)["errors"]; errs == nil {
		t.Error("errors of an operation without errors is null, want []")
	}
	hotErr := ops["hot"].(map[string]any)["errors"].([]any)[0].(map[string]any)
	if hotErr["status"] != 409.0 || hotErr["code"] != "conflict" || ops["hot"].(map[string]any)["requests"] != 1.0 {
		t.Errorf("hot %v, want one 409 conflict", ops["hot"])
	}
	if mix := doc["mix"].(map[string]any); mix["hot"] != 0.0 || len(mix) != int(numOps) {
		t.Errorf("mix %v, want every operation, hot at 0", mix)
	}
	usageErr := ops["usage"].(map[string]any)["errors"].([]any)[0].(map[string]any)
	if usageErr["status"] != 0.0 || usageErr["code"] != "connection_refused" {
		t.Errorf("usage error %v, want status 0 connection_refused", usageErr)
	}
	ryw := doc["read_your_writes"].(map[string]any)
	if ryw["reads_with_min_position"] != 1.0 || ryw["projection_lag_503"] != 1.0 {
		t.Errorf("read_your_writes %v", ryw)
	}
	audit := doc["projection_lag"].(map[string]any)["projections"].(map[string]any)["audit"].(map[string]any)
	if got := sortedKeys(audit); !slices.Equal(got, []string{"last_events", "last_seconds", "max_events", "max_seconds"}) {
		t.Errorf("projection lag keys %v", got)
	}
}

func TestSummaryText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleSummary(t).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"p99 ms", "amend", "409", "conflict", "no response", "connection_refused",
		"503", "projection_lag", "audit", "1 got 503 projection_lag", "hot stream"} {
		if !strings.Contains(out, want) {
			t.Errorf("text summary lacks %q:\n%s", want, out)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
