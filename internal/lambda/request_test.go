package lambda_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
)

// The adapter converts events to requests and answers to responses itself.
// These tests hold it to aws-lambda-go-api-proxy's httpadapter, which it
// replaced: for every event, the handler sees the same request and API
// Gateway gets the same bytes, and an event the library cannot convert is
// a 400.

// echo answers with what it was asked, so that the answer shows the
// request; x-answer picks the shape of the answer.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\nhost %s\nuri %s\nquery %s\nremote %s\nlength %d\nrequest id %q\n",
		r.Method, withoutQuery(r.URL.String()), r.Host, withoutQuery(r.RequestURI), sortedQuery(r.URL.RawQuery),
		r.RemoteAddr, r.ContentLength, httpapi.RequestID(r.Context()))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header[k])
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(&b, "body %q\n", body)
	switch r.Header.Get("X-Answer") {
	case "cookies":
		w.Header().Add("Set-Cookie", "a=1; Path=/")
		w.Header().Add("set-cookie", "b=2")
		w.Header().Add("X-Many", "one")
		w.Header().Add("X-Many", "two")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, b.String())
	case "binary": // no Content-Type: sniffed
		_, _ = w.Write([]byte{0xff, 0xfe, 0x00, 0x01})
		_, _ = io.WriteString(w, b.String())
	case "status":
		w.WriteHeader(http.StatusNoContent)
	case "status-twice":
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusTeapot)
	case "nothing":
	default:
		_, _ = io.WriteString(w, b.String())
	}
})

func withoutQuery(s string) string { s, _, _ = strings.Cut(s, "?"); return s }

