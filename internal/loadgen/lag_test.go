package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const sampleMetrics = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP ledger_projection_lag_events Events in the log after the projection's checkpoint, counted up to 1000000.
# TYPE ledger_projection_lag_events gauge
ledger_projection_lag_events{projection="audit"} 120
ledger_projection_lag_events{projection="subscriptions"} 0
# HELP ledger_projection_lag_seconds Age of the first event after the projection's checkpoint; 0 when caught up.
# TYPE ledger_projection_lag_seconds gauge
ledger_projection_lag_seconds{projection="audit"} 0.25
ledger_projection_lag_seconds{projection="subscriptions"} 0
# HELP ledger_projection_lag_up 1 when this scrape read the projections' lag from Postgres, else 0.
# TYPE ledger_projection_lag_up gauge
ledger_projection_lag_up 1
`

func TestParseLag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		text    string
		want    map[string]LagPoint
		wantErr bool
	}{
		{"gauges", sampleMetrics, map[string]LagPoint{"audit": {Seconds: 0.25, Events: 120}, "subscriptions": {}}, false},
		{"untyped, one gauge only", "ledger_projection_lag_seconds{projection=\"usage\"} 1.5\n",
			map[string]LagPoint{"usage": {Seconds: 1.5}}, false},
		{"none", "# TYPE go_goroutines gauge\ngo_goroutines 3\n", map[string]LagPoint{}, false},
		{"empty", "", map[string]LagPoint{}, false},
		{"garbage", "ledger_projection_lag_seconds{projection=\"usage\" 1.5\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLag(strings.NewReader(tc.text))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseLag = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseLag = %v, want %v", got, tc.want)
			}
			for name, w := range tc.want {
				if got[name] != w {
					t.Errorf("%s: %+v, want %+v", name, got[name], w)
				}
			}
		})
	}
}

func TestLagSamplerKeepsMaxAndLast(t *testing.T) {
	t.Parallel()
	pages := []string{
		"ledger_projection_lag_seconds{projection=\"audit\"} 0.5\nledger_projection_lag_events{projection=\"audit\"} 40\n",
		"ledger_projection_lag_seconds{projection=\"audit\"} 2\nledger_projection_lag_events{projection=\"audit\"} 10\n",
		"not a metric {\n",
		"ledger_projection_lag_seconds{projection=\"audit\"} 0.1\nledger_projection_lag_events{projection=\"audit\"} 3\n",
	}
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(pages[i]))
		i++
	}))
	defer srv.Close()
	s := newLagSampler(newAPI(Config{URL: srv.URL, Clients: 1, Timeout: defaultTestTimeout}))
	for range pages {
		s.sample(t.Context())
	}
	got := s.summary()
	want := ProjectionLag{MaxSeconds: 2, LastSeconds: 0.1, MaxEvents: 40, LastEvents: 3}
	if got.Samples != 3 || got.FailedSamples != 1 || got.LastError == "" || got.Projections["audit"] != want {
		t.Errorf("summary %+v, want 3 samples, 1 failed with its error, audit %+v", got, want)
	}
}
