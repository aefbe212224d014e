package lambda_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// Every log line of every test here is scanned, when the tests end, for the
// tokens and passwords the tests used.
func TestMain(m *testing.M) { os.Exit(logscan.Main(m, dynamotest.Main)) }

const (
	adminName = "Administrator@vsphere.local"
	adminPass = "VMware1!-test"
)

// clock is a settable time source shared by the stack under test.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	from func() time.Time // when set, the time comes from here instead
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.from != nil {
		return c.from()
	}
	return c.now
}

// set makes the clock read from instead of standing still.
func (c *clock) set(from func() time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.from = from }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stack is the service wired exactly as a function wires it, over a real
// engine, driven through the Lambda entry point.
type stack struct {
	t     testing.TB
	svc   *session.Service // the service fn serves; tests may swap its parts before use
	fn    *lambda.Handler
	clock *clock
	logs  *syncBuffer
	seq   atomic.Int64
	count *dynamotest.Recorder // the engine's requests on the wire, when made by newCountingStack
	// budget, when set, is the time each invocation gets, as the Lambda
	// runtime gives it: the context's deadline.
	budget time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newStack(t testing.TB, f dynamotest.Fixture, ops ...httpapi.Operation) *stack {
	t.Helper()
	return newStackWith(t, f, f.DB, nil, ops...)
}

// newStackOver is newStack with the service's storage calls going through
// db (a client of a fault proxy, say) while the fixture is set up directly.
func newStackOver(t testing.TB, f dynamotest.Fixture, db dynamo.API, ops ...httpapi.Operation) *stack {
	t.Helper()
	return newStackWith(t, f, db, nil, ops...)
}

// newStackWith is newStack with extra environment for the configuration,
// and the service's requests going through db.
func newStackWith(t testing.TB, f dynamotest.Fixture, db dynamo.API, env map[string]string, ops ...httpapi.Operation) *stack {
	t.Helper()
	cfg := f.Config(t, env)
	f.AddUser(t, adminName, adminPass)
	st := &stack{t: t, clock: &clock{now: time.Date(2026, 7, 16, 7, 18, 48, 517_000_000, time.UTC)}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(st.logs, logscan.Writer()), nil))
	st.svc = local.Service(cfg, db)
	st.svc.Now = st.clock.Now
	st.fn = lambda.NewHandler(httpapi.New(st.svc, log, ops...), log)
	return st
}

type response struct {
	Status  int
	Headers map[string]string
	Body    string
	Cookies []string
}

func (r response) header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// v2 sends an HTTP API (payload 2.0) event.
func (s *stack) v2(method, path string, headers map[string]string, body string) response {
	s.t.Helper()
	return s.v2req(request{method: method, path: path, headers: headers, body: body})
}

// request is one HTTP API request as API Gateway hands it over: the query
// string raw, and the Cookie header split into the event's cookies.
type request struct {
	method, path, query string
	headers             map[string]string
	cookies             []string
	body                string
}

// v2req sends an HTTP API (payload 2.0) event for req.
func (s *stack) v2req(req request) response {
	s.t.Helper()
	return s.invoke(req.v2Event())
}

// v2Event is an HTTP API (payload 2.0) event as an HTTP API sends it: the
// adapter serves it, though the deployed stack (a REST API) sends v1Event's.
func v2Event(method, path string, headers map[string]string, body string) events.APIGatewayV2HTTPRequest {
	return request{method: method, path: path, headers: headers, body: body}.v2Event()
}

func (req request) v2Event() events.APIGatewayV2HTTPRequest {
	method, path := req.method, req.path
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       method + " " + path,
		RawPath:        path,
		RawQueryString: req.query,
		Cookies:        req.cookies,
		Headers:        req.headers,
		Body:           req.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			RequestID:  "gw-req",
			Stage:      "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "192.0.2.1",
			},
		},
	}
}

