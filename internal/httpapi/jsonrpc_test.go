package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// Every log line of these tests is scanned, when they end, for the passwords
// the JSON-RPC bodies carried and every session id sent or answered.
func TestMain(m *testing.M) { os.Exit(logscan.Main(m, dynamotest.Main)) }

const (
	user     = "administrator@vsphere.local"
	password = "VMware1!-jsonrpc"
	// What the service answers for a session that cannot be found, on
	// every surface (errors.go).
	authRequiredID  = "com.vmware.vapi.endpoint.method.authentication.required"
	authRequiredMsg = "Authentication required."
)

// The wire as vapi_runtime 2.44 sends it (issue 11, CONTRACT.md "Third
// surface"), byte for byte: compact JSON in vapi_runtime's key order, the
// id a string counter.
func createBody(id, userName, pass string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":` + quote(id) + `,"params":{"serviceId":"com.vmware.cis.session","operationId":"create",` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"6ab7a2f8-9b3c-4d55-8a0e-2f1c9d7e4b10"},` +
		`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":` + quote(userName) + `,"password":` + quote(pass) + `}}}}`
}

func sessionBody(id, op, sessionID string) string {
	return `{"jsonrpc":"2.0","method":"invoke","id":` + quote(id) + `,"params":{"serviceId":"com.vmware.cis.session","operationId":` + quote(op) + `,` +
		`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{"opId":"0d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60"},` +
		`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":` + quote(sessionID) + `}}}}`
}

// sdkHeaders are the headers vapi_runtime sends; no Authorization.
func sdkHeaders(op string) map[string]string {
	return map[string]string{
		"Content-Type":   "application/json",
		"vapi-service":   "com.vmware.cis.session",
		"vapi-operation": op,
		"vapi-ctx-opid":  "6ab7a2f8-9b3c-4d55-8a0e-2f1c9d7e4b10",
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// clock is the service's settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rig is the whole service (every surface, as `make run` serves it) over a
// real engine, its DynamoDB calls recorded and its logs kept.
type rig struct {
	t     *testing.T
	h     http.Handler
	clock *clock
	calls *dynamotest.Recorder
	logs  *bytes.Buffer
	mu    sync.Mutex
}

func newRig(t *testing.T, srv *localdynamo.Server, env map[string]string) *rig {
	t.Helper()
	f := dynamotest.Setup(t, srv)
	f.AddUser(t, user, password)
	g := &rig{t: t, clock: &clock{now: time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)}, calls: &dynamotest.Recorder{API: f.DB}, logs: &bytes.Buffer{}}
	svc := local.Service(f.Config(t, env), g.calls)
	svc.Now = g.clock.Now
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logscan.Writer(), lockedWriter{&g.mu, g.logs}), nil))
	g.h = logscan.Recording(httpapi.New(svc, log))
	return g
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends one request and returns the answer.
func (g *rig) do(method, path string, headers map[string]string, body string) *httptest.ResponseRecorder {
	g.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

// rpc POSTs a JSON-RPC body to /api as the SDK does for op, its headers
// naming the service and operation the body names (when it names them).
func (g *rig) rpc(op, body string) *httptest.ResponseRecorder {
	g.t.Helper()
	h := sdkHeaders(op)
	var req struct {
		Params struct{ ServiceID, OperationID *string }
	}
	if json.Unmarshal([]byte(body), &req) == nil && req.Params.ServiceID != nil && req.Params.OperationID != nil {
		h["vapi-service"], h["vapi-operation"] = *req.Params.ServiceID, *req.Params.OperationID
	}
	return g.do(http.MethodPost, "/api", h, body)
}

// login creates a session over JSON-RPC and returns its id.
func (g *rig) login() string {
	g.t.Helper()
	w := g.rpc("create", createBody("0", user, password))
	out := sdkAnswer(g.t, w, `"0"`).output(g.t)
	return secretOf(g.t, out)
}

// ---------------------------------------------------------------------------
// The answer as vapi_runtime parses it.
//
// vapi_runtime (vmware/vapi/protocol/client/msg/json_connector.py,
// JsonClientProvider._do_request) raises the transport error of any HTTP
// status >= 400 (raise_for_status); then (vmware/vapi/data/serializers/
// jsonrpc.py) JsonRpc20Request.validate_response requires the answer's
// jsonrpc to be the request's "2.0" and its id to equal the request's id,
// or to be null when the error code is -32700 or -32600; a JSON-RPC error
// is raised; otherwise JsonRpcDictToVapi.method_result reads result.output
// or result.error, each a data value: null is void, a one-key object tags
// its value (SECRET, STRUCTURE and ERROR as {name: {fields}}, OPTIONAL as the
// value or null; two keys are invalid params), a list is a list, and
// strings, booleans and numbers are themselves. The bindings
// (vmware/vapi/bindings/converter.py, VapiJsonRpcDataValueToPythonVisitor)
// then require every optional field that is present to be an OPTIONAL
// (visit_optional raises otherwise) and tolerate absent ones. VMware's Go
// runtime encodes the same way (vsphere-automation-sdk-go,
// runtime/protocol/server/rpc/msg/JsonRpcEncoder.go).

// answer is a JSON-RPC answer that passed validate_response.
type answer struct {
	result map[string]json.RawMessage // nil for a JSON-RPC error
	rpcErr *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
}

// sdkAnswer checks w as vapi_runtime checks an answer to a request with id
// reqID (raw JSON).
func sdkAnswer(t *testing.T, w *httptest.ResponseRecorder, reqID string) answer {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP status %d: the SDK raises a transport error (raise_for_status); body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, w.Body)
	}
	for k := range env {
		if k != "jsonrpc" && k != "id" && k != "result" && k != "error" {
			t.Errorf("answer has member %q: %s", k, w.Body)
		}
	}
	if string(env["jsonrpc"]) != `"2.0"` {
		t.Errorf(`jsonrpc = %s, want "2.0"`, env["jsonrpc"])
	}
	var a answer
	res, hasRes := env["result"]
	e, hasErr := env["error"]
	if hasRes == hasErr {
		t.Fatalf("answer has both or neither of result and error: %s", w.Body)
	}
	wantID := reqID
	if hasErr {
		if err := strictJSON(e, &a.rpcErr); err != nil {
			t.Fatalf("error is not {code, message, data}: %v: %s", err, e)
		}
		if a.rpcErr.Code == httpapi.RPCParseError || a.rpcErr.Code == httpapi.RPCInvalidRequest {
			wantID = "null"
		}
		if a.rpcErr.Message == "" {
			t.Errorf("error without a message: %s", e)
		}
	} else {
		if err := json.Unmarshal(res, &a.result); err != nil || a.result == nil {
			t.Fatalf("result is not an object: %s", res)
		}
		_, hasOut := a.result["output"]
		_, hasVErr := a.result["error"]
		if len(a.result) != 1 || hasOut == hasVErr {
			t.Fatalf("result is not exactly one of output and error: %s", res)
		}
	}
	if id, ok := env["id"]; !ok || string(id) != wantID {
		t.Errorf("id = %s, want %s exactly", id, wantID)
	}
	return a
}

