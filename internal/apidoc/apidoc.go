// Package apidoc renders the API's OpenAPI document as a Markdown
// reference: every operation with its parameters, request and response
// bodies, status codes and problem codes, then every schema's fields.
package apidoc

//go:generate go run ./cmd/apidoc -o ../../docs/reference.md ../../http/openapi.yaml

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// methods are the HTTP methods rendered, in the order they are.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Render returns the Markdown reference of the OpenAPI document doc,
// read from source (named in the header of the output).
func Render(doc []byte, source string) ([]byte, error) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", source, err)
	}
	if err := spec.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate %s: %w", source, err)
	}
	r := &renderer{spec: spec, props: propertyNames(spec)}
	r.header(source)
	for _, tag := range r.tags() {
		r.tag(tag)
	}
	r.schemas()
	return r.out.Bytes(), nil
}

type renderer struct {
	out   bytes.Buffer
	spec  *openapi3.T
	props map[string]bool
}

// operation is one method on one path.
type operation struct {
	method, path string
	op           *openapi3.Operation
	item         *openapi3.PathItem
}

func (r *renderer) printf(format string, args ...any) { fmt.Fprintf(&r.out, format, args...) }

func (r *renderer) header(source string) {
	r.printf("# %s reference\n\n", r.spec.Info.Title)
	r.printf("<!-- Generated from %s by internal/apidoc (`make generate`): do not edit. -->\n\n", source)
	r.printf("Version %s. The machine-readable document is [`%s`](../%s), also served at `GET /openapi.yaml`.\n\n",
		r.spec.Info.Version, source, source)
	r.printf("%s\n", strings.TrimSpace(r.spec.Info.Description))
	if schemes := r.spec.Components.SecuritySchemes; len(schemes) > 0 {
		r.printf("\n**Authentication.**")
		for _, name := range sortedKeys(schemes) {
			s := schemes[name].Value
			r.printf(" `%s` (%s, `%s`): %s.", name, s.Type, s.Scheme, strings.TrimSuffix(oneLine(s.Description), "."))
		}
		r.printf("\n")
	}
	r.printf("\n## Operations\n\n")
	for _, tag := range r.tags() {
		r.printf("- %s:", tag)
		for i, o := range r.operations(tag) {
			r.printf("%s [`%s %s`](#%s)", map[bool]string{true: ",", false: ""}[i > 0], o.method, o.path, anchor(o.op.Summary))
		}
		r.printf("\n")
	}
}

// tags are the document's tags in its order, then any others operations use.
func (r *renderer) tags() []string {
	var tags []string
	for _, t := range r.spec.Tags {
		tags = append(tags, t.Name)
	}
	for _, o := range r.operations("") {
		for _, t := range o.op.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	if len(r.operations(untagged)) > 0 {
		tags = append(tags, untagged)
	}
	return tags
}

// untagged is the heading of operations without a tag.
const untagged = "Other"

// operations returns the operations of tag ("" for all), by path and
// method.
func (r *renderer) operations(tag string) []operation {
	var ops []operation
	for _, path := range sortedKeys(r.spec.Paths.Map()) {
		item := r.spec.Paths.Value(path)
		for _, m := range methods {
			op := item.GetOperation(m)
			if op == nil {
				continue
			}
			in := tag == "" || slices.Contains(op.Tags, tag) || (tag == untagged && len(op.Tags) == 0)
			if in {
				ops = append(ops, operation{method: m, path: path, op: op, item: item})
			}
		}
	}
	return ops
}

func (r *renderer) tag(name string) {
	r.printf("\n## %s\n", name)
	for _, t := range r.spec.Tags {
		if t.Name == name && t.Description != "" {
			r.printf("\n%s\n", strings.TrimSpace(t.Description))
		}
	}
	for _, o := range r.operations(name) {
		r.operation(o)
	}
}

func (r *renderer) operation(o operation) {
	r.printf("\n### %s\n\n`%s %s`", o.op.Summary, o.method, o.path)
	if o.op.OperationID != "" {
		r.printf(" (operation `%s`)", o.op.OperationID)
	}
	if o.op.Security != nil && len(*o.op.Security) == 0 {
		r.printf(", no authentication")
	}
	r.printf("\n")
	if d := strings.TrimSpace(o.op.Description); d != "" {
		r.printf("\n%s\n", d)
	}
	r.parameters(append(slices.Clone(o.item.Parameters), o.op.Parameters...))
	if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
		r.requestBody(rb.Value)
	}
	r.responses(o.op.Responses)
}

