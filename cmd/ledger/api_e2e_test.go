package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestAPIEndToEnd walks the product as its users would, through HTTP
// only, against the real binary: a tenant admin builds a catalog and
// accounts and grants a partner access to two of three accounts; the
// partner's users subscribe, amend, record usage and cancel within that
// scope and are refused outside it; the tenant revokes the grant; and the
// audit log, the MRR report, idempotency, If-Match, read-your-writes and
// the error shapes hold to shared/spec/api.md throughout.
//
// The steps share one scenario and run in order; a step whose
// prerequisites stopped short is skipped, naming them.
func TestAPIEndToEnd(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	runSteps(t, []step{
		{name: "catalog", run: s.buildCatalog},
		{name: "accounts", run: s.openAccounts},
		{name: "partner access", needs: []string{"accounts"}, run: s.grantPartner},
		{name: "partner users", needs: []string{"partner access"}, run: s.addPartnerUsers},
		{name: "operator subscribes", needs: []string{"catalog", "partner users"}, run: s.operatorSubscribes},
		{name: "amend with If-Match", needs: []string{"operator subscribes"}, run: s.amendWithIfMatch},
		{name: "viewer is read-only", needs: []string{"amend with If-Match"}, run: s.viewerIsReadOnly},
		{name: "third account out of scope", needs: []string{"catalog", "partner users"}, run: s.thirdAccountOutOfScope},
		{name: "usage", needs: []string{"operator subscribes"}, run: s.recordUsage},
		{name: "mrr report", needs: []string{"amend with If-Match", "third account out of scope"}, run: s.checkMRR},
		{name: "cancel at end of term", needs: []string{"operator subscribes"}, run: s.cancelAtEndOfTerm},
		{name: "as_of and history", needs: []string{"amend with If-Match"}, run: s.asOfAndHistory},
		{name: "deleted user's key", run: s.deletedUsersKey},
		{name: "revoke access", needs: []string{"partner users"}, run: s.revokeAccess},
		{name: "audit log of the partner", needs: []string{"operator subscribes", "amend with If-Match",
			"viewer is read-only", "third account out of scope", "usage", "cancel at end of term", "revoke access"}, run: s.partnerAuditLog},
		{name: "request id in the audit log", needs: []string{"accounts"}, run: s.requestIDInAudit},
		{name: "no cross-tenant visibility", needs: []string{"catalog", "operator subscribes"}, run: s.noCrossTenant},
		{name: "error shapes", needs: []string{"catalog", "accounts"}, run: s.errorShapes},
		{name: "projection lag", run: s.projectionLag},
		{name: "logs keep keys secret", run: s.logsKeepKeysSecret},
	})
}

// step is one step of a scenario, run after the steps it needs.
type step struct {
	name  string
	needs []string
	run   func(t *testing.T)
}

// runSteps runs steps in order as subtests. A step runs only when every
// step it needs completed, that is ran to its end, maybe with errors but
// without stopping: its results are there to build on. Otherwise it is
// skipped, naming what it lacks.
func runSteps(t *testing.T, steps []step) {
	t.Helper()
	completed := map[string]bool{}
	for _, st := range steps {
		var missing []string
		for _, need := range st.needs {
			if _, ran := completed[need]; !ran {
				t.Fatalf("step %q needs %q, which is not an earlier step", st.name, need)
			}
			if !completed[need] {
				missing = append(missing, need)
			}
		}
		done := false
		t.Run(st.name, func(t *testing.T) {
			if len(missing) > 0 {
				t.Skipf("needs %s, which did not complete", strings.Join(missing, ", "))
			}
			st.run(t)
			done = true
		})
		completed[st.name] = done
	}
}

// scenario is what the steps share: the server, the callers, and what
// earlier steps created.
type scenario struct {
	api    *apiClient
	server *server
	env    []string // for the command line, against the server's database

	start, today, termEnd string // start_date of the subscriptions; today; start + 12 months

	tenant, otherTenant string
	admin, otherAdmin   *caller

	partner                        string
	partnerAdmin, operator, viewer *caller
	grant                          grantJSON

	product   productJSON
	charge    map[string]chargeJSON // by a short name: seat, support, review, storage, setup
	accounts  [3]accountJSON        // A1 and A2 in the partner's scope, A3 not
	requestID string                // the X-Request-ID of A3's creation

	s1, s2, s3 subscriptionJSON // on A1 and A2 by the operator, on A3 by the tenant admin
	s1Position uint64
	asOf       string // an instant after S1's creation and before its amendment

	// expectAudit counts, by event type, what the partner's users did
	// and were refused: what the tenant's audit log must list for them.
	expectAudit map[string]int
	// keys are every API key issued; the server's logs must show none.
	keys []string
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	dbURL := freshDatabase(t)
	srv := startServer(t, dbURL)
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	s := &scenario{
		api: newAPIClient(srv.base), server: srv, env: []string{"LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=warn"},
		start: start.Format(time.DateOnly), today: now.Format(time.DateOnly), termEnd: start.AddDate(1, 0, 0).Format(time.DateOnly),
		charge: map[string]chargeJSON{}, expectAudit: map[string]int{},
	}
	a := runBootstrap(t, s.env, "tenant", "Acme Cloud")
	b := runBootstrap(t, s.env, "tenant", "Other Corp")
	s.tenant, s.otherTenant = a.ID.String(), b.ID.String()
	s.admin = s.tenantUser("tenant admin", a.AdminUserID.String(), a.AdminKey)
	s.otherAdmin = s.tenantUser("other tenant's admin", b.AdminUserID.String(), b.AdminKey)
	return s
}

