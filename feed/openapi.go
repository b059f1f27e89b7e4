package feed

import (
	_ "embed"
	"net/http"
)

// openAPISpec is the OpenAPI 3.1 description of the HTTP API, served at
// /openapi.json. Tests check that it lists exactly the served routes.
//
//go:embed openapi.json
var openAPISpec []byte

// OpenAPI returns the OpenAPI 3.1 document of the HTTP API.
func OpenAPI() []byte { return append([]byte(nil), openAPISpec...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPISpec)
}