// v1 sends a REST API (payload 1.0) event.
func (s *stack) v1(method, path string, headers map[string]string) response {
	s.t.Helper()
	return s.v1req(request{method: method, path: path, headers: headers})
}

// v1req sends a REST API (payload 1.0) event for req: the query parsed into
// parameters and the cookies in one Cookie header, as that API hands them over.
func (s *stack) v1req(req request) response {
	s.t.Helper()
	ev, err := req.v1Event()
	if err != nil {
		s.t.Fatal(err)
	}
	return s.invoke(ev)
}

// v1Event is a REST API (payload 1.0) event as API Gateway sends it: what
// the deployed stack's functions get.
func v1Event(method, path string, headers map[string]string, body string) events.APIGatewayProxyRequest {
	ev, _ := request{method: method, path: path, headers: headers, body: body}.v1Event()
	return ev
}

func (req request) v1Event() (events.APIGatewayProxyRequest, error) {
	method, path := req.method, req.path
	headers := maps.Clone(req.headers)
	if len(req.cookies) > 0 {
		if headers == nil {
			headers = map[string]string{}
		}
		headers["Cookie"] = strings.Join(req.cookies, "; ")
	}
	mv := map[string][]string{}
	for k, v := range headers {
		mv[k] = []string{v}
	}
	query, err := url.ParseQuery(req.query)
	if err != nil {
		return events.APIGatewayProxyRequest{}, fmt.Errorf("v1 query %q: %v", req.query, err)
	}
	return events.APIGatewayProxyRequest{
		Resource: path, Path: path, HTTPMethod: method,
		Headers: headers, MultiValueHeaders: mv, Body: req.body,
		MultiValueQueryStringParameters: query,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "gw-req", Stage: "prod", HTTPMethod: method, ResourcePath: path,
			DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
		},
	}, nil
}

func (s *stack) invoke(ev any) response {
	s.t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.invokeRaw(payload)
}

func (s *stack) invokeRaw(payload []byte) response {
	s.t.Helper()
	r, err := s.call(payload)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// errLate is an answer given after the invocation's deadline: the Lambda
// runtime would have killed the function instead.
var errLate = errors.New("answered after the invocation deadline")

// call invokes the function as the Lambda runtime does, with a request id
// and, when the stack has a budget, a deadline. It is safe for concurrent
// use; every token it sees issued is recorded for the log scan.
func (s *stack) call(payload []byte) (response, error) {
	n := s.seq.Add(1)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("lambda-req-%d", n)})
	if s.budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.budget)
		defer cancel()
	}
	out, err := s.fn.Invoke(ctx, payload)
	if ctx.Err() != nil {
		return response{}, errLate
	}
	if err != nil {
		return response{}, fmt.Errorf("invoke: %w", err)
	}
	r, err := parseResponse(out)
	if err != nil {
		return response{}, err
	}
	logscan.SecretsIn(r.Body)
	logscan.SecretsIn(strings.Join(r.Cookies, " "))
	return r, nil
}

// parseResponse reads the function's answer to an API Gateway event.
func parseResponse(out []byte) (response, error) {
	var r response
	var raw struct {
		StatusCode        int                 `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
		Cookies           []string            `json:"cookies"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return r, fmt.Errorf("response is not JSON: %v: %s", err, out)
	}
	r.Status, r.Headers, r.Body, r.Cookies = raw.StatusCode, raw.Headers, raw.Body, raw.Cookies
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	for k, v := range raw.MultiValueHeaders {
		if _, ok := r.Headers[k]; !ok {
			r.Headers[k] = strings.Join(v, ",")
		}
	}
	if raw.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			return r, fmt.Errorf("response body marked base64 is not: %v", err)
		}
		r.Body = string(b)
	}
	return r, nil
}

// basic returns the Authorization header of Basic credentials, recording
// the password and the header for the log scan.
func basic(user, pass string) map[string]string {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	logscan.Secret(pass)
	logscan.Secret(strings.TrimPrefix(auth, "Basic "))
	return map[string]string{"authorization": auth}
}

