package pgresolve

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

var (
	errRefused = errors.New("connection refused")
	errInitdb  = errors.New("initdb: could not create directory")
	errAuth    = errors.New("password authentication failed")
)

// fakeResolver returns a Resolver whose backends succeed unless given an
// error, and records which were called with which database name.
func fakeResolver(t *testing.T, url string, urlErr, localErr, embeddedErr error) (*Resolver, *[]string) {
	t.Helper()
	var calls []string
	backend := func(name string, err error) (*DB, error) {
		calls = append(calls, name)
		if err != nil {
			return nil, err
		}
		return &DB{Source: name}, nil
	}
	r := &Resolver{
		DatabaseURL: url,
		DataDir:     "/srv/ledger",
		ConnectURL: func(_ context.Context, s string) (*DB, error) {
			return backend("url "+s, urlErr)
		},
		ConnectLocal: func(_ context.Context, db string) (*DB, error) {
			if localErr != nil {
				localErr = &probeError{addr: "/var/run/postgresql:5432", err: localErr}
			}
			return backend("local "+db, localErr)
		},
		StartEmbedded: func(_ context.Context, dir, db string) (*DB, error) {
			return backend("embedded "+dir+" "+db, embeddedErr)
		},
	}
	return r, &calls
}

func TestResolveOrder(t *testing.T) {
	t.Parallel()
	const url = "postgres://u@db:5432/ledger"
	tests := []struct {
		name                          string
		url                           string
		urlErr, localErr, embeddedErr error
		wantSource                    string
		wantCalls                     []string
	}{
		{
			name: "url wins even when local answers", url: url,
			wantSource: "url " + url, wantCalls: []string{"url " + url},
		},
		{
			name: "url wins even with nothing local", url: url, localErr: errRefused,
			wantSource: "url " + url, wantCalls: []string{"url " + url},
		},
		{
			name:       "local when no url",
			wantSource: "local ledger", wantCalls: []string{"local ledger"},
		},
		{
			name: "embedded when local is down", localErr: errRefused,
			wantSource: "embedded /srv/ledger ledger", wantCalls: []string{"local ledger", "embedded /srv/ledger ledger"},
		},
		{
			name: "embedded when local refuses us", localErr: errAuth,
			wantSource: "embedded /srv/ledger ledger", wantCalls: []string{"local ledger", "embedded /srv/ledger ledger"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, calls := fakeResolver(t, tt.url, tt.urlErr, tt.localErr, tt.embeddedErr)
			db, err := r.Resolve(context.Background())
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if db.Source != tt.wantSource {
				t.Errorf("Source = %q, want %q", db.Source, tt.wantSource)
			}
			if !slices.Equal(*calls, tt.wantCalls) {
				t.Errorf("calls = %q, want %q", *calls, tt.wantCalls)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		url                           string
		urlErr, localErr, embeddedErr error
		wantIs                        []error
		wantText                      []string
		wantCalls                     []string
	}{
		{
			name: "failing url has no fallback", url: "postgres://u@db/ledger", urlErr: errRefused,
			wantIs:    []error{errRefused},
			wantText:  []string{"LEDGER_DATABASE_URL: connection refused"},
			wantCalls: []string{"url postgres://u@db/ledger"},
		},
		{
			name: "embedded fails", localErr: errRefused, embeddedErr: errInitdb,
			wantIs: []error{ErrNoDatabase, errRefused, errInitdb},
			wantText: []string{
				"no local Postgres answered at /var/run/postgresql:5432 (connection refused)",
				"the embedded Postgres in /srv/ledger failed to start (initdb: could not create directory)",
				"set LEDGER_DATABASE_URL=postgres://user@host:5432/ledger",
			},
			wantCalls: []string{"local ledger", "embedded /srv/ledger ledger"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, calls := fakeResolver(t, tt.url, tt.urlErr, tt.localErr, tt.embeddedErr)
			db, err := r.Resolve(context.Background())
			if err == nil {
				t.Fatalf("Resolve = %q, want an error", db.Source)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %q", err, target)
				}
			}
			for _, text := range tt.wantText {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("error %q does not contain %q", err, text)
				}
			}
			if !slices.Equal(*calls, tt.wantCalls) {
				t.Errorf("calls = %q, want %q", *calls, tt.wantCalls)
			}
		})
	}
}

func TestResolveUsesDBName(t *testing.T) {
	t.Parallel()
	r, calls := fakeResolver(t, "", nil, errRefused, nil)
	r.DBName = "ledger_test"
	if _, err := r.Resolve(context.Background()); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := []string{"local ledger_test", "embedded /srv/ledger ledger_test"}
	if !slices.Equal(*calls, want) {
		t.Errorf("calls = %q, want %q", *calls, want)
	}
}

func TestResolveStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	r, calls := fakeResolver(t, "", nil, context.Canceled, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Resolve(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoDatabase) {
		t.Errorf("Resolve error = %v, want context.Canceled alone", err)
	}
	if want := []string{"local ledger"}; !slices.Equal(*calls, want) {
		t.Errorf("calls = %q, want %q", *calls, want)
	}
}

func TestDBCloseStopsServer(t *testing.T) {
	t.Parallel()
	stopped := false
	db := &DB{stop: func() error { stopped = true; return nil }}
	if err := db.Close(); err != nil || !stopped {
		t.Errorf("Close = %v, stopped = %v; want nil, true", err, stopped)
	}
}
