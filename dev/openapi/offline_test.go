package openapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cis-session/cis-session/dev/gateway"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// answersMakeRunCannotGive checks the answers the document declares that
// `make run` never gives, produced by the code that gives them when
// deployed, and records them as seen:
//
//   - 400 on /api/session: the Lambda adapter's answer to an event that is
//     no well-formed HTTP request (internal/lambda), for each operation;
//   - 502 behind the front door: the gateway's answer when the upstream
//     does not answer (dev/gateway, as template.yaml's integration fails),
//     for each method of both surfaces.
func answersMakeRunCannotGive(t *testing.T, c *client) {
	t.Run("TheLambdaAdaptersBadRequest", func(t *testing.T) {
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		h := lambda.NewHandler(httpapi.New(nil, log), log)
		for _, m := range []string{"POST", "GET", "DELETE"} {
			t.Run(m, func(t *testing.T) {
				// A body that says it is base64 and is not: no request
				// can be made of it, so the service is never called.
				ev := `{"httpMethod":"` + m + `","path":"/api/session","isBase64Encoded":true,"body":"%%%"}`
				out, err := h.Invoke(context.Background(), []byte(ev))
				if err != nil {
					t.Fatal(err)
				}
				var resp events.APIGatewayProxyResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatal(err)
				}
				header := http.Header{}
				for k, v := range resp.Headers {
					header.Set(k, v)
				}
				req := httptest.NewRequest(m, httpapi.SessionPath, nil)
				if m == "POST" {
					req.SetBasicAuth(admin, "x")
				} else {
					req.Header.Set(httpapi.HeaderSessionID, strings.Repeat("ab", 16))
				}
				c.check(t, call{method: m, path: httpapi.SessionPath, status: 400, want: `"INVALID_REQUEST"`},
					Exchange{Request: req, Status: resp.StatusCode, Header: header, Body: []byte(resp.Body)})
			})
		}
	})

	t.Run("TheGatewaysBadGateway", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL, _ := url.Parse(dead.URL)
		dead.Close()
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		door := httpapi.NewFrontDoor(liveSession{}, log)
		g := gateway.New(http.NotFoundHandler(), door, httpapi.NewUpstream(deadURL), log)
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			for _, target := range []string{"/api/vcenter/vm", "/rest/vcenter/vm"} {
				t.Run(m+target, func(t *testing.T) {
					req := httptest.NewRequest(m, target, nil)
					req.Header.Set(httpapi.HeaderSessionID, strings.Repeat("ab", 16))
					w := httptest.NewRecorder()
					g.ServeHTTP(w, req)
					c.check(t, call{method: m, path: target, status: 502, want: "service_unavailable"},
						Exchange{Request: req, Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()})
				})
			}
		}
	})
}

// liveSession is a store in which every session is live: the front door
// lets every call through, to the upstream that is down.
type liveSession struct{}

func (liveSession) Get(context.Context, string) (session.Session, error) {
	now := time.Now()
	return session.Session{User: admin, Created: now, LastAccessed: now}, nil
}