func sid(id string) map[string]string { return map[string]string{"vmware-api-session-id": id} }

var tokenRE = regexp.MustCompile(`^"[0-9a-f]{32}"$`)
var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// login logs in and returns the token.
func (s *stack) login() string {
	s.t.Helper()
	r := s.v2("POST", "/api/session", basic(adminName, adminPass), "")
	if r.Status != 201 || !tokenRE.MatchString(r.Body) {
		s.t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	return strings.Trim(r.Body, `"`)
}

// message is a vAPI LocalizableMessage, as both surfaces carry it.
type message struct {
	Args           []string `json:"args"`
	DefaultMessage string   `json:"default_message"`
	ID             string   `json:"id"`
}

type vapiError struct {
	ErrorType string    `json:"error_type"`
	Messages  []message `json:"messages"`
	Challenge *string   `json:"challenge"`
}

// wantErrorStatus checks the status and content type of an error answer.
func wantErrorStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.header("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// wantErrorContent checks what a vAPI error carries on either surface:
// well-formed messages and, on a 401, the challenge in body and header.
func wantErrorContent(t *testing.T, r response, messages []message, challenge *string) {
	t.Helper()
	for _, m := range messages {
		if m.ID == "" || m.DefaultMessage == "" || m.Args == nil {
			t.Fatalf("malformed message in %s", r.Body)
		}
	}
	if r.Status == 401 {
		if challenge == nil || *challenge != `Basic realm="VAPI endpoint"` {
			t.Fatalf("401 without the challenge: %s", r.Body)
		}
		if got := r.header("WWW-Authenticate"); got != *challenge {
			t.Fatalf("WWW-Authenticate = %q, want the body's challenge", got)
		}
	}
}

// wantError checks a well-formed vAPI error of the given type and status.
func wantError(t *testing.T, r response, status int, errorTypes ...string) vapiError {
	t.Helper()
	wantErrorStatus(t, r, status)
	var e vapiError
	dec := json.NewDecoder(strings.NewReader(r.Body))
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body is not a vAPI error: %v: %s", err, r.Body)
	}
	if !slices.Contains(errorTypes, e.ErrorType) || len(e.Messages) == 0 {
		t.Fatalf("error = %s, want error_type %s with messages", r.Body, strings.Join(errorTypes, " or "))
	}
	wantErrorContent(t, r, e.Messages, e.Challenge)
	return e
}

func TestSessionLifecycleThroughLambda(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))

		r := st.v2("POST", "/api/session", basic(adminName, adminPass), "")
		if r.Status != 201 || !tokenRE.MatchString(r.Body) {
			t.Fatalf("login = %d %q, want 201 and a bare JSON string of 32 hex digits", r.Status, r.Body)
		}
		if r.header("Cache-Control") != "no-store" {
			t.Errorf("login Cache-Control = %q, want no-store", r.header("Cache-Control"))
		}
		tok := strings.Trim(r.Body, `"`)
		created := st.clock.Now()

		st.clock.Advance(90*time.Second + 250*time.Millisecond)
		r = st.v2("GET", "/api/session", sid(tok), "")
		if r.Status != 200 {
			t.Fatalf("get = %d %s", r.Status, r.Body)
		}
		var info map[string]string
		if err := json.Unmarshal([]byte(r.Body), &info); err != nil || len(info) != 3 {
			t.Fatalf("get body %s: %v", r.Body, err)
		}
		if info["user"] != adminName {
			t.Errorf("user = %q, want %q", info["user"], adminName)
		}
		for _, k := range []string{"created_time", "last_accessed_time"} {
			if !timeRE.MatchString(info[k]) {
				t.Errorf("%s = %q, not RFC 3339 UTC with milliseconds", k, info[k])
			}
		}
		if want := created.Format(httpapi.TimeFormat); info["created_time"] != want {
			t.Errorf("created_time = %s, want %s", info["created_time"], want)
		}
		if want := st.clock.Now().Format(httpapi.TimeFormat); info["last_accessed_time"] != want {
			t.Errorf("last_accessed_time = %s, want now %s", info["last_accessed_time"], want)
		}

		st.clock.Advance(time.Minute)
		r = st.v2("GET", "/api/session", sid(tok), "")
		var info2 map[string]string
		_ = json.Unmarshal([]byte(r.Body), &info2)
		if info2["created_time"] != info["created_time"] || info2["last_accessed_time"] <= info["last_accessed_time"] {
			t.Fatalf("second get: %v after %v: created must stay, last access must move", info2, info)
		}

		r = st.v2("DELETE", "/api/session", sid(tok), "")
		if r.Status != 204 || r.Body != "" {
			t.Fatalf("delete = %d %q, want 204 and no body", r.Status, r.Body)
		}
		wantError(t, st.v2("GET", "/api/session", sid(tok), ""), 401, "UNAUTHENTICATED")
		wantError(t, st.v2("DELETE", "/api/session", sid(tok), ""), 401, "UNAUTHENTICATED")
	})
}

