package loadgen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeLedger serves the few routes of the API the load uses, minimally,
// and counts what it answered, so that a test can compare the load's
// record with it.
type fakeLedger struct {
	t      *testing.T
	key    string
	tenant string
	delay  time.Duration
	// conflictEvery makes every n-th amendment a 409; lagEvery every n-th
	// read a 503 projection_lag.
	conflictEvery, lagEvery int

	mu        sync.Mutex
	position  int64
	seats     map[string]*int           // subscription id → its seat quantity
	accountOf map[string]string         // subscription id → its account id
	amended   map[string]map[string]int // subscription id → client address → amendments applied
	repeats   map[string]int            // subscription id → amendments to the quantity it had
	reads     map[string]int            // subscription id → reads answered 200
	lastRead  readSeen                  // the last read's subscription and Ledger-Min-Position
	answered  map[string]int            // "route status" → count
	anomalies []string
	dead      bool
}

// readSeen is a read the fake was sent.
type readSeen struct {
	sub    string
	minPos int64
}

func newFakeLedger(t *testing.T) *fakeLedger {
	t.Helper()
	return &fakeLedger{t: t, key: "lk_test", tenant: uuid.NewString(), delay: time.Millisecond,
		conflictEvery: 5, lagEvery: 4, seats: map[string]*int{}, accountOf: map[string]string{}, amended: map[string]map[string]int{},
		repeats: map[string]int{}, reads: map[string]int{}, answered: map[string]int{}}
}

func (f *fakeLedger) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /metrics", f.metrics)
	api := map[string]func(http.ResponseWriter, *http.Request) int{
		"POST /v1/tenants/{t}/products":                     f.product,
		"POST /v1/tenants/{t}/accounts":                     f.account,
		"POST /v1/tenants/{t}/subscriptions":                f.subscribe,
		"POST /v1/tenants/{t}/subscriptions/{s}/amendments": f.amend,
		"POST /v1/tenants/{t}/usage":                        f.usage,
		"GET /v1/tenants/{t}/subscriptions/{s}":             f.read,
	}
	for pattern, h := range api {
		mux.HandleFunc(pattern, f.guard(pattern, h))
	}
	return mux
}

// guard checks what every API request must carry, then counts the reply.
func (f *fakeLedger) guard(route string, h func(http.ResponseWriter, *http.Request) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(f.delay)
		f.mu.Lock()
		dead := f.dead
		f.mu.Unlock()
		if dead {
			hijackAndClose(w)
			return
		}
		var status int
		switch {
		case r.Header.Get("Authorization") != "Bearer "+f.key:
			status = problem(w, 401, "unauthenticated", "unknown key")
		case r.PathValue("t") != f.tenant:
			status = problem(w, 404, "not_found", "no such tenant")
		default:
			if r.Header.Get("X-Request-ID") == "" {
				f.anomaly("no X-Request-ID on " + route)
			}
			status = h(w, r)
		}
		f.mu.Lock()
		f.answered[fmt.Sprintf("%s %d", route, status)]++
		f.mu.Unlock()
	}
}

func hijackAndClose(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
	}
}

func (f *fakeLedger) anomaly(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.anomalies = append(f.anomalies, s)
}

func (f *fakeLedger) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answered[key]
}

// written advances the log and returns the new position.
func (f *fakeLedger) written(w http.ResponseWriter) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.position += 3
	w.Header().Set("Ledger-Position", strconv.FormatInt(f.position, 10))
	return f.position
}

func (f *fakeLedger) metrics(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	pos := f.position
	f.mu.Unlock()
	fmt.Fprintf(w, "# TYPE ledger_projection_lag_events gauge\nledger_projection_lag_events{projection=\"audit\"} %d\n", pos%7)
	fmt.Fprintf(w, "# TYPE ledger_projection_lag_seconds gauge\nledger_projection_lag_seconds{projection=\"audit\"} 0.125\n")
	fmt.Fprintf(w, "ledger_projection_lag_seconds{projection=\"subscriptions\"} 0\n")
}

func (f *fakeLedger) product(w http.ResponseWriter, r *http.Request) int {
	var in struct {
		Charges []struct {
			Type     string `json:"type"`
			Currency string `json:"currency"`
		} `json:"charges"`
	}
	if !decode(w, r, &in) || len(in.Charges) != 2 || in.Charges[0].Currency != "USD" {
		return problem(w, 400, "validation_failed", "bad product")
	}
	f.written(w)
	charges := []map[string]string{{"id": uuid.NewString(), "type": in.Charges[0].Type}, {"id": uuid.NewString(), "type": in.Charges[1].Type}}
	return writeJSON(w, 201, map[string]any{"id": uuid.NewString(), "charges": charges})
}

