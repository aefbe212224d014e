package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Origin is what a session records of how it was made, for the operator's
// view (`cis-admin sessions`), as vCenter's SessionManager shows it.
type Origin struct {
	Source    string // the client's address as the service saw it
	UserAgent string // its User-Agent, sanitized (CleanUserAgent)
	Surface   string // SurfaceAPI, SurfaceREST or SurfaceJSONRPC
	Method    string // MethodPassword or MethodToken
	Provider  string // the token's issuer (MethodToken)
	Subject   string // the token's sub (MethodToken)
	SID       string // the token's sid, when it had one: the provider session
}

// The surfaces a session can be made on.
const (
	SurfaceAPI     = "api"
	SurfaceREST    = "rest"
	SurfaceJSONRPC = "jsonrpc"
)

// How a session was logged in.
const (
	MethodPassword = "password"
	MethodToken    = "token"
)

// MaxUserAgentLen bounds the user agent a session records, in bytes.
const MaxUserAgentLen = 256

// CleanUserAgent is ua as a session records it: valid UTF-8, control
// characters removed (a log or a terminal must not be steered by it), at
// most MaxUserAgentLen bytes, cut at a character boundary.
func CleanUserAgent(ua string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(ua, "") {
		if unicode.IsControl(r) || r == utf8.RuneError {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxUserAgentLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

type clientKey struct{}

type client struct{ userAgent, surface string }

// WithClient returns ctx carrying the user agent and surface of a request,
// for the session a log-in makes (the address is WithSource's).
func WithClient(ctx context.Context, userAgent, surface string) context.Context {
	return context.WithValue(ctx, clientKey{}, client{CleanUserAgent(userAgent), surface})
}

// originOf is the origin of a log-in made with ctx by method.
func originOf(ctx context.Context, method string) Origin {
	c, _ := ctx.Value(clientKey{}).(client)
	return Origin{Source: Source(ctx), UserAgent: c.userAgent, Surface: c.surface, Method: method}
}

// Handle is what an operator names a session by (`cis-admin end-session`):
// a digest of its token hash, from which neither the hash nor the token can
// be recovered. Unkeyed on purpose: the admin tool, which holds no key,
// computes it from the table it reads.
func Handle(h TokenHash) string {
	d := sha256.Sum256(append([]byte("cis-session handle v1\x00"), h[:]...))
	return base64.RawURLEncoding.EncodeToString(d[:16])
}