func TestLoginFailuresAreOneIndistinguishableAnswer(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		cases := []struct {
			name    string
			headers map[string]string
		}{
			{"WrongPassword", basic(adminName, "wrong-password-1")},
			{"UnknownUser", basic("nobody@vsphere.local", adminPass)},
			{"UnknownDomain", basic("Administrator@other.local", adminPass)},
			{"NoAuthorization", nil},
			{"NotBasic", map[string]string{"authorization": "Bearer abc"}},
			{"BadBase64", map[string]string{"authorization": "Basic !!!notbase64"}},
			{"NoColon", map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("justauser"))}},
			{"EmptyUser", basic("", adminPass)},
			{"HugeHeader", basic(strings.Repeat("a", 10000), "x")},
			{"NonUTF8User", basic("adm\xffin", adminPass)},
		}
		var first string
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := st.v2("POST", "/api/session", c.headers, "")
				wantError(t, r, 401, "UNAUTHENTICATED")
				if first == "" {
					first = r.Body
				} else if r.Body != first {
					t.Fatalf("body differs from the other failures:\n%s\n%s", r.Body, first)
				}
			})
		}
	})
}

func TestLoginAcceptsNameForms(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		for _, name := range []string{"administrator", "ADMINISTRATOR@VSPHERE.LOCAL", `vsphere.local\Administrator`} {
			r := st.v2("POST", "/api/session", basic(name, adminPass), "")
			if r.Status != 201 {
				t.Fatalf("login as %q = %d %s", name, r.Status, r.Body)
			}
			g := st.v2("GET", "/api/session", sid(strings.Trim(r.Body, `"`)), "")
			if !strings.Contains(g.Body, `"user":"`+adminName+`"`) {
				t.Fatalf("login as %q: session user %s, want the stored canonical name", name, g.Body)
			}
		}
	})
}

func TestGetWithoutALiveSessionIsUnauthenticated(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		unknown, _ := session.NewToken()
		cases := []struct {
			name    string
			headers map[string]string
		}{
			{"NoHeader", nil},
			{"Empty", sid("")},
			{"Unknown", sid(string(unknown))},
			{"TooShort", sid("abc")},
			{"NotHex", sid(strings.Repeat("z", 32))},
			{"Huge", sid(strings.Repeat("a", 100000))},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, st.v2("GET", "/api/session", c.headers, ""), 401, "UNAUTHENTICATED")
				wantError(t, st.v2("DELETE", "/api/session", c.headers, ""), 401, "UNAUTHENTICATED")
			})
		}
		t.Run("IdleTimeout", func(t *testing.T) {
			tok := st.login()
			st.clock.Advance(29 * time.Minute)
			if r := st.v2("GET", "/api/session", sid(tok), ""); r.Status != 200 {
				t.Fatalf("get within the idle timeout = %d", r.Status)
			}
			st.clock.Advance(30 * time.Minute)
			wantError(t, st.v2("GET", "/api/session", sid(tok), ""), 401, "UNAUTHENTICATED")
		})
		t.Run("AbsoluteLifetime", func(t *testing.T) {
			tok := st.login()
			end := st.clock.Now().Add(24 * time.Hour)
			// Kept alive every 29 minutes, it lives until its absolute end...
			for st.clock.Now().Add(29 * time.Minute).Before(end) {
				st.clock.Advance(29 * time.Minute)
				if r := st.v2("GET", "/api/session", sid(tok), ""); r.Status != 200 {
					t.Fatalf("kept-alive session died %v before its absolute end: %d", end.Sub(st.clock.Now()), r.Status)
				}
			}
			// ...and not a millisecond longer.
			st.clock.Advance(end.Sub(st.clock.Now()))
			wantError(t, st.v2("GET", "/api/session", sid(tok), ""), 401, "UNAUTHENTICATED")
		})
	})
}