// output is the answer's result.output as a data value.
func (a answer) output(t *testing.T) dataValue {
	t.Helper()
	raw, ok := a.result["output"]
	if !ok {
		t.Fatalf("no output: result %s, error %+v", a.result["error"], a.rpcErr)
	}
	return decodeValue(t, raw)
}

// vapiError is the answer's result.error as a data value.
func (a answer) vapiError(t *testing.T) dataValue {
	t.Helper()
	raw, ok := a.result["error"]
	if !ok {
		t.Fatalf("no vAPI error: output %s, JSON-RPC error %+v", a.result["output"], a.rpcErr)
	}
	v := decodeValue(t, raw)
	if v.kind != "ERROR" {
		t.Fatalf("result.error is a %s, want an ERROR", v.kind)
	}
	return v
}

// dataValue is a vAPI data value as JsonRpcDictToVapi.data_value builds it.
type dataValue struct {
	kind   string // VOID, SECRET, STRUCTURE, ERROR, OPTIONAL, LIST, STRING, BOOLEAN, NUMBER
	name   string // of a STRUCTURE or ERROR
	fields map[string]dataValue
	list   []dataValue
	str    string
	set    bool       // an OPTIONAL with a value
	elem   *dataValue // an OPTIONAL's value
}

func decodeValue(t *testing.T, raw json.RawMessage) dataValue {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return toValue(t, v)
}

func toValue(t *testing.T, v any) dataValue {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return dataValue{kind: "VOID"}
	case string:
		return dataValue{kind: "STRING", str: v}
	case bool:
		return dataValue{kind: "BOOLEAN"}
	case json.Number:
		return dataValue{kind: "NUMBER", str: v.String()}
	case []any:
		d := dataValue{kind: "LIST"}
		for _, e := range v {
			d.list = append(d.list, toValue(t, e))
		}
		return d
	case map[string]any:
		if len(v) != 1 {
			t.Fatalf("a data value object with %d keys: vapi_runtime raises invalid params", len(v))
		}
		for tag, inner := range v {
			switch tag {
			case "SECRET":
				s, ok := inner.(string)
				if !ok {
					t.Fatalf("SECRET of %T", inner)
				}
				return dataValue{kind: tag, str: s}
			case "OPTIONAL":
				d := dataValue{kind: tag}
				if inner != nil {
					e := toValue(t, inner)
					d.set, d.elem = true, &e
				}
				return d
			case "STRUCTURE", "ERROR":
				named, ok := inner.(map[string]any)
				if !ok || len(named) != 1 {
					t.Fatalf("%s is not {name: fields}: %v", tag, inner)
				}
				for name, fields := range named {
					fm, ok := fields.(map[string]any)
					if !ok {
						t.Fatalf("%s %s: fields are not an object", tag, name)
					}
					d := dataValue{kind: tag, name: name, fields: map[string]dataValue{}}
					for k, fv := range fm {
						d.fields[k] = toValue(t, fv)
					}
					return d
				}
			default:
				t.Fatalf("unknown data value tag %q", tag)
			}
		}
	}
	t.Fatalf("no data value for %T", v)
	return dataValue{}
}

