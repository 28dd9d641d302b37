package http

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPIDocument is the OpenAPI 3 document of the API, in YAML: the
// contract of every route, parameter, body, response and problem code. The
// server serves it at GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

// Route is one documented operation: an HTTP method and a path in echo's
// syntax, such as GET /v1/tenants/:tenant_id/accounts.
type Route struct {
	// Method is the HTTP method, in upper case.
	Method string
	// Path is the path, with each parameter written :name.
	Path string
}

// DocumentedRoutes returns every operation of OpenAPIDocument, sorted by
// path, then method, with paths in echo's syntax, so that they compare
// with the routes a server registers.
func DocumentedRoutes() ([]Route, error) {
	routes, err := documentedRoutes()
	return slices.Clone(routes), err
}

var documentedRoutes = sync.OnceValues(func() ([]Route, error) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	var routes []Route
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			routes = append(routes, Route{Method: strings.ToUpper(method), Path: echoPath(path)})
		}
	}
	slices.SortFunc(routes, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return routes, nil
})

// echoPath turns an OpenAPI path template (/accounts/{account_id}) into
// echo's syntax (/accounts/:account_id).
func echoPath(path string) string {
	segments := strings.Split(path, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segments[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(segments, "/")
}
