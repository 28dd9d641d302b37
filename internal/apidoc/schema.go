package apidoc

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
)

// field is one property of a body, at its path from the body's root
// (`items[].quantity`).
type field struct {
	path     string
	schema   *openapi3.SchemaRef
	required bool
}

// flatten lists s's properties, and those of inline objects within them;
// a property whose schema is a named one links to it instead.
func flatten(prefix string, s *openapi3.Schema) []field {
	if s == nil {
		return nil
	}
	var out []field
	for _, part := range append(slices.Clone(s.AllOf), append(s.OneOf, s.AnyOf...)...) {
		if part.Ref == "" {
			out = append(out, flatten(prefix, part.Value)...)
		}
	}
	for _, name := range sortedKeys(s.Properties) {
		p := s.Properties[name]
		out = append(out, field{path: prefix + name, schema: p, required: slices.Contains(s.Required, name)})
		if p.Ref != "" || p.Value == nil {
			continue
		}
		switch {
		case p.Value.Type.Is("array") && p.Value.Items != nil && p.Value.Items.Ref == "":
			out = append(out, flatten(prefix+name+"[].", p.Value.Items.Value)...)
		default:
			out = append(out, flatten(prefix+name+".", p.Value)...)
		}
	}
	return out
}

// typeOf describes a schema in a table cell: a named schema links to its
// section, arrays name their items, enums their values.
func typeOf(s *openapi3.SchemaRef) string {
	if s == nil || (s.Ref == "" && s.Value == nil) {
		return "—"
	}
	if s.Ref != "" {
		name := s.Ref[strings.LastIndex(s.Ref, "/")+1:]
		return fmt.Sprintf("[%s](#%s)", name, anchor(name))
	}
	v := s.Value
	var parts []string
	for _, group := range []struct {
		word    string
		schemas openapi3.SchemaRefs
	}{{"all of", v.AllOf}, {"one of", v.OneOf}, {"any of", v.AnyOf}} {
		if len(group.schemas) > 0 {
			var names []string
			for _, x := range group.schemas {
				names = append(names, typeOf(x))
			}
			parts = append(parts, group.word+" "+strings.Join(names, ", "))
		}
	}
	if t := v.Type; t != nil && !t.IsEmpty() {
		typ := strings.Join(t.Slice(), " or ")
		if t.Is("array") {
			typ = "array of " + typeOf(v.Items)
		}
		if v.Format != "" {
			typ += " (" + v.Format + ")"
		}
		parts = append(parts, typ)
	}
	if len(v.Enum) > 0 {
		var values []string
		for _, e := range v.Enum {
			values = append(values, fmt.Sprintf("`%v`", e))
		}
		parts = append(parts, "one of "+strings.Join(values, ", "))
	}
	if v.Nullable {
		parts = append(parts, "nullable")
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, ", ")
}

// propertyNames are the names of every property of every schema and
// every enum value and parameter, which a response's description may mention beside
// its problem codes.
func propertyNames(spec *openapi3.T) map[string]bool {
	names := map[string]bool{}
	for _, s := range spec.Components.Schemas {
		for _, e := range s.Value.Enum {
			names[fmt.Sprint(e)] = true
		}
		for _, f := range flatten("", s.Value) {
			names[f.path[strings.LastIndexAny(f.path, ".")+1:]] = true
		}
	}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				names[p.Value.Name] = true
			}
		}
	}
	return names
}

// anchor is the id GitHub gives the heading text.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// cell is text made fit for one table cell.
func cell(text string) string {
	return strings.ReplaceAll(oneLine(text), "|", `\|`)
}

// oneLine joins text's lines with spaces.
func oneLine(text string) string {
	return strings.Join(strings.Fields(text), " ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