var (
	tokenRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timeRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// secretOf checks create's output, a SECRET session id, and returns it.
func secretOf(t *testing.T, out dataValue) string {
	t.Helper()
	if out.kind != "SECRET" || !tokenRE.MatchString(out.str) {
		t.Fatalf("output is %s %q, want a SECRET of 32 lower-case hex digits", out.kind, out.str)
	}
	logscan.Secret(out.str)
	return out.str
}

// infoOf checks get's output, a com.vmware.cis.session.info, and returns
// its three fields.
func infoOf(t *testing.T, out dataValue) (user, created, lastAccessed string) {
	t.Helper()
	if out.kind != "STRUCTURE" || out.name != "com.vmware.cis.session.info" {
		t.Fatalf("output is %s %q, want STRUCTURE com.vmware.cis.session.info", out.kind, out.name)
	}
	if len(out.fields) != 3 {
		t.Errorf("session info has fields %v, want user, created_time, last_accessed_time", keys(out.fields))
	}
	for _, f := range []string{"user", "created_time", "last_accessed_time"} {
		if out.fields[f].kind != "STRING" {
			t.Fatalf("session info field %s is %s, want a string", f, out.fields[f].kind)
		}
	}
	user, created, lastAccessed = out.fields["user"].str, out.fields["created_time"].str, out.fields["last_accessed_time"].str
	if !timeRE.MatchString(created) || !timeRE.MatchString(lastAccessed) {
		t.Errorf("times %q, %q: want vAPI DateTime, RFC 3339 UTC with milliseconds", created, lastAccessed)
	}
	return user, created, lastAccessed
}

// wantVAPIError is a vAPI error as the bindings read it.
type wantVAPIError struct {
	errorType      string // UNAUTHENTICATED, ...
	id, defaultMsg string
	args           []string
}

var (
	rpcUnauthenticated   = wantVAPIError{"UNAUTHENTICATED", authRequiredID, authRequiredMsg, nil}
	rpcOperationNotFound = wantVAPIError{"OPERATION_NOT_FOUND", "com.vmware.vapi.rest.operationNotFound", "Operation not found.", nil}
	rpcInvalidRequest    = wantVAPIError{"INVALID_REQUEST", "com.vmware.vapi.rest.badRequest", "Invalid request.", nil}
	rpcUnavailable       = wantVAPIError{"SERVICE_UNAVAILABLE", "com.vmware.vapi.std.errors.service_unavailable", "Service unavailable.", nil}
)

// check compares a vAPI error field by field: its name, one localizable
// message, data unset, error_type set, and the challenge of an
// Unauthenticated (only), each optional an OPTIONAL.
func (want wantVAPIError) check(t *testing.T, e dataValue) {
	t.Helper()
	if wantName := "com.vmware.vapi.std.errors." + strings.ToLower(want.errorType); e.name != wantName {
		t.Errorf("error %q, want %q", e.name, wantName)
	}
	wantFields := []string{"data", "error_type", "messages"}
	if want.errorType == "UNAUTHENTICATED" {
		wantFields = append(wantFields, "challenge")
		slices.Sort(wantFields)
	}
	if got := keys(e.fields); !slices.Equal(got, wantFields) {
		t.Errorf("error fields %v, want %v", got, wantFields)
	}
	if d := e.fields["data"]; d.kind != "OPTIONAL" || d.set {
		t.Errorf("data is %+v, want an unset OPTIONAL", d)
	}
	if et := e.fields["error_type"]; et.kind != "OPTIONAL" || !et.set || et.elem.kind != "STRING" || et.elem.str != want.errorType {
		t.Errorf("error_type is %+v, want OPTIONAL %q", et, want.errorType)
	}
	if want.errorType == "UNAUTHENTICATED" {
		if c := e.fields["challenge"]; c.kind != "OPTIONAL" || !c.set || c.elem.str != httpapi.Challenge {
			t.Errorf("challenge is %+v, want OPTIONAL %q", c, httpapi.Challenge)
		}
	}
	msgs := e.fields["messages"]
	if msgs.kind != "LIST" || len(msgs.list) != 1 {
		t.Fatalf("messages is %s of %d, want a list of one", msgs.kind, len(msgs.list))
	}
	m := msgs.list[0]
	if m.kind != "STRUCTURE" || m.name != "com.vmware.vapi.std.localizable_message" {
		t.Fatalf("message is %s %q, want STRUCTURE com.vmware.vapi.std.localizable_message", m.kind, m.name)
	}
	if got := keys(m.fields); !slices.Equal(got, []string{"args", "default_message", "id"}) {
		t.Errorf("message fields %v, want args, default_message, id", got)
	}
	if m.fields["id"].str != want.id || m.fields["default_message"].str != want.defaultMsg {
		t.Errorf("message %q %q, want %q %q", m.fields["id"].str, m.fields["default_message"].str, want.id, want.defaultMsg)
	}
	args := m.fields["args"]
	if args.kind != "LIST" {
		t.Fatalf("args is %s, want a list", args.kind)
	}
	var got []string
	for _, a := range args.list {
		if a.kind != "STRING" {
			t.Errorf("an arg of kind %s", a.kind)
		}
		got = append(got, a.str)
	}
	if !slices.Equal(got, want.args) {
		t.Errorf("args %q, want %q", got, want.args)
	}
}

func keys(m map[string]dataValue) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ---------------------------------------------------------------------------

// TestJSONRPCServesTheSessionServiceAsTheSDKParsesIt: each operation and each
// vAPI error it can answer, on every engine, checked field by field.
func TestJSONRPCServesTheSessionServiceAsTheSDKParsesIt(t *testing.T) {
	type expect func(t *testing.T, g *rig, a answer)
	ok := func(check func(t *testing.T, g *rig, out dataValue)) expect {
		return func(t *testing.T, g *rig, a answer) { check(t, g, a.output(t)) }
	}
	fails := func(want wantVAPIError) expect {
		return func(t *testing.T, _ *rig, a answer) { want.check(t, a.vapiError(t)) }
	}
	// saml is the security context of the SDK's SAML bearer token log-in.
	saml := func(id, op string) string {
		return `{"jsonrpc":"2.0","method":"invoke","id":"` + id + `","params":{"serviceId":"com.vmware.cis.session","operationId":"` + op + `",` +
			`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},"securityCtx":{"schemeId":"com.vmware.vapi.std.security.saml_bearer_token","token":"PHNhbWw+PC9zYW1sPg=="}}}}`
	}
	withInput := func(body, input string) string {
		return strings.Replace(body, `{"STRUCTURE":{"operation-input":{}}}`, input, 1)
	}
	cases := []struct {
		name string
		op   string
		body func(live string) string
		// calls are the DynamoDB calls it makes (on DynamoDB itself).
		calls []string
		want  expect
	}{
		{"CreateAnswersASecretSessionID", "create", func(string) string { return createBody("0", user, password) },
			[]string{"GetItem", "Query", "PutItem", "UpdateItem"}, ok(func(t *testing.T, g *rig, out dataValue) { secretOf(t, out) })},
		{"CreateQualifiesAShortName", "create", func(string) string { return createBody("0", "Administrator", password) },
			[]string{"GetItem", "Query", "PutItem", "UpdateItem"}, ok(func(t *testing.T, g *rig, out dataValue) {
				id := secretOf(t, out)
				u, _, _ := infoOf(t, sdkAnswer(t, g.rpc("get", sessionBody("1", "get", id)), `"1"`).output(t))
				if u != user {
					t.Errorf("user %q, want %q", u, user)
				}
			})},
		{"GetAnswersTheSessionInfo", "get", func(live string) string { return sessionBody("1", "get", live) },
			[]string{"UpdateItem"}, ok(func(t *testing.T, g *rig, out dataValue) {
				u, c, l := infoOf(t, out)
				if u != user || c != "2026-11-30T05:00:00.000Z" || l != c {
					t.Errorf("info %q %q %q", u, c, l)
				}
			})},
		{"DeleteAnswersVoid", "delete", func(live string) string { return sessionBody("2", "delete", live) },
			[]string{"DeleteItem"}, ok(func(t *testing.T, g *rig, out dataValue) {
				if out.kind != "VOID" {
					t.Errorf("output is %s, want null (void)", out.kind)
				}
			})},
		{"CreateWithAWrongPasswordIsUnauthenticated", "create", func(string) string { return createBody("0", user, "wrong-password-1") },
			[]string{"GetItem", "Query", "UpdateItem"}, fails(rpcUnauthenticated)},
		{"CreateOfAnUnknownUserIsUnauthenticated", "create", func(string) string { return createBody("0", "nobody@vsphere.local", password) },
			[]string{"GetItem", "Query", "UpdateItem"}, fails(rpcUnauthenticated)},
		{"CreateWithAnOversizedPasswordIsUnauthenticatedAtNoCost", "create", func(string) string { return createBody("0", user, strings.Repeat("p", 1025)) },
			nil, fails(rpcUnauthenticated)},
		{"CreateWithAnOversizedUserIsUnauthenticatedAtNoCost", "create", func(string) string { return createBody("0", strings.Repeat("u", 257), password) },
			nil, fails(rpcUnauthenticated)},
		{"CreateWithASAMLTokenIsUnauthenticated", "create", func(string) string { return saml("0", "create") },
			nil, fails(rpcUnauthenticated)},
		{"CreateWithASessionIsUnauthenticated", "create", func(live string) string { return sessionBody("0", "create", live) },
			nil, fails(rpcUnauthenticated)},
		{"CreateWithoutASecurityContextIsUnauthenticated", "create", func(string) string {
			return `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"serviceId":"com.vmware.cis.session","operationId":"create","input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{}}}}`
		}, nil, fails(rpcUnauthenticated)},
		{"CreateWithANonStringPasswordIsUnauthenticated", "create", func(string) string {
			return strings.Replace(createBody("0", user, password), quote(password), `{"SECRET":"x"}`, 1)
		}, nil, fails(rpcUnauthenticated)},
		{"GetOfAnUnknownSessionIsUnauthenticated", "get", func(string) string { return sessionBody("1", "get", "fedcba9876543210fedcba9876543210") },
			[]string{"UpdateItem"}, fails(rpcUnauthenticated)},
		{"GetWithAMalformedSessionIDIsUnauthenticatedAtNoCost", "get", func(string) string { return sessionBody("1", "get", "not-a-session-id") },
			nil, fails(rpcUnauthenticated)},
		{"GetWithUserPassIsUnauthenticatedAtNoCost", "get", func(string) string {
			return strings.Replace(createBody("1", user, password), `"operationId":"create"`, `"operationId":"get"`, 1)
		}, nil, fails(rpcUnauthenticated)},
		{"GetWithASAMLTokenIsUnauthenticated", "get", func(string) string { return saml("1", "get") },
			nil, fails(rpcUnauthenticated)},
		{"DeleteOfAnUnknownSessionIsUnauthenticated", "delete", func(string) string { return sessionBody("2", "delete", "fedcba9876543210fedcba9876543210") },
			[]string{"DeleteItem"}, fails(rpcUnauthenticated)},
		{"AnUnknownOperationIsOperationNotFound", "list", func(live string) string { return sessionBody("3", "list", live) },
			nil, fails(rpcOperationNotFound)},
		// Without an upstream (jsonrpc_forward_test.go has one), another
		// service's operation is found nowhere, once the front door lets
		// its call through.
		{"AnOperationOfAnotherServiceIsOperationNotFoundOnceAuthenticated", "list", func(live string) string {
			return strings.Replace(sessionBody("3", "list", live), `"com.vmware.cis.session"`, `"com.vmware.vcenter.VM"`, 1)
		}, []string{"UpdateItem"}, fails(rpcOperationNotFound)},
		{"AnOperationOfAnotherServiceWithAnUnknownSessionIsUnauthenticated", "list", func(string) string {
			return strings.Replace(sessionBody("3", "list", "fedcba9876543210fedcba9876543210"), `"com.vmware.cis.session"`, `"com.vmware.vcenter.VM"`, 1)
		}, []string{"UpdateItem"}, fails(rpcUnauthenticated)},
		{"InputWithAFieldIsInvalidRequest", "get", func(live string) string {
			return withInput(sessionBody("1", "get", live), `{"STRUCTURE":{"operation-input":{"vm":"vm-1"}}}`)
		}, nil, fails(rpcInvalidRequest)},
		{"InputOfAnotherStructureIsInvalidRequest", "create", func(string) string {
			return withInput(createBody("0", user, password), `{"STRUCTURE":{"spec":{}}}`)
		}, nil, fails(rpcInvalidRequest)},
		{"InputThatIsNoStructureIsInvalidRequest", "delete", func(live string) string {
			return withInput(sessionBody("2", "delete", live), `"x"`)
		}, nil, fails(rpcInvalidRequest)},
	}
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		g := newRig(t, srv, nil)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				live := g.login()
				g.calls.Reset()
				body := c.body(live)
				var id struct{ ID json.RawMessage }
				_ = json.Unmarshal([]byte(body), &id)
				w := g.rpc(c.op, body)
				calls := g.calls.Reset()
				c.want(t, g, sdkAnswer(t, w, string(id.ID)))
				want := c.calls
				if srv.Kind == localdynamo.Dynalite && slices.Equal(want, []string{"UpdateItem"}) && strings.Contains(c.name, "Unknown") {
					want = []string{"UpdateItem", "UpdateItem"} // see internal/lambda/roundtrips_test.go
				}
				if !slices.Equal(calls, want) {
					t.Errorf("DynamoDB calls %v, want %v", calls, want)
				}
			})
		}
	})
}

