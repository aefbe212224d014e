package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// UpstreamTimeout bounds one forwarded call: API Gateway's integration
// timeout, so that a call gives up locally when the deployed one would. A
// Lambda function's deadline, when sooner, bounds it first.
const UpstreamTimeout = 29 * time.Second

// MaxUpstreamAnswer bounds the upstream's answer body, read whole before
// any of it is sent on: a Lambda function's answer travels in its 6 MB
// response payload (escaped, perhaps base64), API Gateway's in 10 MB.
const MaxUpstreamAnswer = 4 << 20

// Upstream is the service behind the front door. It forwards the calls the
// front door lets through as template.yaml's HTTP integration does: method,
// path (appended to the upstream's), query and body kept; nothing of the
// client's credentials: the session id header in every spelling
// (SessionIDHeader), the Cookie header (the /rest cookie) and, unless the
// operator opts in (WithClientAuthorization), Authorization removed; the
// session's user and creation time added, overwriting whatever the client
// sent under those names.
//
// It reads the upstream's answer whole before answering (as API Gateway
// does), so that an upstream that fails half-way is answered with the
// caller's own error rather than half an answer.
type Upstream struct {
	proxy *httputil.ReverseProxy
	// clientAuthorization: the client's Authorization header goes on, an
	// operator's opt-in for an upstream that needs it
	// (FORWARD_CLIENT_AUTHORIZATION); off by default.
	clientAuthorization bool
}

// WithClientAuthorization has u forward the client's Authorization header
// as it came (docs/FRONTDOOR.md: an opt-in, off by default). It returns u.
func (u *Upstream) WithClientAuthorization() *Upstream {
	u.clientAuthorization = true
	return u
}

// credential reports whether a request header name is one of the client's
// credentials to the service, in any spelling an upstream might read as
// one: the session id header, Authorization (unless passed on), read as
// Reserved reads names (case folded, every other character '-').
func (u *Upstream) credential(name string) bool {
	switch {
	case foldsTo(name, HeaderSessionID, true), foldsTo(name, "cookie", true):
		return true
	case foldsTo(name, "authorization", true):
		return !u.clientAuthorization
	}
	return false
}

// NewUpstream returns the upstream at base (http(s)://host[:port][/base]).
func NewUpstream(base *url.URL) *Upstream {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The client's Accept-Encoding and the upstream's Content-Encoding
	// pass through untouched.
	tr.DisableCompression = true
	u := &Upstream{}
	u.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.SetXForwarded()
			f := pr.In.Context().Value(forwardKey{}).(forwarding)
			h := pr.Out.Header
			for name := range h {
				if u.credential(name) {
					delete(h, name)
				}
			}
			h.Set(HeaderUser, f.verdict.Session.User)
			h.Set(HeaderSessionCreated, f.verdict.Created())
			if f.verdict.Assertion != "" {
				h.Set(HeaderAssertion, f.verdict.Assertion)
			}
		},
		Transport: wholeAnswers{tr},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			r.Context().Value(forwardKey{}).(forwarding).failed(w, r, err)
		},
	}
	return u
}

// forwarding is what one call's forwarding needs beyond the request.
type forwarding struct {
	verdict Verdict
	failed  func(http.ResponseWriter, *http.Request, error)
}

type forwardKey struct{}

// Forward sends r, which v allowed, on to the upstream and answers with the
// upstream's answer. When the upstream gives none (refused, timed out,
// broken or oversized), failed answers instead; its error is for the log.
func (u *Upstream) Forward(w http.ResponseWriter, r *http.Request, v Verdict, failed func(http.ResponseWriter, *http.Request, error)) {
	if !v.Allowed {
		// Never reached: the callers forward allowed calls only. Fail closed.
		failed(w, r, errors.New("forward of a call the front door refused"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), UpstreamTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, forwardKey{}, forwarding{v, failed})
	u.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// wholeAnswers reads each answer's body whole, within the call's deadline
// and MaxUpstreamAnswer, so that every failure is the round trip's.
type wholeAnswers struct{ http.RoundTripper }

func (t wholeAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxUpstreamAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("read upstream answer: %w", err)
	}
	if len(body) > MaxUpstreamAnswer {
		return nil, fmt.Errorf("upstream answer larger than %d bytes", MaxUpstreamAnswer)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if resp.ContentLength < 0 {
		resp.ContentLength = int64(len(body))
	}
	return resp, nil
}
