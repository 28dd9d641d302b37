package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// apiClient is the end-to-end tests' client of a running server. Like a
// client that wants read-your-writes, it remembers the highest
// Ledger-Position of the mutations it made and sends it as
// Ledger-Min-Position on every GET.
type apiClient struct {
	base string
	http *http.Client
	seen uint64
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

// caller is one user of the API: a name for messages, the actor that
// events record for it, and its key (none: no Authorization header).
type caller struct {
	api   *apiClient
	name  string
	actor actorJSON
	key   string
}

// reply is a response, read whole.
type reply struct {
	req    string
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request as c. A body of type []byte is sent as is, any other
// non-nil body as JSON. headers are name, value pairs set last (an empty
// value removes the header). Every response must carry X-Request-ID, and
// every successful mutation Ledger-Position.
//
// A GET that waited for the client's own Ledger-Min-Position and got 503
// projection_lag is retried as Retry-After asks, for up to a minute, as a
// patient client would: the read models of a busy database may lag by
// more than the 5 s a request waits.
func (c *caller) do(t *testing.T, method, path string, body any, headers ...string) *reply {
	t.Helper()
	var raw []byte
	if body != nil {
		var ok bool
		if raw, ok = body.([]byte); !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				t.Fatalf("encode the body of %s %s: %v", method, path, err)
			}
		}
	}
	ownMinPosition := method == http.MethodGet && c.api.seen > 0 && !slices.Contains(headers, "Ledger-Min-Position")
	deadline := time.Now().Add(time.Minute)
	for {
		r := c.send(t, method, path, raw, ownMinPosition, headers)
		if !ownMinPosition || r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			if method != http.MethodGet && r.Status/100 == 2 {
				c.api.seen = max(c.api.seen, r.position(t))
			}
			return r
		}
		wait, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || wait < 1 {
			wait = 1
		}
		t.Logf("%s: 503 %s; retrying in %ds", r.req, bytes.TrimSpace(r.Body), wait)
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

// send sends one request and reads its reply.
func (c *caller) send(t *testing.T, method, path string, body []byte, ownMinPosition bool, headers []string) *reply {
	t.Helper()
	var payload io.Reader
	if body != nil {
		payload = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.api.base+path, payload)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if ownMinPosition {
		req.Header.Set("Ledger-Min-Position", strconv.FormatUint(c.api.seen, 10))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := c.api.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s as %s: %v", method, path, c.name, err)
	}
	defer resp.Body.Close()
	r := &reply{req: fmt.Sprintf("%s %s as %s", method, path, c.name), Status: resp.StatusCode, Header: resp.Header}
	if r.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s: read the body: %v", r.req, err)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("%s: %d without X-Request-ID", r.req, r.Status)
	}
	return r
}

func (c *caller) get(t *testing.T, path string, headers ...string) *reply {
	t.Helper()
	return c.do(t, http.MethodGet, path, nil, headers...)
}

func (c *caller) post(t *testing.T, path string, body any, headers ...string) *reply {
	t.Helper()
	return c.do(t, http.MethodPost, path, body, headers...)
}

func (c *caller) put(t *testing.T, path string, body any, headers ...string) *reply {
	t.Helper()
	return c.do(t, http.MethodPut, path, body, headers...)
}

func (c *caller) delete(t *testing.T, path string, headers ...string) *reply {
	t.Helper()
	return c.do(t, http.MethodDelete, path, nil, headers...)
}

// want fails the test unless the status is status.
func (r *reply) want(t *testing.T, status int) *reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s = %d, want %d; body: %s", r.req, r.Status, status, r.Body)
	}
	return r
}

// decode checks that the reply is JSON and decodes it into v with exactly
// the keys of v's type (see decodeExact).
func (r *reply) decode(t *testing.T, v any) {
	t.Helper()
	if mt := mediaType(r.Header); mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r.req, mt)
	}
	decodeExact(t, r.req, r.Body, v)
}

// wantJSON checks the status and decodes the body into v.
func (r *reply) wantJSON(t *testing.T, status int, v any) *reply {
	t.Helper()
	r.want(t, status).decode(t, v)
	return r
}

// problem checks that the reply is the application/problem+json of status
// and code (any code when empty), and returns it.
func (r *reply) problem(t *testing.T, status int, code string) problemJSON {
	t.Helper()
	r.want(t, status)
	if mt := mediaType(r.Header); mt != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", r.req, mt)
	}
	var p problemJSON
	decodeExact(t, r.req, r.Body, &p)
	if code == "" {
		code = p.Code
	}
	if p.Type != "urn:ledger:problem:"+code || p.Code != code || p.Status != status || p.Title == "" {
		t.Errorf("%s: problem %+v, want type urn:ledger:problem:%s, code %s, status %d and a title", r.req, p, code, code, status)
	}
	return p
}

// position returns the reply's Ledger-Position, which must be a positive
// integer.
func (r *reply) position(t *testing.T) uint64 {
	t.Helper()
	raw := r.Header.Get("Ledger-Position")
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || n == 0 {
		t.Errorf("%s: Ledger-Position %q, want a positive integer", r.req, raw)
	}
	return n
}

// wantETag checks that the reply's ETag is the quoted version.
func (r *reply) wantETag(t *testing.T, version int) {
	t.Helper()
	if got, want := r.Header.Get("ETag"), fmt.Sprintf("%q", strconv.Itoa(version)); got != want {
		t.Errorf("%s: ETag %q, want %s", r.req, got, want)
	}
}

func mediaType(h http.Header) string {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return h.Get("Content-Type")
	}
	return mt
}

// decodeExact decodes body into v and fails the test when the JSON has a
// key that v's type lacks, or lacks one that it has, at any depth. A
// field tagged omitempty may be absent. Only a body that does not decode
// at all stops the test.
func decodeExact(t *testing.T, what string, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: decode %T: %v; body: %s", what, v, err, body)
	}
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	missing, extra := keyDiff(reflect.TypeOf(v), raw, "$")
	if len(missing) > 0 {
		t.Errorf("%s: the body lacks %s; body: %s", what, strings.Join(missing, ", "), body)
	}
	if len(extra) > 0 {
		t.Errorf("%s: the body has %s, which the contract does not; body: %s", what, strings.Join(extra, ", "), body)
	}
}

// jsonFields returns the fields of struct type typ as encoding/json sees
// them: those of an embedded struct without a tag stand for themselves.
func jsonFields(typ reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// keyDiff returns the paths of the keys that typ's JSON tags name and raw,
// decoded JSON of typ, lacks, and of those that raw has and typ lacks.
func keyDiff(typ reflect.Type, raw any, path string) (missing, extra []string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, nil
		}
		known := map[string]bool{}
		for _, f := range jsonFields(typ) {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			known[name] = true
			val, ok := obj[name]
			if !ok {
				if !strings.Contains(opts, "omitempty") {
					missing = append(missing, path+"."+name)
				}
				continue
			}
			m, e := keyDiff(f.Type, val, path+"."+name)
			missing, extra = append(missing, m...), append(extra, e...)
		}
		for name := range obj {
			if !known[name] {
				extra = append(extra, path+"."+name)
			}
		}
	case reflect.Slice:
		arr, _ := raw.([]any)
		for i, el := range arr {
			m, e := keyDiff(typ.Elem(), el, fmt.Sprintf("%s[%d]", path, i))
			missing, extra = append(missing, m...), append(extra, e...)
		}
	}
	slices.Sort(extra)
	return missing, extra
}