// TestJSONRPCProtocolErrors: a request that is no vAPI invoke gets the JSON-RPC
// 2.0 error for what is wrong, at HTTP 200, with the request's id where it
// has a valid one (null for -32700 and -32600, as vapi_runtime requires), and
// costs nothing.
func TestJSONRPCProtocolErrors(t *testing.T) {
	good := sessionBody("5", "get", "0123456789abcdef0123456789abcdef")
	set := func(member, value string) string {
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(good), &m)
		if value == "" {
			delete(m, member)
		} else {
			m[member] = json.RawMessage(value)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	setParam := func(member, value string) string {
		var p map[string]json.RawMessage
		_ = json.Unmarshal([]byte(`{"serviceId":"com.vmware.cis.session","operationId":"get","input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{}}}`), &p)
		if value == "" {
			delete(p, member)
		} else {
			p[member] = json.RawMessage(value)
		}
		b, _ := json.Marshal(p)
		return set("params", string(b))
	}
	cases := []struct {
		name    string
		headers map[string]string
		body    string
		code    int
		id      string // the answer's id, exactly
	}{
		{"NotJSON", nil, `{"jsonrpc":"2.0",`, httpapi.RPCParseError, "null"},
		{"Empty", nil, ``, httpapi.RPCParseError, "null"},
		{"InvalidUTF8InAString", nil, strings.Replace(good, `"appCtx":{`, `"appCtx":{"x":"`+"\xff"+`",`, 1), httpapi.RPCParseError, "null"},
		{"InvalidUTF8InAName", nil, strings.Replace(good, `"appCtx":{`, `"appCtx":{"securityCtx`+"\xff"+`":{},`, 1), httpapi.RPCParseError, "null"},
		{"OverlongUTF8", nil, strings.Replace(good, `"appCtx":{`, `"appCtx":{"x":"`+"\xc0\xaf"+`",`, 1), httpapi.RPCParseError, "null"},
		{"AnArray", nil, `[` + good + `]`, httpapi.RPCInvalidRequest, "null"},
		{"AString", nil, `"invoke"`, httpapi.RPCInvalidRequest, "null"},
		{"Null", nil, `null`, httpapi.RPCInvalidRequest, "null"},
		{"NoVersion", nil, set("jsonrpc", ""), httpapi.RPCInvalidRequest, "null"},
		{"Version1", nil, set("jsonrpc", `"1.0"`), httpapi.RPCInvalidRequest, "null"},
		{"VersionANumber", nil, set("jsonrpc", `2.0`), httpapi.RPCInvalidRequest, "null"},
		{"ANotification", nil, set("id", ""), httpapi.RPCInvalidRequest, "null"},
		{"IDAnObject", nil, set("id", `{"n":1}`), httpapi.RPCInvalidRequest, "null"},
		{"IDAnArray", nil, set("id", `["5"]`), httpapi.RPCInvalidRequest, "null"},
		{"IDABoolean", nil, set("id", `true`), httpapi.RPCInvalidRequest, "null"},
		{"NoMethod", nil, set("method", ""), httpapi.RPCInvalidRequest, "null"},
		{"MethodNull", nil, set("method", `null`), httpapi.RPCInvalidRequest, "null"},
		{"MethodNotInvoke", nil, set("method", `"call"`), httpapi.RPCMethodNotFound, `"5"`},
		{"NoParams", nil, set("params", ""), httpapi.RPCInvalidParams, `"5"`},
		{"ParamsAnArray", nil, set("params", `[]`), httpapi.RPCInvalidParams, `"5"`},
		{"ParamsNull", nil, set("params", `null`), httpapi.RPCInvalidParams, `"5"`},
		{"NoServiceID", nil, setParam("serviceId", ""), httpapi.RPCInvalidParams, `"5"`},
		{"ServiceIDANumber", nil, setParam("serviceId", `1`), httpapi.RPCInvalidParams, `"5"`},
		{"NoOperationID", nil, setParam("operationId", ""), httpapi.RPCInvalidParams, `"5"`},
		{"NoInput", nil, setParam("input", ""), httpapi.RPCInvalidParams, `"5"`},
		{"CtxAString", nil, setParam("ctx", `"ctx"`), httpapi.RPCInvalidParams, `"5"`},
		{"SecurityCtxAList", nil, setParam("ctx", `{"securityCtx":[]}`), httpapi.RPCInvalidParams, `"5"`},
		{"ServiceHeaderNamesAnother", map[string]string{"vapi-service": "com.vmware.vcenter.VM", "vapi-operation": "get"}, good, httpapi.RPCOperationMismatch, `"5"`},
		{"OperationHeaderNamesAnother", map[string]string{"vapi-service": "com.vmware.cis.session", "vapi-operation": "create"}, good, httpapi.RPCOperationMismatch, `"5"`},
		{"OversizedBody", nil, strings.Replace(good, `"appCtx":{`, `"appCtx":{"pad":"`+strings.Repeat("a", httpapi.MaxJSONRPCBody)+`"`, 1), httpapi.RPCInvalidRequest, "null"},
	}
	g := newRig(t, dynamotest.Engines(t)[0], nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g.calls.Reset()
			w := g.do(http.MethodPost, "/api", c.headers, c.body)
			a := sdkAnswer(t, w, c.id)
			if a.rpcErr == nil {
				t.Fatalf("want JSON-RPC error %d, got result %v", c.code, a.result)
			}
			if a.rpcErr.Code != c.code {
				t.Errorf("code %d, want %d: %s", a.rpcErr.Code, c.code, w.Body)
			}
			if calls := g.calls.Reset(); len(calls) > 0 {
				t.Errorf("DynamoDB calls %v, want none", calls)
			}
			if len(a.rpcErr.Data) > 200 {
				t.Errorf("error data of %d bytes: a fixed reason, never the request", len(a.rpcErr.Data))
			}
		})
	}
	// A body exactly at the limit is read and parsed.
	atLimit := strings.Replace(good, `"appCtx":{`, `"appCtx":{"pad":"`, 1)
	pad := httpapi.MaxJSONRPCBody - len(atLimit) - len(`",`)
	atLimit = strings.Replace(atLimit, `"pad":"`, `"pad":"`+strings.Repeat("a", pad)+`",`, 1)
	if len(atLimit) != httpapi.MaxJSONRPCBody {
		t.Fatalf("body of %d bytes", len(atLimit))
	}
	rpcUnauthenticated.check(t, sdkAnswer(t, g.do(http.MethodPost, "/api", nil, atLimit), `"5"`).vapiError(t))
}

