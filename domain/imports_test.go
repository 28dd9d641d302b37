package domain

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// iamAllowedModules are the only modules outside the standard library
// that package domain may import.
var iamAllowedModules = []string{"github.com/google/uuid", "github.com/shopspring/decimal"}

// iamImportAllowed reports whether package domain may import path: a
// standard library package (no dot in its first element) or a package of
// an allowed module.
func iamImportAllowed(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	if !strings.Contains(first, ".") {
		return true
	}
	for _, m := range iamAllowedModules {
		if path == m || strings.HasPrefix(path, m+"/") {
			return true
		}
	}
	return false
}

// iamDisallowedImports parses the non-test Go files of dir, imports only,
// and returns "file: path" for every import outside the allowed set.
func iamDisallowedImports(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !iamImportAllowed(path) {
				bad = append(bad, name+": "+path)
			}
		}
	}
	return bad
}

func TestDomainImportsOnlyAllowedPackages(t *testing.T) {
	t.Parallel()
	for _, imp := range iamDisallowedImports(t, ".") {
		t.Errorf("package domain must import only the standard library, uuid and decimal; %s", imp)
	}
}

func TestDomainImportGuardBites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := "package domain\n\nimport (\n\t\"time\"\n\t\"github.com/google/uuid\"\n" +
		"\t\"github.com/jackc/pgx/v5\"\n\t\"github.com/labstack/echo/v4\"\n\tesdb \"github.com/EventStore/EventStore-Client-Go/v4/esdb\"\n" +
		"\t\"github.com/ThreeDotsLabs/watermill\"\n\t\"github.com/google/uuidx\"\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad_test.go"), []byte("package domain\n\nimport \"pgregory.net/rapid\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := iamDisallowedImports(t, dir)
	want := []string{"bad.go: github.com/jackc/pgx/v5", "bad.go: github.com/labstack/echo/v4",
		"bad.go: github.com/EventStore/EventStore-Client-Go/v4/esdb", "bad.go: github.com/ThreeDotsLabs/watermill",
		"bad.go: github.com/google/uuidx"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("guard found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
