package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testFunc is a test's or fuzz target's declaration.
var testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)

// TestSecurityDocNamesEveryTest fails when docs/security.md's table of
// guards leaves out a test of cmd/ledger/security_*_test.go, or names a
// test (`TestX`, `FuzzX`) that no test file of the repository declares.
func TestSecurityDocNamesEveryTest(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "../.." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(src), -1) {
			declared[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	security, err := filepath.Glob("security_*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range security {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(src), -1) {
			if m[1] != "TestSecurityDocNamesEveryTest" && !strings.Contains(string(doc), "`"+m[1]+"`") {
				t.Errorf("docs/security.md does not name %s of cmd/ledger/%s", m[1], file)
			}
		}
	}
	var named []string
	for _, m := range regexp.MustCompile("`((?:Test|Fuzz)[A-Z]\\w*)`").FindAllStringSubmatch(string(doc), -1) {
		if !slices.Contains(named, m[1]) {
			named = append(named, m[1])
		}
	}
	for _, name := range named {
		if !declared[name] {
			t.Errorf("docs/security.md names %s, which no test file declares", name)
		}
	}
}
