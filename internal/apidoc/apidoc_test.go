package apidoc

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReferenceIsCurrent renders http/openapi.yaml and fails unless the
// committed docs/reference.md is what it renders: run `make generate`
// after changing the document.
func TestReferenceIsCurrent(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../http/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(doc, "http/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/reference.md")
	if err != nil {
		t.Fatalf("%v: run make generate", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/reference.md is not what http/openapi.yaml renders: run make generate")
	}
}

// TestRenderCoversEveryOperation renders a small document and checks
// that each operation's method and path, summary, parameters, body
// fields, statuses and problem codes are in the reference.
func TestRenderCoversEveryOperation(t *testing.T) {
	t.Parallel()
	md, err := Render([]byte(sample), "sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"`POST /v1/things/{thing_id}`", "### Make a thing", "| `thing_id` | path | string (uuid) | yes | The thing. |",
		"| `name` | string | yes | Its name. |", "| `parts[].size` | integer | no |  |", "[Problem](#problem)",
		"| 422 | A rule refused it. Codes: `too_big`, `name`. |", "| `too_big` |", "`GET /v1/things`",
		"### Problem", "| `code` | string | yes |  |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the reference lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "`too_big`, `name`\n") {
		t.Error("a property name is listed as a problem code")
	}
}

const sample = `openapi: 3.0.3
info: {title: Things, version: "1"}
paths:
  /v1/things:
    get:
      summary: List things
      responses:
        '200': {description: The things.}
  /v1/things/{thing_id}:
    post:
      summary: Make a thing
      operationId: makeThing
      parameters:
        - {name: thing_id, in: path, required: true, description: The thing., schema: {type: string, format: uuid}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, description: Its name.}
                parts:
                  type: array
                  items:
                    type: object
                    properties:
                      size: {type: integer}
      responses:
        '201': {description: Made.}
        '422':
          description: 'A rule refused it. Codes: ` + "`too_big`, `name`" + `.'
          content:
            application/problem+json:
              schema: {$ref: '#/components/schemas/Problem'}
components:
  schemas:
    Problem:
      type: object
      required: [code]
      properties:
        code: {type: string}
        name: {type: string}
`