func TestClientQuirksAreAccepted(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		tok := st.login()
		h := map[string]string{
			"VMWARE-API-SESSION-ID": tok,
			"content-type":          "application/json",
			"vapi-ctx-opid":         "op-1234",
			"accept-encoding":       "gzip",
		}
		if r := st.v2("GET", "/api/session", h, "{}"); r.Status != 200 {
			t.Fatalf("get with a {} body and upper-case header = %d %s", r.Status, r.Body)
		}
		if r := st.v2("DELETE", "/api/session", h, "{}"); r.Status != 204 {
			t.Fatalf("delete with a {} body = %d %s", r.Status, r.Body)
		}
	})
}

func TestRESTAPIPayloadIsServed(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		r := st.v1("POST", "/api/session", basic(adminName, adminPass))
		if r.Status != 201 || !tokenRE.MatchString(r.Body) {
			t.Fatalf("v1 login = %d %s", r.Status, r.Body)
		}
		tok := strings.Trim(r.Body, `"`)
		if r := st.v1("GET", "/api/session", sid(tok)); r.Status != 200 || !strings.Contains(r.Body, adminName) {
			t.Fatalf("v1 get = %d %s", r.Status, r.Body)
		}
		wantError(t, st.v1("GET", "/api/session", nil), 401, "UNAUTHENTICATED")
		if r := st.v1("DELETE", "/api/session", sid(tok)); r.Status != 204 {
			t.Fatalf("v1 delete = %d %s", r.Status, r.Body)
		}
	})
}

func TestUnknownRoutesAreVAPIErrors(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		st := newStack(t, dynamotest.Setup(t, srv))
		wantError(t, st.v2("GET", "/api/nothing", nil, ""), 404, "NOT_FOUND")
		wantError(t, st.v2("GET", "//api/session", nil, ""), 404, "NOT_FOUND")
		wantError(t, st.v2("PUT", "/api/session", nil, ""), 404, "OPERATION_NOT_FOUND")
		wantError(t, st.v2("PATCH", "/api/session", nil, ""), 404, "OPERATION_NOT_FOUND")
		// HEAD is no operation: it must not read, or touch, the session.
		tok := st.login()
		wantError(t, st.v2("HEAD", "/api/session", sid(tok), ""), 404, "OPERATION_NOT_FOUND")
	})
}

func TestMalformedEventsAreBadRequests(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	st := newStack(t, dynamotest.Setup(t, srv))
	cases := map[string]string{
		"BadBase64Body":     `{"version":"2.0","rawPath":"/api/session","isBase64Encoded":true,"body":"%%%","requestContext":{"http":{"method":"GET","path":"/api/session"}}}`,
		"BadMethod":         `{"version":"2.0","rawPath":"/api/session","requestContext":{"http":{"method":"G E T","path":"/api/session"}}}`,
		"HeadersNotStrings": `{"version":"2.0","rawPath":"/api/session","headers":{"a":1},"requestContext":{"http":{"method":"GET"}}}`,
		"V1BadBase64":       `{"httpMethod":"GET","path":"/api/session","isBase64Encoded":true,"body":"%%%"}`,
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			wantError(t, st.invokeRaw([]byte(payload)), 400, "INVALID_REQUEST")
		})
	}
}