func (s *scenario) tenantUser(name, id, key string) *caller {
	s.keys = append(s.keys, key)
	return &caller{api: s.api, name: name, key: key, actor: actorJSON{Type: "tenant_user", ID: str(id)}}
}

func (s *scenario) partnerUser(name, id, key string) *caller {
	s.keys = append(s.keys, key)
	return &caller{api: s.api, name: name, key: key, actor: actorJSON{Type: "partner_user", ID: str(id), PartnerID: str(s.partner)}}
}

// tp returns the path of the tenant's resource format.
func (s *scenario) tp(format string, args ...any) string {
	return "/v1/tenants/" + s.tenant + fmt.Sprintf(format, args...)
}

// wantActor checks an actor that a representation or event records.
func wantActor(t *testing.T, what string, got actorJSON, want *caller) {
	t.Helper()
	if !reflect.DeepEqual(got, want.actor) {
		t.Errorf("%s: actor {%s %s %s}, want %s {%s %s %s}", what, got.Type, deref(got.ID), deref(got.PartnerID),
			want.name, want.actor.Type, deref(want.actor.ID), deref(want.actor.PartnerID))
	}
}

func wantUUID(t *testing.T, what, id string) {
	t.Helper()
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("%s %q is not a UUID", what, id)
	}
}

func wantInstant(t *testing.T, what, instant string) {
	t.Helper()
	if _, err := time.Parse(time.RFC3339, instant); err != nil {
		t.Errorf("%s %q is not an RFC 3339 instant", what, instant)
	}
}

// ids returns the ids of items, sorted.
func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	slices.Sort(out)
	return out
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// server is a running "ledger serve".
type server struct {
	base    string
	cmd     *exec.Cmd
	exited  chan error
	stderr  *bytes.Buffer
	stopped bool
	logs    string
}

// startServer runs "ledger serve" on a free port against dbURL, logging
// every request, until stopped or the test ends.
func startServer(t *testing.T, dbURL string) *server {
	t.Helper()
	return startServerLogging(t, dbURL, "debug")
}

// startServerLogging runs "ledger serve" as startServer does, logging at
// level; when the test fails, it shows the server's last log lines, but
// for debug lines and the access log.
func startServerLogging(t *testing.T, dbURL, level string) *server {
	t.Helper()
	addr := freeAddr(t)
	env := []string{"LEDGER_HTTP_ADDR=" + addr, "LEDGER_DATABASE_URL=" + dbURL, "LEDGER_LOG_LEVEL=" + level, "LEDGER_TERM_INTERVAL=1s"}
	cmd, _, stderr := ledgerCmd(t, env, "serve")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ledger serve: %v", err)
	}
	srv := &server{base: "http://" + addr, cmd: cmd, exited: make(chan error, 1), stderr: stderr}
	go func() { srv.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		logs := srv.stop(t)
		if t.Failed() {
			var lines []string
			for line := range strings.Lines(logs) {
				if !strings.Contains(line, `"level":"DEBUG"`) && !strings.Contains(line, `"msg":"request",`) {
					lines = append(lines, line)
				}
			}
			t.Logf("the server's last log lines above debug, but the access log's:\n%s", strings.Join(lines[max(0, len(lines)-40):], ""))
		}
	})
	waitHealthy(t, srv.base+"/healthz", srv.exited, stderr)
	return srv
}

// stop ends the server with SIGTERM, as an operator would, and returns
// its logs. It fails the test if the server does not exit cleanly.
func (srv *server) stop(t *testing.T) string {
	t.Helper()
	if srv.stopped {
		return srv.logs
	}
	srv.stopped = true
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("send SIGTERM to ledger serve: %v", err)
	}
	select {
	case err := <-srv.exited:
		if err != nil {
			t.Errorf("ledger serve exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("ledger serve still running 20s after SIGTERM; killing it")
		srv.cmd.Process.Kill()
		<-srv.exited
	}
	srv.logs = srv.stderr.String()
	return srv.logs
}

func (s *scenario) logsKeepKeysSecret(t *testing.T) {
	logs := s.server.stop(t)
	checkLogs(t, logs, []string{"listening", "stopped"}, "s3cret-e2e")
	for _, key := range s.keys {
		if strings.Contains(logs, key) {
			t.Errorf("the server's logs show an API key (%s…)", key[:8])
		}
	}
}