// TestAnAnswerTheDocumentDoesNotDescribeIsReported: the checks fail when the
// document and the service disagree. Answers the service never gives are
// checked against docs/openapi.yaml, and a real answer against documents
// that are wrong on purpose; each must be reported.
func TestAnAnswerTheDocumentDoesNotDescribeIsReported(t *testing.T) {
	spec := mustSpec(t)
	get := func() *http.Request {
		r := httptest.NewRequest("GET", httpapi.SessionPath, nil)
		r.Header.Set(httpapi.HeaderSessionID, strings.Repeat("ab", 16))
		return r
	}
	okHeader := func() http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	}
	info := `{"user":"administrator@vsphere.local","created_time":"2025-07-16T07:18:48.517Z","last_accessed_time":"2025-07-16T07:20:11.799Z"}`
	unauth := `{"error_type":"UNAUTHENTICATED","messages":[{"args":[],"default_message":"Authentication required.","id":"com.vmware.vapi.endpoint.method.authentication.required"}],"challenge":"Basic realm=\"VAPI endpoint\""}`
	withWWW := okHeader()
	withWWW.Set("WWW-Authenticate", httpapi.Challenge)
	noCache := okHeader()
	noCache.Del("Cache-Control")
	federated := strings.Replace(unauth, `"Basic realm=\"VAPI endpoint\""`, strconv.Quote(httpapi.ChallengeFederated), 1)
	withFedWWW := okHeader()
	withFedWWW.Set("WWW-Authenticate", httpapi.ChallengeFederated)
	bearerOnly := `Bearer realm="VAPI endpoint"`
	withBearerWWW := okHeader()
	withBearerWWW.Set("WWW-Authenticate", bearerOnly)

	for _, c := range []struct {
		name   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"TheDocumentedAnswer", 200, okHeader(), info, true},
		{"TheDocumented401", 401, withWWW, unauth, true},
		// A get takes a session id, never a token: its 401 offers Basic
		// alone, federation on or off.
		{"AGet401OfferingBearer", 401, withFedWWW, federated, false},
		{"AGet401OfferingBearerInTheBodyAlone", 401, withWWW, federated, false},
		{"A401OfferingBearerAlone", 401, withBearerWWW, strings.Replace(unauth, `"Basic realm=\"VAPI endpoint\""`, strconv.Quote(bearerOnly), 1), false},
		{"A401WithTheChallengeOfAnotherRealm", 401, withWWW, strings.Replace(unauth, `VAPI endpoint`, `vCenter`, 1), false},
		{"AStatusNotDeclared", 404, okHeader(), `{"error_type":"NOT_FOUND","messages":[{"args":[],"default_message":"Not found.","id":"x"}]}`, false},
		{"A500", 500, okHeader(), `{"error_type":"INTERNAL_SERVER_ERROR","messages":[{"args":[],"default_message":"x","id":"x"}]}`, false},
		{"ARequiredHeaderMissing", 200, noCache, info, false},
		{"A401WithoutItsChallengeHeader", 401, okHeader(), unauth, false},
		{"A401WithoutTheChallengeInItsBody", 401, withWWW, strings.Replace(unauth, `,"challenge":"Basic realm=\"VAPI endpoint\""`, "", 1), false},
		{"A401OfAnotherErrorType", 401, withWWW, strings.Replace(unauth, `"UNAUTHENTICATED"`, `"UNAUTHORIZED"`, 1), false},
		{"ATimeWithoutMilliseconds", 200, okHeader(), strings.Replace(info, "48.517Z", "48Z", 1), false},
		{"ATimeNotInUTC", 200, okHeader(), strings.Replace(info, "48.517Z", "48.517+01:00", 1), false},
		{"AMissingField", 200, okHeader(), `{"user":"a@b","created_time":"2025-07-16T07:18:48.517Z"}`, false},
		{"TheRestWrapping", 200, okHeader(), `{"value":` + info + `}`, false},
		{"NotJSON", 200, okHeader(), `user=a`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := spec.Check(context.Background(), Exchange{Request: get(), Status: c.status, Header: c.header, Body: []byte(c.body)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Request != nil {
				t.Fatalf("the request: %v", res.Request)
			}
			if (res.Response == nil) != c.ok {
				t.Errorf("%d %s: reported %v, want reported: %v", c.status, c.body, res.Response, !c.ok)
			}
		})
	}

	// A log-in takes a token: its 401 offers Bearer too with federation
	// on, on /api and on /rest; Bearer alone, or a header and a body that
	// differ in kind, is not documented.
	t.Run("ALogIn401", func(t *testing.T) {
		restOf := func(body string) string {
			var e map[string]any
			_ = json.Unmarshal([]byte(body), &e)
			v, _ := json.Marshal(map[string]any{"type": "com.vmware.vapi.std.errors.unauthenticated", "value": map[string]any{"messages": e["messages"], "challenge": e["challenge"]}})
			return string(v)
		}
		bearerBody := strings.Replace(unauth, `"Basic realm=\"VAPI endpoint\""`, strconv.Quote(bearerOnly), 1)
		for _, target := range []string{httpapi.SessionPath, httpapi.LegacySessionPath} {
			for _, c := range []struct {
				name   string
				header http.Header
				body   string
				ok     bool
			}{
				{"Basic", withWWW, unauth, true},
				{"BasicAndBearer", withFedWWW, federated, true},
				{"BearerAlone", withBearerWWW, bearerBody, false},
			} {
				body := c.body
				if target == httpapi.LegacySessionPath {
					body = restOf(body)
				}
				r := httptest.NewRequest("POST", target, nil)
				r.SetBasicAuth(admin, "wrong")
				res, err := spec.Check(context.Background(), Exchange{Request: r, Status: 401, Header: c.header, Body: []byte(body)})
				if err != nil || res.Request != nil {
					t.Fatalf("%s %s: %v, the request: %v", target, c.name, err, res.Request)
				}
				if (res.Response == nil) != c.ok {
					t.Errorf("%s %s: reported %v, want reported: %v", target, c.name, res.Response, !c.ok)
				}
			}
		}
	})

	t.Run("ABodyWhereNoneIsDeclared", func(t *testing.T) {
		r := httptest.NewRequest("DELETE", httpapi.SessionPath, nil)
		r.Header.Set(httpapi.HeaderSessionID, strings.Repeat("ab", 16))
		res, err := spec.Check(context.Background(), Exchange{Request: r, Status: 204, Header: okHeader(), Body: []byte(`""`)})
		if err != nil || res.Response == nil {
			t.Errorf("a 204 with a body: reported %v (%v), want reported", res.Response, err)
		}
	})

	// The front door takes session ids only: its 401 offers Basic alone,
	// federation on or off.
	t.Run("AFrontDoor401OfferingBearer", func(t *testing.T) {
		for _, target := range []string{"/api/vcenter/vm", "/rest/vcenter/vm"} {
			r := httptest.NewRequest("GET", target, nil)
			r.Header.Set(httpapi.HeaderSessionID, strings.Repeat("ab", 16))
			body := federated
			if strings.HasPrefix(target, "/rest/") {
				body = `{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":[{"args":[],"default_message":"Authentication required.","id":"x"}],"challenge":` + strconv.Quote(httpapi.ChallengeFederated) + `}}`
			}
			for name, header := range map[string]http.Header{"InBoth": withFedWWW, "InTheBodyAlone": withWWW} {
				res, err := spec.Check(context.Background(), Exchange{Request: r, Status: 401, Header: header, Body: []byte(body)})
				if err != nil || res.Response == nil {
					t.Errorf("%s, %s: reported %v (%v), want reported", target, name, res.Response, err)
				}
			}
			if res, err := spec.Check(context.Background(), Exchange{Request: r, Status: 401, Header: withFedWWW, Body: []byte(unauth)}); err != nil || res.Response == nil {
				t.Errorf("%s, Bearer in the header alone: reported %v (%v), want reported", target, res.Response, err)
			}
		}
	})

	t.Run("ARouteTheDocumentDoesNotHave", func(t *testing.T) {
		r := httptest.NewRequest("PUT", httpapi.SessionPath, nil)
		if _, err := spec.Check(context.Background(), Exchange{Request: r, Status: 404}); err == nil {
			t.Error("PUT /api/session found an operation")
		}
	})

	// A document that is wrong about the service: its get declares only
	// 200, with a body of another shape. The real answers must fail it.
	t.Run("AWrongDocument", func(t *testing.T) {
		wrong := filepath.Join(t.TempDir(), "wrong.yaml")
		if err := os.WriteFile(wrong, []byte(wrongDocument), 0o600); err != nil {
			t.Fatal(err)
		}
		doc, err := LoadFile(wrong)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := New(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			status int
			header http.Header
			body   string
		}{
			{200, okHeader(), info},      // the body is not the declared shape
			{401, withWWW, unauth},       // the status is not declared
			{503, okHeader(), `{"a":1}`}, // nor is this one
		} {
			res, err := ws.Check(context.Background(), Exchange{Request: get(), Status: x.status, Header: x.header, Body: []byte(x.body)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Response == nil {
				t.Errorf("%d %s passed a document that does not declare it", x.status, x.body)
			}
		}
	})
}

const wrongDocument = `openapi: 3.1.0
info: {title: wrong, version: "0"}
paths:
  /api/session:
    get:
      responses:
        "200":
          description: a session, as this document wrongly has it
          content:
            application/json:
              schema:
                type: object
                required: [session_user]
                properties:
                  session_user: {type: string}
`

// TestAKeySetWithAPrivatePartIsReported: the document's JWK Set is the
// assertion package's real one, and it refuses what must never be
// published (the private scalar d, a key of another type or use) and an
// answer that forbids caching.
func TestAKeySetWithAPrivatePartIsReported(t *testing.T) {
	spec := mustSpec(t)
	value, err := assertion.NewSecretValue("")
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := assertion.ParseSecrets(value, "")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := assertion.NewKeySet(seeds)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := func(key any) string {
		b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: ks.CurrentID(), Algorithm: string(jose.ES256), Use: "sig"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	public := jwk(&priv.PublicKey)
	header := func(cache string) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Cache-Control": {cache}}
	}
	for _, c := range []struct {
		name   string
		header http.Header
		body   string
		ok     bool
	}{
		{"TheServicesKeySet", header(httpapi.JWKSCacheControl), string(ks.JWKS()), true},
		{"APublicKey", header(httpapi.JWKSCacheControl), `{"keys":[` + public + `]}`, true},
		{"NoKeys", header(httpapi.JWKSCacheControl), `{"keys":[]}`, true},
		{"APrivateKey", header(httpapi.JWKSCacheControl), `{"keys":[` + jwk(priv) + `]}`, false},
		{"APublicKeyAndAPrivateOne", header(httpapi.JWKSCacheControl), `{"keys":[` + public + `,` + jwk(priv) + `]}`, false},
		{"APublicKeyWithAD", header(httpapi.JWKSCacheControl), `{"keys":[` + strings.Replace(public, `{`, `{"d":"AAAA",`, 1) + `]}`, false},
		{"AKeyForEncryption", header(httpapi.JWKSCacheControl), `{"keys":[` + strings.Replace(public, `"use":"sig"`, `"use":"enc"`, 1) + `]}`, false},
		{"AnotherCurve", header(httpapi.JWKSCacheControl), `{"keys":[` + strings.Replace(public, `"P-256"`, `"P-384"`, 1) + `]}`, false},
		{"NotASet", header(httpapi.JWKSCacheControl), public, false},
		{"NotCacheable", header("no-store"), string(ks.JWKS()), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", httpapi.JWKSPath, nil)
			res, err := spec.Check(context.Background(), Exchange{Request: r, Status: 200, Header: c.header, Body: []byte(c.body)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Request != nil {
				t.Fatalf("the request: %v", res.Request)
			}
			if (res.Response == nil) != c.ok {
				t.Errorf("%s: reported %v, want reported: %v", c.body, res.Response, !c.ok)
			}
		})
	}
}

// TestAChallengeOtherThanTheRunsIsReported: checkChallenge, which holds
// what the document cannot (that a 401's header and body agree, and which
// of the two challenges a run gives), reports every disagreement.
func TestAChallengeOtherThanTheRunsIsReported(t *testing.T) {
	basicOnly, fed := httpapi.Challenge, httpapi.ChallengeFederated
	api := func(c string) string {
		return `{"error_type":"UNAUTHENTICATED","messages":[],"challenge":` + strconv.Quote(c) + `}`
	}
	rest := func(c string) string {
		return `{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":[],"challenge":` + strconv.Quote(c) + `}}`
	}
	rpc := func(c string) string {
		return `{"jsonrpc":"2.0","id":"1","result":{"error":{"ERROR":{"com.vmware.vapi.std.errors.unauthenticated":{"messages":[],"challenge":{"OPTIONAL":` + strconv.Quote(c) + `}}}}}}`
	}
	www := func(vs ...string) http.Header { return http.Header{"Www-Authenticate": vs} }
	for _, c := range []struct {
		name   string
		want   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"TheRunsChallengeInBoth", fed, 401, www(fed), api(fed), true},
		{"TheRunsChallengeInBothOnRest", basicOnly, 401, www(basicOnly), rest(basicOnly), true},
		{"TheRunsChallengeInAJSONRPCError", fed, 200, nil, rpc(fed), true},
		{"NoChallengeOnASuccess", fed, 201, nil, `"0123456789abcdef0123456789abcdef"`, true},
		{"TheOtherConfigurationsChallenge", fed, 401, www(basicOnly), api(basicOnly), false},
		{"TheHeaderAndTheBodyDisagree", fed, 401, www(fed), api(basicOnly), false},
		{"TheBodyAndTheHeaderDisagreeOnRest", fed, 401, www(basicOnly), rest(fed), false},
		{"TwoHeaders", basicOnly, 401, www(basicOnly, basicOnly), api(basicOnly), false},
		{"NoHeader", basicOnly, 401, nil, api(basicOnly), false},
		{"NoChallengeInTheBody", basicOnly, 401, www(basicOnly), `{"error_type":"UNAUTHENTICATED","messages":[]}`, false},
		{"AJSONRPCErrorWithTheOtherChallenge", basicOnly, 200, nil, rpc(fed), false},
		{"AJSONRPCErrorWithAHeader", fed, 200, www(fed), rpc(fed), false},
		{"AChallengeOnASuccess", fed, 200, www(fed), `{"value":"x"}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkChallenge(c.want, Exchange{Status: c.status, Header: c.header, Body: []byte(c.body)})
			if (err == nil) != c.ok {
				t.Errorf("checkChallenge = %v; want reported: %v", err, !c.ok)
			}
		})
	}
}
