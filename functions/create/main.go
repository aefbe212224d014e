// Command create is the log-in function: POST /api/session, and POST
// /rest/com/vmware/cis/session (log-in, or a get with ?~action=get). It
// alone reads users and hashes passwords, so it alone gets the memory and
// the IAM permissions for that.
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
	p := function.Init("create")
	svc := &session.Service{
		// Each session it makes is sealed (docs/UPSTREAM.md): the front
		// door refuses one log-in did not seal.
		Sessions:  keys.SealedSessions(p, keys.Load(p)),
		Users:     p.Users(),
		Passwords: argon2id.Hasher{Params: argon2id.DefaultParams},
		Policy:    p.Config.Policy,
		Recorder:  p.Recorder,
	}
	// Bearer log-ins (OIDC_ISSUER): the provider is first asked at the
	// first one, then its keys are kept for the life of the process.
	svc.Federation = oidc.Federation(p.Config.OIDC)
	h := httpapi.New(svc, p.Log, stack.Create.Ops...)
	// The provider's back-channel logout, with the same key cache.
	if b := p.Backchannel(svc.Federation); b != nil {
		h.WithBackchannel(b)
	}
	lambda.Start(h, p.Log)
}
