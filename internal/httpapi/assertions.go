package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

// HeaderAssertion carries the front door's signed statement of who is
// calling to the upstream (package assertion's Header; docs/UPSTREAM.md).
const HeaderAssertion = "vmware-cis-assertion"

// JWKSPath is where the public keys of the assertions are published.
const JWKSPath = "/.well-known/jwks.json"

// OpJWKS is GET JWKSPath: the assertions' public keys, no session needed.
const OpJWKS Operation = "jwks"

// Signer signs assertions and publishes their keys (an *assertion.Signer).
// An interface, so that the functions that sign none (get, delete) do not
// link the signing code and go-jose.
type Signer interface {
	// Sign is the assertion, issued by issuer at now, that user, vouched
	// for by idp, holds the session of tokenHash, which ends at the latest
	// at notAfter.
	Sign(issuer, user, idp string, tokenHash []byte, now, notAfter time.Time) (string, error)
	// JWKS is the JWK Set published at now.
	JWKS(now time.Time) []byte
}

// Assertions signs the assertion of each call the front door lets through.
type Assertions struct {
	Signer Signer
	// Absolute is the sessions' absolute lifetime: no assertion outlives
	// its session's end.
	Absolute time.Duration
	// Issuer is the assertion's iss: the API's base URL as configured
	// (config's API_BASE_URL; make run's own address). Empty: the one
	// the Lambda adapter took from API Gateway's own request context
	// (WithBaseURL). Never a client's Host header.
	Issuer string
	Now    func() time.Time // time.Now when nil
}

// errNoIssuer: an assertion was to be signed with no base URL to issue it
// by; the call is refused as a backend failure rather than signed with
// one a client could choose.
var errNoIssuer = errors.New("no API base URL to issue the assertion by (API_BASE_URL)")

func (a *Assertions) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Assertions) sign(r *http.Request, v Verdict) (string, error) {
	iss := a.Issuer
	if iss == "" {
		iss = BaseURL(r)
	}
	if iss == "" {
		return "", errNoIssuer
	}
	return a.Signer.Sign(iss, v.Session.User, v.Session.Kind(), v.hash[:], a.now(), v.Session.Created.Add(a.Absolute))
}

type baseURLKey struct{}

// WithBaseURL returns ctx carrying the API's base URL as API Gateway's
// request context names it (scheme, host and, on an execute-api host, the
// stage), never from a header a client wrote: an assertion's issuer when
// none is configured (Assertions.Issuer).
func WithBaseURL(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseURLKey{}, base)
}

// BaseURL is the API's base URL for r: the one WithBaseURL set, else "".
// Not r.Host: that is the client's to write.
func BaseURL(r *http.Request) string {
	b, _ := r.Context().Value(baseURLKey{}).(string)
	return b
}

// WithAssertions has the front door sign an assertion for every call it
// lets through (Verdict.Assertion). It returns d.
func (d *FrontDoor) WithAssertions(a *Assertions) *FrontDoor {
	d.assert = a
	return d
}

// withAssertion signs v's assertion when the door signs any; a failure to
// sign refuses the call as a backend failure.
func (d *FrontDoor) withAssertion(r *http.Request, path, rawID string, v Verdict) Verdict {
	if !v.Allowed || d.assert == nil {
		return v
	}
	tok, _ := session.ParseToken(rawID) // it parsed: the session was found by it
	v.hash = tok.Hash()
	a, err := d.assert.sign(r, v)
	if err != nil {
		err = session.Unavailable("sign assertion", err)
		d.log.ErrorContext(r.Context(), "authorize failed", "request_id", RequestID(r.Context()), "status", errUnavailable.status, "error", err.Error())
		return Verdict{Status: errUnavailable.status, Body: errorJSON(surfaceOf(path), errUnavailable), err: err}
	}
	v.Assertion = a
	return v
}

// WithAssertions has the handler's JSON-RPC front door sign assertions,
// and serves their public keys at JWKSPath when the handler serves OpJWKS.
// It returns h.
func (h *Handler) WithAssertions(a *Assertions) *Handler {
	h.door.WithAssertions(a)
	h.jwks = a
	return h
}

// serveJWKS answers the published keys: public, cacheable for as long as
// a key is published before it signs (docs/UPSTREAM.md, Rotation).
func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request, s surface) {
	jwks := []byte(`{"keys":[]}`) // no assertion signed: no key to trust
	if h.jwks != nil {
		jwks = h.jwks.Signer.JWKS(h.jwks.now())
	}
	w.Header().Set("Cache-Control", JWKSCacheControl)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(jwks)
}

// JWKSCacheControl is how long a client may keep the key set: 5 minutes,
// well within the time a rotation publishes a key before it signs.
const JWKSCacheControl = "public, max-age=300"