// TestJSONRPCEchoesTheIDExactly: the answer's id is the request's, byte for
// byte, whether a string (the SDK's), a number or null.
func TestJSONRPCEchoesTheIDExactly(t *testing.T) {
	g := newRig(t, dynamotest.Engines(t)[0], nil)
	for _, id := range []string{`"0"`, `"41"`, `""`, `"<a&b>"`, `"\u00e9\n"`, `"é"`, `7`, `0`, `-12`, `1.5e3`, `12345678901234567890123`, `null`} {
		t.Run(id, func(t *testing.T) {
			body := strings.Replace(sessionBody("X", "get", "fedcba9876543210fedcba9876543210"), `"id":"X"`, `"id":`+id, 1)
			rpcUnauthenticated.check(t, sdkAnswer(t, g.rpc("get", body), id).vapiError(t))
			// The same for a JSON-RPC error that echoes the id.
			body = strings.Replace(body, `"method":"invoke"`, `"method":"Invoke"`, 1)
			if a := sdkAnswer(t, g.rpc("get", body), id); a.rpcErr == nil || a.rpcErr.Code != httpapi.RPCMethodNotFound {
				t.Errorf("want -32601, got %+v", a)
			}
		})
	}
}

// TestJSONRPCSessionsWorkOnEverySurface: a session made on any surface is
// got and deleted on each of the others.
func TestJSONRPCSessionsWorkOnEverySurface(t *testing.T) {
	g := newRig(t, dynamotest.Engines(t)[0], nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	creates := map[string]func() string{
		"jsonrpc": g.login,
		"api": func() string {
			w := g.do(http.MethodPost, "/api/session", map[string]string{"Authorization": basic}, "")
			var id string
			if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &id) != nil {
				t.Fatalf("POST /api/session: %d %s", w.Code, w.Body)
			}
			return id
		},
		"rest": func() string {
			w := g.do(http.MethodPost, "/rest/com/vmware/cis/session", map[string]string{"Authorization": basic, "vmware-use-header-authn": "true"}, "")
			var v struct{ Value string }
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &v) != nil {
				t.Fatalf("POST /rest session: %d %s", w.Code, w.Body)
			}
			return v.Value
		},
	}
	// get reports whether the session is live on a surface.
	gets := map[string]func(id string) bool{
		"jsonrpc": func(id string) bool {
			a := sdkAnswer(t, g.rpc("get", sessionBody("1", "get", id)), `"1"`)
			if _, ok := a.result["output"]; ok {
				infoOf(t, a.output(t))
				return true
			}
			rpcUnauthenticated.check(t, a.vapiError(t))
			return false
		},
		"api": func(id string) bool {
			return g.do(http.MethodGet, "/api/session", map[string]string{"vmware-api-session-id": id}, "").Code == http.StatusOK
		},
		"rest": func(id string) bool {
			return g.do(http.MethodGet, "/rest/com/vmware/cis/session", map[string]string{"vmware-api-session-id": id}, "").Code == http.StatusOK
		},
	}
	deletes := map[string]func(id string){
		"jsonrpc": func(id string) {
			if out := sdkAnswer(t, g.rpc("delete", sessionBody("2", "delete", id)), `"2"`).output(t); out.kind != "VOID" {
				t.Errorf("delete output %s", out.kind)
			}
		},
		"api": func(id string) {
			if w := g.do(http.MethodDelete, "/api/session", map[string]string{"vmware-api-session-id": id}, ""); w.Code != http.StatusNoContent {
				t.Errorf("DELETE /api/session: %d", w.Code)
			}
		},
		"rest": func(id string) {
			if w := g.do(http.MethodDelete, "/rest/com/vmware/cis/session", map[string]string{"vmware-api-session-id": id}, ""); w.Code != http.StatusOK {
				t.Errorf("DELETE /rest session: %d", w.Code)
			}
		},
	}
	surfaces := []string{"jsonrpc", "api", "rest"}
	for _, made := range surfaces {
		for _, deleted := range surfaces {
			if made != "jsonrpc" && deleted != "jsonrpc" {
				continue // the other surfaces among themselves are specified elsewhere
			}
			t.Run(made+"-deleted-on-"+deleted, func(t *testing.T) {
				id := creates[made]()
				logscan.Secret(id)
				for _, s := range surfaces {
					if !gets[s](id) {
						t.Errorf("a session made on %s is not live on %s", made, s)
					}
				}
				deletes[deleted](id)
				for _, s := range surfaces {
					if gets[s](id) {
						t.Errorf("a session deleted on %s is still live on %s", deleted, s)
					}
				}
			})
		}
	}
}

