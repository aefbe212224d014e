// Command vapi is the vAPI JSON-RPC function: POST /api, where VMware's
// Python and Java SDKs send every call. One route carries log-in, get and
// log-out, so it reads users and hashes passwords like the log-in function,
// and gets the memory and the IAM permissions of all three. A call for any
// other service is authorized by its session, as the authorizer does, and
// forwarded to the upstream.
package main

import (
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/function"
	"github.com/cis-session/cis-session/internal/function/keys"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/oidc"
	"github.com/cis-session/cis-session/internal/session"
	"github.com/cis-session/cis-session/internal/stack"
)

func main() {
	p := function.Init("vapi")
	// The assertions' keys and the sessions' seal: its log-ins seal, its
	// gets, log-outs and forwarded calls refuse an item log-in did not seal.
	ks := keys.Load(p)
	svc := &session.Service{
		Sessions:  keys.SealedSessions(p, ks),
		Users:     p.Users(),
		Passwords: argon2id.Hasher{Params: argon2id.DefaultParams},
		Policy:    p.Config.Policy,
		Recorder:  p.Recorder,
	}
	// Bearer log-ins (OIDC_ISSUER): the provider is first asked at the
	// first one, then its keys are kept for the life of the process.
	svc.Federation = oidc.Federation(p.Config.OIDC)
	h := httpapi.New(svc, p.Log, stack.Vapi.Ops...)
	// Calls for other services: authorized by their session, then on to
	// UPSTREAM_URL within the invocation's deadline (none: operation_not_found).
	if p.Config.Upstream != nil {
		up := httpapi.NewUpstream(p.Config.Upstream)
		if p.Config.ForwardClientAuthorization {
			up.WithClientAuthorization() // the operator's opt-in
		}
		h.WithUpstream(up)
	}
	// Forwarded calls carry the upstream's assertion; GET
	// /.well-known/jwks.json publishes its keys.
	if a := keys.Assertions(p, ks); a != nil {
		h.WithAssertions(a)
	}
	lambda.Start(h, p.Log)
}