// sortedQuery puts the query's parts in order: the library builds a REST
// API event's query from a map, in no order.
func sortedQuery(q string) string {
	parts := strings.Split(q, "&")
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// libraryAnswer is what the library made of ev: the response as the old
// adapter marshalled it, or nil if it could not convert the event.
func libraryAnswer(ctx context.Context, ev any) []byte {
	var resp any
	var err error
	switch ev := ev.(type) {
	case events.APIGatewayV2HTTPRequest:
		resp, err = httpadapter.NewV2(echo).ProxyWithContext(ctx, ev)
	case events.APIGatewayProxyRequest:
		resp, err = httpadapter.New(echo).ProxyWithContext(ctx, ev)
	}
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		panic(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// conversionEvents are events of both payloads with everything the
// conversion treats specially.
func conversionEvents() map[string]any {
	v2 := func(f func(*events.APIGatewayV2HTTPRequest)) events.APIGatewayV2HTTPRequest {
		ev := v2Event("GET", "/api/session", map[string]string{
			"accept":                "application/json, text/plain",
			"user-agent":            "govmomi/0.52.0 (go1.24, linux)",
			"vmware-api-session-id": "0123456789abcdef0123456789abcdef",
			"x-forwarded-for":       "192.0.2.1,198.51.100.7",
		}, "")
		ev.RequestContext.DomainName = "abc123.execute-api.us-east-1.amazonaws.com"
		ev.RequestContext.HTTP.SourceIP = "192.0.2.1"
		f(&ev)
		return ev
	}
	v1 := func(f func(*events.APIGatewayProxyRequest)) events.APIGatewayProxyRequest {
		ev := v1Event("GET", "/rest/com/vmware/cis/session", map[string]string{"Accept": "application/json, text/plain"}, "")
		ev.RequestContext.DomainName = "abc123.execute-api.us-east-1.amazonaws.com"
		ev.RequestContext.Identity.SourceIP = "192.0.2.1"
		f(&ev)
		return ev
	}
	answer := func(a string) func(*events.APIGatewayV2HTTPRequest) {
		return func(ev *events.APIGatewayV2HTTPRequest) { ev.Headers["x-answer"] = a }
	}
	answerV1 := func(a string) func(*events.APIGatewayProxyRequest) {
		return func(ev *events.APIGatewayProxyRequest) {
			ev.Headers["X-Answer"] = a
			if ev.MultiValueHeaders != nil {
				ev.MultiValueHeaders["X-Answer"] = []string{a}
			}
		}
	}
	return map[string]any{
		"V2Get":      v2(func(*events.APIGatewayV2HTTPRequest) {}),
		"V2Cookies":  v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.Cookies = []string{"a=1", "vmware-api-session-id=x"} }),
		"V2RawQuery": v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawQueryString = "~action=get&b=%20x&c" }),
		"V2QueryParameters": v2(func(ev *events.APIGatewayV2HTTPRequest) {
			ev.QueryStringParameters = map[string]string{"~action": "get", "b": "x y&z"}
		}),
		"V2PathFromContext":  v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "" }),
		"V2PathWithoutSlash": v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "api/session" }),
		"V2EscapedPath":      v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "/api/se%73sion/%2F" }),
		"V2LowerCaseMethod":  v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "delete" }),
		"V2Body": v2(func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = `{"a":1}`
			ev.Headers["content-type"] = "application/json; charset=utf-8"
		}),
		"V2Base64Body": v2(func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}), true
		}),
		"V2EmptyHeaderValue": v2(func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["x-empty"] = ""
			ev.Headers["x-commas"] = " a ,, b,"
		}),
		"V2SingletonHeaders": v2(func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["authorization"] = "Basic a,b"
			ev.Headers["host"] = "h,i"
		}),
		"V2AnswerCookies":     v2(answer("cookies")),
		"V2AnswerBinary":      v2(answer("binary")),
		"V2AnswerStatusOnly":  v2(answer("status")),
		"V2AnswerStatusTwice": v2(answer("status-twice")),
		"V2AnswerNothing":     v2(answer("nothing")),
		"V2BadBase64":         v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.Body, ev.IsBase64Encoded = "%%%", true }),
		"V2BadMethod":         v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "G E T" }),
		"V2BadDomain":         v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.DomainName = "exa mple.com" }),
		"V2BadPathEscape":     v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "/api/%zz" }),
		"V2BadQuery":          v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawQueryString = "a=%zz" }),
		"V2ControlInQuery":    v2(func(ev *events.APIGatewayV2HTTPRequest) { ev.RawQueryString = "a=\x7f" }),
		"V1Get":               v1(func(*events.APIGatewayProxyRequest) {}),
		"V1HeadersOnly":       v1(func(ev *events.APIGatewayProxyRequest) { ev.MultiValueHeaders = nil }),
		"V1NoHeaders":         v1(func(ev *events.APIGatewayProxyRequest) { ev.MultiValueHeaders, ev.Headers = nil, nil }),
		"V1EmptyMultiValue":   v1(func(ev *events.APIGatewayProxyRequest) { ev.MultiValueHeaders = map[string][]string{} }),
		"V1MultiValueQuery": v1(func(ev *events.APIGatewayProxyRequest) {
			ev.MultiValueQueryStringParameters = map[string][]string{"~action": {"get", "x y"}, "b&c": {"="}}
		}),
		"V1QueryParameters": v1(func(ev *events.APIGatewayProxyRequest) {
			ev.QueryStringParameters = map[string]string{"~action": "get", "é": "/"}
		}),
		"V1PathWithoutSlash": v1(func(ev *events.APIGatewayProxyRequest) { ev.Path = "rest/com/vmware/cis/session" }),
		"V1Base64Body": v1(func(ev *events.APIGatewayProxyRequest) {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte("x")), true
		}),
		"V1AnswerCookies": v1(answerV1("cookies")),
		"V1AnswerBinary":  v1(answerV1("binary")),
		"V1AnswerNothing": v1(answerV1("nothing")),
		"V1BadBase64":     v1(func(ev *events.APIGatewayProxyRequest) { ev.Body, ev.IsBase64Encoded = "%%%", true }),
		"V1BadMethod":     v1(func(ev *events.APIGatewayProxyRequest) { ev.HTTPMethod = "G\tET" }),
		"V1BadPath":       v1(func(ev *events.APIGatewayProxyRequest) { ev.Path = "/%zz" }),
	}
}

func TestEventsConvertAsTheAPIProxyLibraryDoes(t *testing.T) {
	for _, host := range []string{"", "http://localhost:3000", "http://[::1"} {
		for name, ev := range conversionEvents() {
			t.Run(fmt.Sprintf("%s/GO_API_HOST=%s", name, host), func(t *testing.T) {
				if host != "" {
					t.Setenv("GO_API_HOST", host)
				}
				ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
				// The old adapter was handed the context with the request id.
				want := libraryAnswer(httpapi.WithRequestID(ctx, "req-1"), ev)
				payload, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				var logs bytes.Buffer
				log := slog.New(slog.NewJSONHandler(&logs, nil))
				got, err := lambda.NewHandler(echo, log).Invoke(ctx, payload)
				if err != nil {
					t.Fatal(err)
				}
				if want != nil {
					if !bytes.Equal(got, want) {
						t.Errorf("answer\n%s\nwant, as the library answers,\n%s", got, want)
					}
					return
				}
				// What the library refuses is the client's bad request.
				r, err := parseResponse(got)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "INVALID_REQUEST") && !strings.Contains(r.Body, "invalid_request") {
					t.Errorf("the library refuses this event; answer %+v, want a 400 invalid request", r)
				}
				if !strings.Contains(logs.String(), "malformed event") {
					t.Errorf("no log line for the refused event: %s", logs.String())
				}
			})
		}
	}
}
