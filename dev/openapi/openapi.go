// Package openapi holds the service to its description, docs/openapi.yaml:
// it loads the document and checks one request and the answer it got
// against it, with kin-openapi's openapi3filter. Its tests drive the real
// `make run` binary through every status of every session operation on each
// surface, with federated log-in off and on (a real OpenID Connect issuer
// on loopback, dev/oidcissuer), and check each exchange here, so the
// document cannot drift from what the service does.
//
// The document is OpenAPI 3.1. kin-openapi v0.153.0 loads and validates 3.1
// documents, and openapi3filter validates 3.1 schemas with a JSON Schema
// 2020-12 validator (santhosh-tekuri/jsonschema/v6; see the module's README,
// "CHANGELOG" v0.150.0 and v0.152.0): const, type arrays with "null",
// propertyNames and sibling keywords of $ref are all enforced, which the
// tests of this package check against deliberately wrong documents. One 3.1
// feature it does not read is components.pathItems, so the front door's
// two path items are written out in the document.
//
// It is for tests only; nothing that ships imports it.
package openapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// Path is where the document lives, relative to the repository root.
const Path = "docs/openapi.yaml"

// The templates that stand for the front door's paths. OpenAPI's templates
// match one segment; {path} here stands for the rest of the path, slashes
// included, so Find matches them itself.
const (
	FrontDoorAPI  = "/api/{path}"
	FrontDoorRest = httpapi.LegacyBase + "/{path}"
)

// Load reads and validates the document at Path.
func Load() (*openapi3.T, error) {
	root, err := localdynamo.RepoRoot()
	if err != nil {
		return nil, err
	}
	return LoadFile(filepath.Join(root, Path))
}

// LoadFile reads and validates the document at path.
func LoadFile(path string) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("%s is no valid OpenAPI document: %w", path, err)
	}
	return doc, nil
}

// Spec is a loaded document, ready to check exchanges against.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
}

// New returns the checker of doc.
func New(doc *openapi3.T) (*Spec, error) {
	// Route by path and method alone: the document's servers name where
	// `make run` listens by default, and a test's run listens elsewhere.
	anyServer := *doc
	anyServer.Servers = nil
	r, err := gorillamux.NewRouter(&anyServer)
	if err != nil {
		return nil, err
	}
	return &Spec{Doc: doc, router: r}, nil
}

// Exchange is one request and the answer it got, as sent and received.
type Exchange struct {
	Request     *http.Request // its Body is not read; RequestBody is
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Result is what the document says of one exchange.
type Result struct {
	// Operation is the operationId the request matched.
	Operation string
	// Request is why the request is not one the document describes (nil:
	// it is). A test sends some such requests on purpose.
	Request error
	// Response is why the answer is not one the document describes for
	// that request (nil: it is).
	Response error
}

// Check finds the operation of x's request and validates the request and
// the answer against it: the status must be declared, each declared header
// present when required and matching its schema, the body matching the
// schema of its media type, and no body where none is declared.
func (s *Spec) Check(ctx context.Context, x Exchange) (Result, error) {
	route, params, err := s.Find(x.Request)
	if err != nil {
		return Result{}, err
	}
	req := x.Request.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	req.ContentLength = int64(len(x.RequestBody))
	opts := &openapi3filter.Options{
		AuthenticationFunc:    presented,
		IncludeResponseStatus: true, // a status the document does not declare is an error
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	res := Result{Operation: route.Operation.OperationID}
	res.Request = openapi3filter.ValidateRequest(ctx, in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.Header, Options: opts}
	out.SetBodyBytes(x.Body)
	res.Response = openapi3filter.ValidateResponse(ctx, out)
	if res.Response == nil {
		if rr := route.Operation.Responses.Status(x.Status); rr != nil && len(rr.Value.Content) == 0 && len(x.Body) > 0 {
			res.Response = fmt.Errorf("status %d declares no body, and the answer has %d bytes", x.Status, len(x.Body))
		}
	}
	return res, nil
}

// Find returns the operation of r and its path parameters: the document's
// router for every path it can match, the front door's templates for the
// rest of the paths under /api/ and /rest/.
func (s *Spec) Find(r *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := s.router.FindRoute(r)
	if err == nil {
		return route, params, nil
	}
	if !errors.Is(err, routers.ErrPathNotFound) || !httpapi.Protected(r.URL.Path) {
		return nil, nil, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)
	}
	tmpl, prefix := FrontDoorAPI, "/api/"
	if strings.HasPrefix(r.URL.Path, httpapi.LegacyBase+"/") {
		tmpl, prefix = FrontDoorRest, httpapi.LegacyBase+"/"
	}
	item := s.Doc.Paths.Value(tmpl)
	if item == nil {
		return nil, nil, fmt.Errorf("%s %s: the document has no %s", r.Method, r.URL.Path, tmpl)
	}
	op := item.GetOperation(r.Method)
	if op == nil {
		return nil, nil, fmt.Errorf("%s %s: %s has no %s: %w", r.Method, r.URL.Path, tmpl, r.Method, routers.ErrMethodNotAllowed)
	}
	route = &routers.Route{Spec: s.Doc, Path: tmpl, PathItem: item, Method: r.Method, Operation: op}
	return route, map[string]string{"path": strings.TrimPrefix(r.URL.Path, prefix)}, nil
}

// presented checks that a request presents what a security scheme names: a
// Basic or Bearer Authorization header (the scheme name in any case, RFC
// 7235 section 2.1), the header, or the cookie. Whether the credentials
// are good is the service's to say, and its answer is checked.
func presented(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	ss := in.SecurityScheme
	switch {
	case ss.Type == "http" && (strings.EqualFold(ss.Scheme, "basic") || strings.EqualFold(ss.Scheme, "bearer")):
		prefix := ss.Scheme + " "
		if a := r.Header.Get("Authorization"); len(a) > len(prefix) && strings.EqualFold(a[:len(prefix)], prefix) {
			return nil
		}
	case ss.Type == "apiKey" && ss.In == "header":
		if len(r.Header.Values(ss.Name)) > 0 {
			return nil
		}
	case ss.Type == "apiKey" && ss.In == "cookie":
		if _, err := r.Cookie(ss.Name); err == nil {
			return nil
		}
	default:
		return fmt.Errorf("security scheme %q (%s) is not one this checker knows", in.SecuritySchemeName, ss.Type)
	}
	return in.NewError(nil)
}
