package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ledger/internal/pgtest"
)

// quickstartAPI is the line of the README's quickstart that names the
// server; the test puts its own server's address there, and changes
// nothing else.
const quickstartAPI = "api=http://localhost:8080"

// TestReadmeQuickstart runs the README's quickstart block, as written but
// for the server's address, with sh against a real server on a fresh
// database, and checks every answer against the abridged one in the
// comment below its command ("…" stands for anything).
func TestReadmeQuickstart(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("skipping the README quickstart: it needs curl, which is not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := quickstartBlock(t, string(readme))
	answers := quickstartAnswers(block)
	if len(answers) < 10 {
		t.Fatalf("the quickstart shows %d answers, want every step's", len(answers))
	}

	dbURL := pgtest.NewDatabaseURL(t)
	srv := startServerLogging(t, dbURL, "info")
	script := strings.Replace(block, quickstartAPI, "api="+srv.base, 1)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-ec", script)
	cmd.Dir = root // where the block runs go run ./cmd/ledger
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LEDGER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LEDGER_DATABASE_URL="+dbURL, "LEDGER_LOG_LEVEL=warn", "LEDGER_DATA_DIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the quickstart failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := nonEmptyLines(stdout.String())
	if len(lines) != len(answers) {
		t.Fatalf("the quickstart printed %d lines, the README shows %d answers:\n%s", len(lines), len(answers), stdout.String())
	}
	for i, want := range answers {
		if !abridgedMatch(want, lines[i]) {
			t.Errorf("answer %d:\n got: %s\nwant: %s", i+1, lines[i], want)
		}
	}
	checkQuickstartFacts(t, lines)
}

// quickstartBlock returns the README's sh block that starts with
// quickstartAPI.
func quickstartBlock(t *testing.T, readme string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "```sh\n"+quickstartAPI+"\n")
	if !ok {
		t.Fatalf("README.md has no sh block that starts with %q", quickstartAPI)
	}
	body, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("the README's quickstart block does not end")
	}
	return quickstartAPI + "\n" + body + "\n"
}

// quickstartAnswers returns the abridged answers: the comments that
// follow a command, or another answer, directly. A comment after a blank
// line, and the comments that continue it, explain.
func quickstartAnswers(block string) []string {
	var answers []string
	answering := false
	for line := range strings.Lines(block) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.TrimSpace(line) == "":
			answering = false
		case strings.HasPrefix(line, "# "):
			if answering {
				answers = append(answers, strings.TrimPrefix(line, "# "))
			}
		default:
			answering = true
		}
	}
	return answers
}

// abridgedMatch reports whether got is want with each "…" standing for
// any text.
func abridgedMatch(want, got string) bool {
	parts := strings.Split(want, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

func nonEmptyLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// checkQuickstartFacts checks what the abridged answers leave out: the
// replay names the first subscription, and the audit trail names the
// partner's admin as the actor of both changes.
func checkQuickstartFacts(t *testing.T, lines []string) {
	t.Helper()
	var partner struct {
		PartnerID   string `json:"partner_id"`
		AdminUserID string `json:"admin_user_id"`
	}
	var sub struct {
		ID string `json:"id"`
	}
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, `{"partner_id":`):
			if err := json.Unmarshal([]byte(line), &partner); err != nil {
				t.Fatalf("partner create: %v", err)
			}
		case strings.HasPrefix(line, `{"id":`) && strings.Contains(line, `"mrr":"120.00"`) && i+1 < len(lines):
			if err := json.Unmarshal([]byte(line), &sub); err != nil {
				t.Fatalf("subscription: %v", err)
			}
			if lines[i+1] != sub.ID {
				t.Errorf("the replayed subscription is %q, want the first one, %s", lines[i+1], sub.ID)
			}
		}
	}
	actor := `"actor":{"type":"partner_user","id":"` + partner.AdminUserID + `","partner_id":"` + partner.PartnerID + `"}`
	n := 0
	for _, line := range lines {
		if strings.HasPrefix(line, `"type":"Subscription`) {
			n++
			if !strings.HasSuffix(line, actor) {
				t.Errorf("audit event %s, want the actor %s", line, actor)
			}
		}
	}
	if sub.ID == "" || n != 2 {
		t.Errorf("found the subscription %q and %d audit events of the partner, want both changes", sub.ID, n)
	}
}