func (f *fakeLedger) account(w http.ResponseWriter, r *http.Request) int {
	var in map[string]any
	if !decode(w, r, &in) || in["currency"] != "USD" {
		return problem(w, 400, "validation_failed", "bad account")
	}
	f.written(w)
	return writeJSON(w, 201, map[string]any{"id": uuid.NewString()})
}

func (f *fakeLedger) subscribe(w http.ResponseWriter, r *http.Request) int {
	var in struct {
		AccountID string `json:"account_id"`
		Items     []struct {
			ChargeID string `json:"charge_id"`
			Quantity int    `json:"quantity"`
		} `json:"items"`
	}
	if !decode(w, r, &in) || len(in.Items) != 2 {
		return problem(w, 400, "validation_failed", "bad subscription")
	}
	id, seat, one := uuid.NewString(), uuid.NewString(), 1
	f.mu.Lock()
	f.seats[id+"/"+seat] = &one
	f.accountOf[id] = in.AccountID
	f.mu.Unlock()
	f.written(w)
	items := []map[string]any{{"id": seat, "charge_id": in.Items[0].ChargeID}, {"id": uuid.NewString(), "charge_id": in.Items[1].ChargeID}}
	return writeJSON(w, 201, map[string]any{"id": id, "items": items})
}

func (f *fakeLedger) amend(w http.ResponseWriter, r *http.Request) int {
	var in struct {
		Changes []struct {
			Type     string `json:"type"`
			ItemID   string `json:"item_id"`
			Quantity int    `json:"quantity"`
		} `json:"changes"`
	}
	if !decode(w, r, &in) || len(in.Changes) != 1 || in.Changes[0].Type != "change_quantity" || r.Header.Get("If-Match") != "" {
		return problem(w, 400, "validation_failed", "bad amendment")
	}
	sub, q := r.PathValue("s"), in.Changes[0].Quantity
	f.mu.Lock()
	seat := f.seats[sub+"/"+in.Changes[0].ItemID]
	n := f.answered["POST /v1/tenants/{t}/subscriptions/{s}/amendments 200"] + f.answered["POST /v1/tenants/{t}/subscriptions/{s}/amendments 409"]
	f.mu.Unlock()
	switch {
	case seat == nil:
		return problem(w, 422, "unknown_item", "no such item")
	case (n+1)%f.conflictEvery == 0:
		return problem(w, 409, "conflict", "a concurrent change")
	case q != 1 && q != 2:
		f.anomaly(fmt.Sprintf("amendment to quantity %d", q))
	}
	f.mu.Lock()
	if q == *seat {
		f.repeats[sub]++
	}
	*seat = q
	if f.amended[sub] == nil {
		f.amended[sub] = map[string]int{}
	}
	f.amended[sub][r.RemoteAddr]++ // each client keeps a connection of its own
	f.mu.Unlock()
	f.written(w)
	return writeJSON(w, 200, map[string]any{"id": sub})
}

func (f *fakeLedger) usage(w http.ResponseWriter, r *http.Request) int {
	var in struct {
		Records []struct {
			ID       string `json:"id"`
			Quantity string `json:"quantity"`
		} `json:"records"`
	}
	if !decode(w, r, &in) || len(in.Records) == 0 || in.Records[0].Quantity == "" {
		return problem(w, 400, "validation_failed", "bad usage")
	}
	f.written(w)
	return writeJSON(w, 200, map[string]int{"accepted": len(in.Records), "duplicates": 0})
}

func (f *fakeLedger) read(w http.ResponseWriter, r *http.Request) int {
	minPos, err := strconv.ParseInt(r.Header.Get("Ledger-Min-Position"), 10, 64)
	sub := r.PathValue("s")
	f.mu.Lock()
	n := f.answered["GET /v1/tenants/{t}/subscriptions/{s} 200"] + f.answered["GET /v1/tenants/{t}/subscriptions/{s} 503"]
	beyond := minPos > f.position
	f.lastRead = readSeen{sub: sub, minPos: minPos}
	f.mu.Unlock()
	switch {
	case err != nil || beyond:
		f.anomaly("read without a valid Ledger-Min-Position")
		return problem(w, 400, "bad_request", "Ledger-Min-Position")
	case (n+1)%f.lagEvery == 0:
		w.Header().Set("Retry-After", "1")
		return problem(w, 503, "projection_lag", "the read model is behind")
	}
	f.mu.Lock()
	f.reads[sub]++
	f.mu.Unlock()
	return writeJSON(w, 200, map[string]any{"id": sub})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Header.Get("Content-Type") != "application/json" {
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	return dec.Decode(v) == nil
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func problem(w http.ResponseWriter, status int, code, detail string) int {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "urn:ledger:problem:" + code, "title": http.StatusText(status),
		"status": status, "code": code, "detail": detail})
	return status
}