// TestJSONRPCKeepsTheSessionRules: the lockout, the per-user cap, the idle
// lifetime, and no oracle, exactly as on the other surfaces.
func TestJSONRPCKeepsTheSessionRules(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	t.Run("ALockedAccountIsRefusedWhateverThePassword", func(t *testing.T) {
		g := newRig(t, srv, map[string]string{"LOGIN_MAX_FAILURES": "2"})
		for i := range 2 { // two wrong passwords: the same one again counts once
			rpcUnauthenticated.check(t, sdkAnswer(t, g.rpc("create", createBody("0", user, fmt.Sprint("wrong-password-", i))), `"0"`).vapiError(t))
		}
		rpcUnauthenticated.check(t, sdkAnswer(t, g.rpc("create", createBody("0", user, password)), `"0"`).vapiError(t))
		g.clock.Advance(16 * time.Minute) // past the failure window
		secretOf(t, sdkAnswer(t, g.rpc("create", createBody("0", user, password)), `"0"`).output(t))
	})
	t.Run("CreatePastTheCapIsServiceUnavailableWithTheCount", func(t *testing.T) {
		g := newRig(t, srv, map[string]string{"MAX_SESSIONS_PER_USER": "1"})
		g.login()
		a := sdkAnswer(t, g.rpc("create", createBody("0", user, password)), `"0"`)
		wantVAPIError{"SERVICE_UNAVAILABLE", "com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached",
			"User session count is limited to 1. Existing session count is 1 for user " + user, []string{"1", "1", user}}.check(t, a.vapiError(t))
	})
	t.Run("AnIdleSessionIsGone", func(t *testing.T) {
		g := newRig(t, srv, nil)
		id := g.login()
		g.clock.Advance(29 * time.Minute)
		_, created, last := infoOf(t, sdkAnswer(t, g.rpc("get", sessionBody("1", "get", id)), `"1"`).output(t))
		if created != "2026-11-30T05:00:00.000Z" || last != "2026-11-30T05:29:00.000Z" {
			t.Errorf("created %s, last accessed %s: get must count as a use", created, last)
		}
		g.clock.Advance(31 * time.Minute)
		rpcUnauthenticated.check(t, sdkAnswer(t, g.rpc("get", sessionBody("1", "get", id)), `"1"`).vapiError(t))
	})
	t.Run("AWrongPasswordAndAnUnknownUserAnswerAlike", func(t *testing.T) {
		g := newRig(t, srv, nil)
		wrong := g.rpc("create", createBody("0", user, "wrong-password-1"))
		unknown := g.rpc("create", createBody("0", "nobody@vsphere.local", password))
		if wrong.Body.String() != unknown.Body.String() || !maps(wrong.Header(), unknown.Header()) {
			t.Errorf("answers differ:\n%s %v\n%s %v", wrong.Body, wrong.Header(), unknown.Body, unknown.Header())
		}
	})
	t.Run("TheSDKsSecondDeleteIsAnsweredUnauthenticated", func(t *testing.T) {
		g := newRig(t, srv, nil)
		id := g.login()
		for i, want := range []string{"VOID", "UNAUTHENTICATED"} {
			a := sdkAnswer(t, g.rpc("delete", sessionBody(fmt.Sprint(i+1), "delete", id)), fmt.Sprintf(`"%d"`, i+1))
			if want == "VOID" {
				if out := a.output(t); out.kind != want {
					t.Errorf("first delete: %s", out.kind)
				}
				continue
			}
			rpcUnauthenticated.check(t, a.vapiError(t))
		}
	})
	t.Run("ACallWithoutASecurityContextMayPresentTheSessionHeader", func(t *testing.T) {
		g := newRig(t, srv, nil)
		id := g.login()
		body := `{"jsonrpc":"2.0","method":"invoke","id":"1","params":{"serviceId":"com.vmware.cis.session","operationId":"get","input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{}}}}`
		h := sdkHeaders("get")
		h["vmware-api-session-id"] = id
		infoOf(t, sdkAnswer(t, g.do(http.MethodPost, "/api", h, body), `"1"`).output(t))
		// A security context, when there is one, is what counts.
		rpcUnauthenticated.check(t, sdkAnswer(t, g.do(http.MethodPost, "/api", h, sessionBody("1", "get", "fedcba9876543210fedcba9876543210")), `"1"`).vapiError(t))
	})
}

