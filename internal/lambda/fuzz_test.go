package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// The fuzz user's password is hashed cheaply, so that the fuzzer spends its
// time on inputs, not on argon2. Everything else is as deployed.
const (
	fuzzUser = "fuzz@vsphere.local"
	fuzzPass = "fuzz-password-1"
	// liveToken in a session id stands for a live session's token.
	liveToken = "$TOKEN"
)

var cheapArgon2 = argon2id.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// FuzzInvoke drives the whole path from an API Gateway event to the
// response, over a real engine. Whatever the event, the function never
// panics, never answers a 5xx, and answers either a well-formed vAPI error
// or a correct success; input too big to be credentials or a session id is
// refused before any password check or storage request; and no event is
// left unanswered by the handler.
//
// version picks the payload: 0 an HTTP API (2.0) event, 1 a REST API (1.0)
// event, 2 the body as the raw event. header is one more "Name: value".
func FuzzInvoke(f *testing.F) {
	cs := newProxiedStack(f, dynamotest.Engines(f)[0])
	cs.budget = time.Minute
	// The limits are not what this fuzzes: under a clock that stands still
	// its log-ins would reach the session cap, and its wrong guesses would
	// lock the fuzz user out. Hashing is held to the cheap cost the fuzz
	// user is stored at, so that no log-in upgrades its hash.
	cs.svc.Lockout = session.Lockout{}
	cs.svc.MaxSessionsPerUser = 0
	cs.passwords.Passwords = argon2id.Hasher{Params: cheapArgon2}
	hash, err := argon2id.Hash(fuzzPass, cheapArgon2)
	if err != nil {
		f.Fatal(err)
	}
	users := &dynamo.Users{DB: cs.fixture.DB, Table: cs.fixture.Tables.Users}
	if err := users.Add(context.Background(), session.User{Name: fuzzUser, PasswordHash: hash}, time.Now()); err != nil {
		f.Fatal(err)
	}
	cs.passwords.Passwords = argon2id.Hasher{Params: cheapArgon2}
	logscan.Secret(fuzzPass)
	fuzzAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(fuzzUser+":"+fuzzPass))
	logscan.Secret(strings.TrimPrefix(fuzzAuth, "Basic "))

	// More seeds, the odd ones, are in testdata/fuzz/FuzzInvoke.
	f.Add(uint8(0), "POST", "/api/session", "", fuzzAuth, "", "", "", false)
	f.Add(uint8(0), "GET", "/api/session", "", "", liveToken, "Content-Type: application/json", "{}", false)
	f.Add(uint8(1), "DELETE", "/api/session", "", "", liveToken, "", "", false)

	login, _ := json.Marshal(v2Event("POST", "/api/session", map[string]string{"authorization": fuzzAuth}, ""))

	// Within the target only t may be used: the stack's helpers, which
	// report to f, may not.
	f.Fuzz(func(t *testing.T, version uint8, method, path, query, authorization, sessionID, header, body string, base64Body bool) {
		if strings.Contains(sessionID, liveToken) {
			r, err := cs.call(login)
			if err != nil || r.Status != 201 {
				t.Fatalf("log-in for a live token: %+v, %v", r, err)
			}
			sessionID = strings.ReplaceAll(sessionID, liveToken, strings.Trim(r.Body, `"`))
		}
		headers := map[string]string{}
		if name, value, ok := strings.Cut(header, ":"); ok {
			headers[name] = strings.TrimPrefix(value, " ")
		}
		if authorization != "" {
			headers["Authorization"] = authorization
		}
		if sessionID != "" {
			headers[httpapi.HeaderSessionID] = sessionID
		}
		var payload []byte
		switch version % 3 {
		case 0:
			ev := v2Event(method, path, headers, body)
			ev.RawQueryString, ev.IsBase64Encoded = query, base64Body
			payload, _ = json.Marshal(ev)
		case 1:
			ev := v1Event(method, path, headers, body)
			ev.MultiValueQueryStringParameters, _ = url.ParseQuery(query)
			ev.IsBase64Encoded = base64Body
			payload, _ = json.Marshal(ev)
		case 2:
			payload = []byte(body)
		}

		requests, checks := cs.cost()
		logged := len(cs.logs.String())
		r, err := cs.call(payload)
		// An event the handler left unanswered is our bug.
		if strings.Contains(cs.logs.String()[logged:], lambda.ReasonAdapterRefused) {
			t.Errorf("the handler left the event unanswered")
		}
		if err != nil {
			// Only an event that is not one at all fails the invocation:
			// there is no client to answer.
			var probe map[string]any
			if version%3 != 2 || json.Unmarshal(payload, &probe) == nil {
				t.Fatalf("invoke failed: %v", err)
			}
			return
		}
		checkAnswer(t, r, surfaceOf(version, path))

		// Credentials or a session id too big to be real cost nothing.
		moreRequests, moreChecks := cs.cost()
		if version%3 != 2 && !couldBeCredentials(authorization) {
			if moreChecks != checks {
				t.Errorf("a password was checked for Authorization of %d bytes", len(authorization))
			}
			if _, ok := session.ParseToken(strings.TrimSpace(sessionID)); !ok && moreRequests != requests {
				t.Errorf("%d storage requests for neither credentials nor a session id", moreRequests-requests)
			}
		}
	})
}

