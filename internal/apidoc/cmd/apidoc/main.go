// Command apidoc writes the Markdown reference of an OpenAPI document:
//
//	apidoc -o docs/reference.md http/openapi.yaml
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"ledger/internal/apidoc"
)

func main() {
	out := flag.String("o", "", "the Markdown file to write (standard output when empty)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: apidoc [-o reference.md] openapi.yaml")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "apidoc:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	doc, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	md, err := apidoc.Render(doc, "http/"+filepath.Base(in))
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(md)
		return err
	}
	return os.WriteFile(out, md, 0o644)
}
