package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// The conversion between API Gateway's events and net/http is written here,
// as aws-lambda-go-api-proxy's httpadapter does it (a test holds the two to
// the same requests and the same answers), because the library's way cost
// the warm get a copy of every request, a second check of every event
// (checkEvent, which kept it from printing the events it refuses), and a
// twelfth of the CPU the get spends over its floor (make bench).

// customHostVariable, when set, replaces the scheme and host of every
// request's URL, as it does for the library.
const customHostVariable = "GO_API_HOST"

// Reasons an event is refused, safe to log.
const (
	reasonBadBase64 = "body marked base64 is not"
	reasonBadURL    = "method or URL that net/http refuses"
)

// requestV2 is the request an HTTP API (payload 2.0) event stands for, or
// the reason it stands for none.
func requestV2(ctx context.Context, ev *events.APIGatewayV2HTTPRequest) (*http.Request, string) {
	q := ev.RawQueryString
	if q == "" && len(ev.QueryStringParameters) > 0 {
		v := url.Values{}
		for k, s := range ev.QueryStringParameters {
			v.Add(k, s)
		}
		q = v.Encode()
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	r, reason := newRequest(ctx, ev.RequestContext.HTTP.Method, ev.RequestContext.DomainName, path, q, ev.Body, ev.IsBase64Encoded)
	if r == nil {
		return nil, reason
	}
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	r.Header = make(http.Header, len(ev.Headers)+1)
	for _, c := range ev.Cookies {
		r.Header.Add("Cookie", c)
	}
	// API Gateway joins a repeated header's values with commas: split them
	// again, except in the headers whose one value may hold a comma.
	for k, v := range ev.Headers {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if singletonHeaders[k] {
			r.Header[k] = append(r.Header[k], v)
			continue
		}
		for {
			part, rest, more := strings.Cut(v, ",")
			r.Header[k] = append(r.Header[k], strings.Trim(part, " "))
			if !more {
				break
			}
			v = rest
		}
	}
	return r, ""
}

// singletonHeaders are the headers whose value is never split at commas.
var singletonHeaders = map[string]bool{
	"Content-Type":        true,
	"Content-Disposition": true,
	"Content-Length":      true,
	"User-Agent":          true,
	"Referer":             true,
	"Host":                true,
	"Authorization":       true,
	"Proxy-Authorization": true,
	"If-Modified-Since":   true,
	"If-Unmodified-Since": true,
	"From":                true,
	"Location":            true,
	"Max-Forwards":        true,
}

// requestV1 is the request a REST API (payload 1.0) event stands for, or
// the reason it stands for none.
func requestV1(ctx context.Context, ev *events.APIGatewayProxyRequest) (*http.Request, string) {
	var q strings.Builder
	add := func(k, v string) {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
	}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			for _, v := range vs {
				add(k, v)
			}
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			add(k, v)
		}
	}
	// The base URL (an assertion's issuer) rides in the context the request
	// is made with: no copy of the request.
	ctx = httpapi.WithBaseURL(ctx, apiBaseURL(ev.RequestContext.DomainName, ev.RequestContext.Stage))
	r, reason := newRequest(ctx, ev.HTTPMethod, ev.RequestContext.DomainName, ev.Path, q.String(), ev.Body, ev.IsBase64Encoded)
	if r == nil {
		return nil, reason
	}
	r.RemoteAddr = ev.RequestContext.Identity.SourceIP
	if ev.MultiValueHeaders != nil {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			r.Header.Add(k, v)
		}
	}
	return r, ""
}

// newRequest builds the request both payloads share: the body decoded, the
// URL on the event's domain (or GO_API_HOST), and the method upper-cased.
func newRequest(ctx context.Context, method, domain, path, rawQuery, body string, base64Body bool) (*http.Request, string) {
	decoded := []byte(body)
	if base64Body {
		var err error
		if decoded, err = base64.StdEncoding.DecodeString(body); err != nil {
			return nil, reasonBadBase64
		}
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := "https://" + domain + path
	if custom, ok := os.LookupEnv(customHostVariable); ok {
		u = custom + path
	}
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	r, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u, bytes.NewReader(decoded))
	if err != nil {
		return nil, reasonBadURL
	}
	r.RequestURI = r.URL.RequestURI()
	return r, ""
}

// responseWriter collects a handler's answer for API Gateway.
type responseWriter struct {
	header http.Header
	body   bytes.Buffer
	status int // noStatus until the handler writes a status or a body
}

const noStatus = -1

func newResponseWriter() *responseWriter {
	return &responseWriter{header: http.Header{}, status: noStatus}
}

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader keeps the last status written, as the library does.
func (w *responseWriter) WriteHeader(status int) { w.status = status }

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == noStatus {
		w.status = http.StatusOK
	}
	if w.header.Get("Content-Type") == "" {
		w.header.Add("Content-Type", http.DetectContentType(b))
	}
	return w.body.Write(b)
}

// answered reports whether the handler wrote a status or a body.
func (w *responseWriter) answered() bool { return w.status != noStatus }

// bodyForGateway is the body as API Gateway takes it: text as it is,
// anything that is not UTF-8 in base64.
func (w *responseWriter) bodyForGateway() (body string, base64Body bool) {
	if b := w.body.Bytes(); !utf8.Valid(b) {
		return base64.StdEncoding.EncodeToString(b), true
	}
	return w.body.String(), false
}

// responseV2 is the answer as an HTTP API takes it: one value per header,
// repeated values joined with commas, cookies apart.
func (w *responseWriter) responseV2() events.APIGatewayV2HTTPResponse {
	headers := make(map[string]string, len(w.header))
	cookies := []string{}
	for k, vs := range w.header {
		if strings.EqualFold(k, "Set-Cookie") {
			cookies = append(cookies, vs...)
			continue
		}
		headers[k] = strings.Join(vs, ",")
	}
	body, b64 := w.bodyForGateway()
	return events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: headers, Body: body, IsBase64Encoded: b64, Cookies: cookies}
}

// responseV1 is the answer as a REST API takes it: every header multi-valued.
func (w *responseWriter) responseV1() events.APIGatewayProxyResponse {
	body, b64 := w.bodyForGateway()
	return events.APIGatewayProxyResponse{StatusCode: w.status, MultiValueHeaders: w.header, Body: body, IsBase64Encoded: b64}
}

// apiBaseURL is the REST API's base URL as a client called it: on its
// execute-api host (https://ID.execute-api.REGION.amazonaws.com/STAGE),
// the stage is its first path segment; on a custom domain, whose base path
// mapping is the whole domain (template.yaml), there is none.
func apiBaseURL(domain, stage string) string {
	if strings.HasSuffix(domain, ".amazonaws.com") && stage != "" {
		return "https://" + domain + "/" + stage
	}
	return "https://" + domain
}