// couldBeCredentials reports whether an Authorization value is within the
// limits of Basic credentials.
func couldBeCredentials(authorization string) bool {
	if len(authorization) > httpapi.MaxAuthorizationLen {
		return false
	}
	scheme, b64, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return ok && len(user) <= session.MaxUserLen && len(pass) <= session.MaxPasswordLen
}

// errorTypes are the vAPI error types each status may carry.
var errorTypes = map[int][]string{
	400: {"INVALID_REQUEST"},
	401: {"UNAUTHENTICATED"},
	404: {"NOT_FOUND", "OPERATION_NOT_FOUND"},
}

// surface names the wire form an answer must take: "api", "rest", or ""
// when the event is raw bytes whose path the fuzzer does not know.
type surface string

// surfaceOf is the surface the handler serves an event's path on: /rest and
// below is the legacy one.
func surfaceOf(version uint8, path string) surface {
	if version%3 == 2 {
		return ""
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if path == "/rest" || strings.HasPrefix(path, "/rest/") {
		return "rest"
	}
	return "api"
}

// checkAnswer fails unless r is a correct success or a well-formed vAPI
// error, in the form of surface s, of a status a healthy service may send.
func checkAnswer(t *testing.T, r response, s surface) {
	t.Helper()
	if s == "" {
		s = "api"
		if strings.HasPrefix(r.Body, `{"value":`) || strings.HasPrefix(r.Body, `{"type":`) || r.Status == 200 && r.Body == "" {
			s = "rest"
		}
	}
	if s == "rest" {
		checkLegacyAnswer(t, r)
		return
	}
	if r.header("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header("Cache-Control"))
	}
	switch r.Status {
	case 201:
		if !tokenRE.MatchString(r.Body) {
			t.Fatalf("201 body %q is not a token", r.Body)
		}
	case 200:
		var info map[string]string
		if json.Unmarshal([]byte(r.Body), &info) != nil || len(info) != 3 || info["user"] == "" ||
			!timeRE.MatchString(info["created_time"]) || !timeRE.MatchString(info["last_accessed_time"]) {
			t.Fatalf("200 body %q is not a Cis.Session.Info", r.Body)
		}
	case 204:
		if r.Body != "" {
			t.Fatalf("204 with body %q", r.Body)
		}
	default:
		types, ok := errorTypes[r.Status]
		if !ok {
			t.Fatalf("status %d (body %q): a healthy service answers 200, 201, 204, 400, 401 or 404", r.Status, r.Body)
		}
		wantError(t, r, r.Status, types...)
	}
}

// checkLegacyAnswer is checkAnswer for the /rest surface: successes are 200
// with {"value": token}, {"value": info} or nothing (log-out); errors are
// wrapped.
func checkLegacyAnswer(t *testing.T, r response) {
	t.Helper()
	if r.header("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header("Cache-Control"))
	}
	if r.Status == 200 {
		if r.Body == "" {
			return
		}
		var value struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal([]byte(r.Body), &value) != nil {
			t.Fatalf("200 body %q is not {\"value\": …}", r.Body)
		}
		if tokenRE.Match(value.Value) {
			return
		}
		legacyInfo(t, r)
		return
	}
	types, ok := errorTypes[r.Status]
	if !ok {
		t.Fatalf("status %d (body %q): a healthy service answers 200, 400, 401 or 404 on /rest", r.Status, r.Body)
	}
	var e legacyError
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("not a wrapped vAPI error: %q", r.Body)
	}
	for _, typ := range types {
		if e.Type == "com.vmware.vapi.std.errors."+strings.ToLower(typ) {
			wantLegacyError(t, r, r.Status, strings.ToLower(typ))
			return
		}
	}
	t.Fatalf("status %d with error %q, want one of %v", r.Status, e.Type, types)
}