func TestEachFunctionServesOnlyItsOperation(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	full := newStack(t, f)
	tok := full.login()
	get := newStack(t, f, httpapi.OpGet)
	wantError(t, get.v2("POST", "/api/session", basic(adminName, adminPass), ""), 404, "OPERATION_NOT_FOUND")
	wantError(t, get.v2("DELETE", "/api/session", sid(tok), ""), 404, "OPERATION_NOT_FOUND")
	if r := get.v2("GET", "/api/session", sid(tok), ""); r.Status != 200 {
		t.Fatalf("get function's get = %d", r.Status)
	}
}

func TestBackendFailureIsServiceUnavailableAndDisclosesNothing(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	st := newStack(t, f)
	tok := st.login()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	down := newStack(t, dynamotest.Fixture{Engine: srv, DB: f.DB, Tables: f.Tables})
	svc := local.Service(f.Config(t, nil), db)
	log := slog.New(slog.NewJSONHandler(down.logs, nil))
	down.fn = lambda.NewHandler(httpapi.New(svc, log), log)
	for _, c := range []struct {
		legacy bool
		r      response
	}{
		{false, down.v2("POST", "/api/session", basic(adminName, adminPass), "")},
		{false, down.v2("GET", "/api/session", sid(tok), "")},
		{false, down.v2("DELETE", "/api/session", sid(tok), "")},
		{true, down.v2("POST", restPath, basic(adminName, adminPass), "")},
		{true, down.v2req(request{method: "POST", path: restPath, query: "~action=get", headers: sid(tok)})},
		{true, down.v2req(request{method: "GET", path: restPath, cookies: []string{"vmware-api-session-id=" + tok}})},
		{true, down.v2("DELETE", restPath, sid(tok), "")},
	} {
		r := c.r
		if c.legacy {
			wantLegacyError(t, r, 503, "service_unavailable")
		} else {
			wantError(t, r, 503, "SERVICE_UNAVAILABLE")
		}
		for _, leak := range []string{"127.0.0.1", "dial", "connect", "dynamodb", f.Tables.Sessions} {
			if strings.Contains(strings.ToLower(r.Body), strings.ToLower(leak)) {
				t.Fatalf("503 body discloses %q: %s", leak, r.Body)
			}
		}
	}
	if !strings.Contains(down.logs.String(), "connect") && !strings.Contains(down.logs.String(), "dial") {
		t.Fatalf("the log does not carry the backend failure:\n%s", down.logs.String())
	}
}

func TestLogsCarryRequestIDAndNoSecrets(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	st := newStack(t, dynamotest.Setup(t, srv))
	tok := st.login()
	st.v2("GET", "/api/session", sid(tok), "")
	st.v2("POST", "/api/session", basic(adminName, "not-the-"+adminPass), "")
	st.v2("DELETE", "/api/session", sid(tok), "")
	r := st.v2("POST", restPath, basic(adminName, adminPass), "")
	cookie := sessionCookie(t, r)
	if cookie == nil {
		t.Fatalf("/rest login set no cookie: %d %s", r.Status, r.Body)
	}
	st.v2req(request{method: "GET", path: restPath, cookies: []string{cookie.Name + "=" + cookie.Value}})
	st.v2req(request{method: "DELETE", path: restPath, cookies: []string{cookie.Name + "=" + cookie.Value}})
	logs := st.logs.String()
	for _, secret := range []string{tok, cookie.Value, adminPass, base64.StdEncoding.EncodeToString([]byte(adminName + ":" + adminPass))} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret reached the log:\n%s", logs)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if id, _ := rec["request_id"].(string); !strings.HasPrefix(id, "lambda-req-") {
			t.Fatalf("log line without the Lambda request id: %s", line)
		}
	}
}