func maps(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestJSONRPCBackendFailureIsServiceUnavailable: a storage failure is the vAPI
// service_unavailable error in result.error (HTTP 200), disclosing nothing.
func TestJSONRPCBackendFailureIsServiceUnavailable(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	cfg := f.Config(t, nil)
	cfg.SessionsTable, cfg.UsersTable = "no-such-sessions", "no-such-users"
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(&logs, logscan.Writer()), nil))
	h := logscan.Recording(httpapi.New(local.Service(cfg, f.DB), log))
	for _, c := range []struct{ op, body string }{
		{"create", createBody("0", user, password)},
		{"get", sessionBody("1", "get", "0123456789abcdef0123456789abcdef")},
		{"delete", sessionBody("2", "delete", "0123456789abcdef0123456789abcdef")},
	} {
		t.Run(c.op, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(c.body))
			for k, v := range sdkHeaders(c.op) {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var id struct{ ID json.RawMessage }
			_ = json.Unmarshal([]byte(c.body), &id)
			rpcUnavailable.check(t, sdkAnswer(t, w, string(id.ID)).vapiError(t))
			if strings.Contains(w.Body.String(), "no-such") {
				t.Errorf("the answer discloses the backend: %s", w.Body)
			}
		})
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a backend failure is not logged as an error:\n%s", logs.String())
	}
}