func (r *renderer) parameters(params openapi3.Parameters) {
	if len(params) == 0 {
		return
	}
	r.printf("\n**Parameters**\n\n| name | in | type | required | description |\n|---|---|---|---|---|\n")
	for _, p := range params {
		v := p.Value
		r.printf("| `%s` | %s | %s | %s | %s |\n", v.Name, v.In, typeOf(v.Schema), yesNo(v.Required), cell(v.Description))
	}
}

func (r *renderer) requestBody(rb *openapi3.RequestBody) {
	for _, ct := range sortedKeys(rb.Content) {
		s := rb.Content[ct].Schema
		r.printf("\n**Request body** (`%s`, %s): %s\n", ct, map[bool]string{true: "required", false: "optional"}[rb.Required], typeOf(s))
		if d := strings.TrimSpace(rb.Description); d != "" {
			r.printf("\n%s\n", d)
		}
		if s != nil {
			r.fields(s)
		}
	}
}

func (r *renderer) responses(rs *openapi3.Responses) {
	if rs == nil {
		return
	}
	r.printf("\n**Responses**\n\n| status | description | body | headers | problem codes |\n|---|---|---|---|---|\n")
	for _, status := range sortedKeys(rs.Map()) {
		v := rs.Value(status).Value
		var bodies, codes []string
		for _, ct := range sortedKeys(v.Content) {
			bodies = append(bodies, fmt.Sprintf("`%s` %s", ct, typeOf(v.Content[ct].Schema)))
			if strings.HasPrefix(ct, "application/problem") {
				codes = r.problemCodes(deref(v.Description))
			}
		}
		var headers []string
		for _, h := range sortedKeys(v.Headers) {
			headers = append(headers, "`"+h+"`")
		}
		r.printf("| %s | %s | %s | %s | %s |\n", status, cell(deref(v.Description)), strings.Join(bodies, "<br>"),
			strings.Join(headers, ", "), strings.Join(codes, ", "))
	}
}

// codeToken is a problem code as descriptions write it.
var codeToken = regexp.MustCompile("`([a-z][a-z0-9_]*)`")

// problemCodes are the backquoted codes a response's description names
// after its first "code", less the names and enum values of schemas.
func (r *renderer) problemCodes(description string) []string {
	i := strings.Index(strings.ToLower(description), "code")
	if i < 0 {
		return nil
	}
	after := description[i:]
	var codes []string
	for _, m := range codeToken.FindAllStringSubmatch(after, -1) {
		if c := "`" + m[1] + "`"; !r.props[m[1]] && !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	return codes
}

func (r *renderer) schemas() {
	r.printf("\n## Schemas\n")
	for _, name := range sortedKeys(r.spec.Components.Schemas) {
		s := r.spec.Components.Schemas[name]
		r.printf("\n### %s\n", name)
		if d := strings.TrimSpace(s.Value.Description); d != "" {
			r.printf("\n%s\n", d)
		}
		if fs := flatten("", s.Value); len(fs) == 0 {
			r.printf("\n%s\n", typeOf(&openapi3.SchemaRef{Value: s.Value}))
		}
		r.fields(&openapi3.SchemaRef{Value: s.Value})
	}
}

// fields writes the table of s's fields, if it has any.
func (r *renderer) fields(s *openapi3.SchemaRef) {
	fs := flatten("", s.Value)
	if len(fs) == 0 {
		return
	}
	r.printf("\n| field | type | required | description |\n|---|---|---|---|\n")
	for _, f := range fs {
		r.printf("| `%s` | %s | %s | %s |\n", f.path, typeOf(f.schema), yesNo(f.required), cell(f.schema.Value.Description))
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(a, b) })
	return keys
}
