package apiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

const (
	// document is the API's OpenAPI document, relative to this package.
	document = "../../http/openapi.yaml"
	// ogenVersion is the version of ogen the document must satisfy: its
	// generator and the runtime the generated client builds with.
	ogenVersion = "v1.25.0"
	// ogenTool is the ogen generator, as go run takes it.
	ogenTool = "github.com/ogen-go/ogen/cmd/ogen@" + ogenVersion
	// ogenSkipped are the operations ogen may skip: GET /openapi.yaml
	// answers YAML, which ogen cannot decode.
	ogenSkipped = "getOpenAPIDocument"
)

// TestGeneratedClientIsCurrent regenerates the client with the command on
// generate.go's go:generate line, into a temporary file, and fails unless
// it equals the committed client.gen.go: the document and the client never
// drift apart.
func TestGeneratedClientIsCurrent(t *testing.T) {
	t.Parallel()
	args := generateLine(t)
	out := filepath.Join(t.TempDir(), "client.gen.go")
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) || args[i+1] != "client.gen.go" {
		t.Fatalf("the go:generate line %q names no -o client.gen.go", strings.Join(args, " "))
	}
	args[i+1] = out
	started := time.Now()
	runGo(t, ".", args[1:]...)
	t.Logf("oapi-codegen generated the client in %s", time.Since(started).Round(time.Millisecond))

	want, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatalf("read the committed client: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read the regenerated client: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("client.gen.go is not what %s generates (%s); run `make generate`",
			document, firstDifference(want, got))
	}
}

// TestOgenClientBuilds generates an ogen client of the document into a
// module of its own and builds it; it fails when ogen refuses the document
// or skips any operation but ogenSkipped.
func TestOgenClientBuilds(t *testing.T) {
	t.Parallel()
	mod := t.TempDir()
	dir := filepath.Join(mod, "ogenclient")
	started := time.Now()
	runGo(t, ".", "run", ogenTool, "-config", "ogen.yaml", "-package", "ogenclient", "-target", dir, "-clean", document)
	generated := time.Since(started)

	started = time.Now()
	goMod := "module ogencheck\n\ngo 1.24\n\nrequire github.com/ogen-go/ogen " + ogenVersion + "\n"
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(goMod), 0o644); err != nil {
		t.Fatalf("write the module's go.mod: %v", err)
	}
	runGo(t, mod, "mod", "tidy")
	runGo(t, mod, "build", "./...")
	t.Logf("ogen generated the client in %s; tidy and build took %s", generated.Round(time.Millisecond), time.Since(started).Round(time.Millisecond))

	source, err := os.ReadFile(filepath.Join(dir, "oas_client_gen.go"))
	if err != nil {
		t.Fatalf("read the ogen client: %v", err)
	}
	methods := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^func \(c \*Client\) (\w+)\(ctx context\.Context`).FindAllSubmatch(source, -1) {
		methods[strings.ToLower(string(m[1]))] = true
	}
	for _, op := range operationIDs(t) {
		if has := methods[strings.ToLower(op)]; has == (op == ogenSkipped) {
			t.Errorf("ogen's client has a method for %s: %t, want %t", op, has, op != ogenSkipped)
		}
	}
}

// generateLine returns the fields of generate.go's go:generate line.
func generateLine(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatalf("read generate.go: %v", err)
	}
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(line, "//go:generate "); ok {
			args := strings.Fields(rest)
			if len(args) < 2 || args[0] != "go" || args[1] != "run" {
				t.Fatalf("the go:generate line %q does not run go run", line)
			}
			return args
		}
	}
	t.Fatal("generate.go has no go:generate line")
	return nil
}

// operationIDs returns the operationId of every operation of the document.
func operationIDs(t *testing.T) []string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(document)
	if err != nil {
		t.Fatalf("load %s: %v", document, err)
	}
	var ids []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			ids = append(ids, op.OperationID)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("%s documents no operation", document)
	}
	return ids
}

// runGo runs the go command in dir and fails t if it fails. When it fails
// and the module proxy does not answer either, it skips t instead: the
// generators and their runtime come from the proxy.
func runGo(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	if perr := proxyReachable(t.Context()); perr != nil {
		t.Skipf("go %s failed and the Go module proxy is unreachable (%v), so the generator or its runtime could not be fetched; output:\n%s",
			strings.Join(args, " "), perr, out)
	}
	t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
}

// proxyReachable asks the first module proxy of GOPROXY for the list of
// ogen's versions; nil when it answers.
func proxyReachable(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOPROXY").Output()
	if err != nil {
		return fmt.Errorf("go env GOPROXY: %w", err)
	}
	var proxy string
	for p := range strings.FieldsFuncSeq(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
		if p == "off" {
			return errors.New("GOPROXY is off")
		}
		if p != "direct" {
			proxy = p
			break
		}
	}
	if proxy == "" {
		proxy = "https://proxy.golang.org"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(proxy, "/")+"/github.com/ogen-go/ogen/@v/list", nil)
	if err != nil {
		return fmt.Errorf("ask %s: %w", proxy, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask %s: %w", proxy, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", proxy, res.Status)
	}
	return nil
}

// firstDifference describes the first line where got differs from want.
func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("first at line %d: committed %q, generated %q", i+1, wl, gl)
		}
	}
	return "they differ"
}