// TestJSONRPCOnlyPOSTsToAPI: other methods on /api are vAPI errors of the
// /api surface, and no other path is JSON-RPC.
func TestJSONRPCOnlyPOSTsToAPI(t *testing.T) {
	g := newRig(t, dynamotest.Engines(t)[0], nil)
	for _, c := range []struct {
		method, path string
		status       int
		errorType    string
	}{
		{http.MethodGet, "/api", http.StatusNotFound, "OPERATION_NOT_FOUND"},
		{http.MethodPut, "/api", http.StatusNotFound, "OPERATION_NOT_FOUND"},
		{http.MethodPost, "/api/", http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPost, "/rest", http.StatusNotFound, "NOT_FOUND"},
	} {
		w := g.do(c.method, c.path, sdkHeaders("create"), createBody("0", user, password))
		var e struct {
			ErrorType string `json:"error_type"`
		}
		if w.Code != c.status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.ErrorType != c.errorType {
			// /rest errors are wrapped; they only need to be no JSON-RPC answer.
			if c.path != "/rest" || w.Code != c.status || strings.Contains(w.Body.String(), "jsonrpc") {
				t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, w.Code, w.Body, c.status, c.errorType)
			}
		}
	}
}

// TestJSONRPCNeverLogsABodyOrASecret: whatever a call carries, the log has
// neither the password nor a session id (the scan at the end checks every
// test; this one says so where it is broken).
func TestJSONRPCNeverLogsABodyOrASecret(t *testing.T) {
	g := newRig(t, dynamotest.Engines(t)[0], map[string]string{"LOGIN_MAX_FAILURES": "0"})
	id := g.login()
	g.rpc("get", sessionBody("1", "get", id))
	g.rpc("create", createBody("0", user, "another-Secret-9"))
	g.rpc("create", `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"password":"another-Secret-9"`)
	g.rpc("create", strings.Replace(createBody("0", user, "another-Secret-9"), `"invoke"`, `"another-Secret-9"`, 1))
	g.rpc("delete", sessionBody("2", "delete", id))
	g.mu.Lock()
	logs := g.logs.String()
	g.mu.Unlock()
	for _, secret := range []string{password, "another-Secret-9", id} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret (%.4s…):\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"surface":"jsonrpc"`) || !strings.Contains(logs, `"path":"/api"`) {
		t.Errorf("the JSON-RPC calls are not logged as such:\n%s", logs)
	}
}
