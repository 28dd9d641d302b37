package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/commands"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
)

// bootstrapped is what "ledger tenant|partner create --json" printed.
type bootstrapped struct {
	ID, AdminUserID uuid.UUID
	AdminKey        string
}

// runBootstrap runs "ledger NOUN create --name NAME --json" against the
// database of env and checks that it printed exactly api.md's JSON: the
// new id under idField, admin_user_id and admin_key, ids as UUIDs and the
// key starting lk_, which the logs never show.
func runBootstrap(t *testing.T, env []string, noun, name string) bootstrapped {
	t.Helper()
	cmd, stdout, stderr := ledgerCmd(t, env, noun, "create", "--name", name, "--json")
	if err := cmd.Run(); err != nil {
		t.Fatalf("ledger %s create: %v; stderr:\n%s", noun, err, stderr)
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("ledger %s create --json printed %q, want one line of JSON", noun, out)
	}
	var fields map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &fields); err != nil {
		t.Fatalf("ledger %s create --json printed %q: %v", noun, out, err)
	}
	idField := noun + "_id"
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"admin_key", "admin_user_id", idField}; !slices.Equal(keys, want) {
		t.Fatalf("ledger %s create --json printed the keys %v, want exactly %v", noun, keys, want)
	}
	var b bootstrapped
	var errID, errUser error
	b.ID, errID = uuid.Parse(fields[idField])
	b.AdminUserID, errUser = uuid.Parse(fields["admin_user_id"])
	if err := errors.Join(errID, errUser); err != nil {
		t.Fatalf("ledger %s create --json printed %q: ids must be UUIDs: %v", noun, out, err)
	}
	b.AdminKey = fields["admin_key"]
	if !strings.HasPrefix(b.AdminKey, "lk_") || len(b.AdminKey) < 40 {
		t.Errorf("admin_key %q: want an opaque key starting lk_", b.AdminKey)
	}
	if strings.Contains(stderr.String(), b.AdminKey) {
		t.Errorf("the logs of ledger %s create show the admin key:\n%s", noun, stderr)
	}
	return b
}

// readStream returns the events of stream in the database at dbURL.
func readStream(t *testing.T, dbURL, stream string) []eventstore.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer pool.Close()
	store := postgres.New(pool)
	defer store.Close()
	events, err := store.ReadStream(ctx, stream, 0, 100)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return events
}

// checkBootstrapStream asserts that the stream of a new tenant or partner
// holds its creation and its admin, with the key's hash and nothing else,
// both by the operator.
func checkBootstrapStream(t *testing.T, events []eventstore.Event, noun, name string, b bootstrapped) {
	t.Helper()
	prefix := map[string]string{"tenant": "Tenant", "partner": "Partner"}[noun]
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
		if e.Metadata.Actor.Type != "operator" || e.Metadata.RequestID == "" {
			t.Errorf("%s by %+v with request id %q, want the operator and a request id", e.Type, e.Metadata.Actor, e.Metadata.RequestID)
		}
	}
	if want := []string{prefix + "Created", prefix + "UserAdded"}; !slices.Equal(types, want) {
		t.Fatalf("the %s's stream holds %v, want %v", noun, types, want)
	}
	var created map[string]any
	var admin struct {
		UserID  uuid.UUID `json:"user_id"`
		Role    string    `json:"role"`
		KeyHash string    `json:"key_hash"`
	}
	if err := errors.Join(json.Unmarshal(events[0].Data, &created), json.Unmarshal(events[1].Data, &admin)); err != nil {
		t.Fatalf("decode the %s's events: %v", noun, err)
	}
	if created[noun+"_id"] != b.ID.String() || created["name"] != name {
		t.Errorf("%sCreated = %v, want id %s and name %q", prefix, created, b.ID, name)
	}
	if admin.UserID != b.AdminUserID || admin.Role != noun+"_admin" || admin.KeyHash != commands.HashAPIKey(b.AdminKey) {
		t.Errorf("%sUserAdded = %+v, want user %s, role %s_admin and the printed key's hash", prefix, admin, b.AdminUserID, noun)
	}
}

func TestBootstrapJSON(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	env := []string{"LEDGER_DATABASE_URL=" + dbURL}
	tests := []struct {
		noun, name string
		stream     func(uuid.UUID) string
	}{
		{noun: "tenant", name: "Acme Cloud", stream: commands.TenantStream},
		{noun: "partner", name: "Northwind Resellers", stream: commands.PartnerStream},
	}
	for _, tt := range tests {
		t.Run(tt.noun, func(t *testing.T) {
			b := runBootstrap(t, env, tt.noun, tt.name)
			checkBootstrapStream(t, readStream(t, dbURL, tt.stream(b.ID)), tt.noun, tt.name, b)
			if again := runBootstrap(t, env, tt.noun, tt.name); again.ID == b.ID || again.AdminKey == b.AdminKey {
				t.Errorf("a second %s create reused the id or key of the first", tt.noun)
			}
		})
	}
}

func TestBootstrapText(t *testing.T) {
	t.Parallel()
	dbURL := freshDatabase(t)
	cmd, stdout, stderr := ledgerCmd(t, []string{"LEDGER_DATABASE_URL=" + dbURL}, "tenant", "create", "--name", "  Globex  ")
	if err := cmd.Run(); err != nil {
		t.Fatalf("ledger tenant create: %v; stderr:\n%s", err, stderr)
	}
	out := stdout.String()
	var b bootstrapped
	for line := range strings.Lines(out) {
		label, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch label {
		case "tenant id":
			b.ID, _ = uuid.Parse(strings.TrimSpace(value))
		case "admin user id":
			b.AdminUserID, _ = uuid.Parse(strings.TrimSpace(value))
		case "admin API key":
			b.AdminKey = strings.TrimSpace(value)
		}
	}
	if b.ID == uuid.Nil || b.AdminUserID == uuid.Nil || !strings.HasPrefix(b.AdminKey, "lk_") {
		t.Fatalf("ledger tenant create printed:\n%s\nwant the tenant id, the admin user id and the key", out)
	}
	if !strings.Contains(out, "will not be shown again") || !strings.HasPrefix(out, `Created tenant "Globex".`) {
		t.Errorf("ledger tenant create printed:\n%s\nwant the trimmed name and a warning that the key will not be shown again", out)
	}
	checkBootstrapStream(t, readStream(t, dbURL, commands.TenantStream(b.ID)), "tenant", "Globex", b)
}

func TestBootstrapNeedsAName(t *testing.T) {
	t.Parallel()
	// A database that does not answer: the name is checked before any
	// connection, so the error must be about the name.
	env := []string{"LEDGER_DATABASE_URL=postgres://root@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"tenant without --name", []string{"tenant", "create", "--json"}, "ledger: --name is required: the tenant's name"},
		{"tenant with a blank name", []string{"tenant", "create", "--name", "  "}, "ledger: --name is required: the tenant's name"},
		{"partner with an empty name", []string{"partner", "create", "--name=", "--json"}, "ledger: --name is required: the partner's name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, stdout, stderr := ledgerCmd(t, env, tt.args...)
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
				t.Fatalf("ledger %v = %v, want a non-zero exit", tt.args, err)
			}
			if got := strings.TrimSpace(stderr.String()); got != tt.want {
				t.Errorf("stderr = %q, want %q", got, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}
