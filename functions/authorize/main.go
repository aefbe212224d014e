// Command authorize is the API's front door: API Gateway's Lambda REQUEST
// authorizer for every path under /api/ and /rest/ that is not the session
// service's own. Each call it lets through counts as a use of its session.
// It may only update items in the sessions table.
package main

import (
	"github.com/cis-session/cis-session/internal/function"
	"github.com/cis-session/cis-session/internal/function/keys"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

func main() {
	p := function.Init("authorize")
	ks := keys.Load(p)
	// Only the sessions table, and only get's touch of it; a session
	// log-in did not seal is no session.
	svc := &session.Service{Sessions: keys.SealedSessions(p, ks), Policy: p.Config.Policy, Recorder: p.Recorder}
	// The upstream's assertion, signed in memory: no request per call.
	door := httpapi.NewFrontDoor(svc, p.Log)
	if a := keys.Assertions(p, ks); a != nil {
		door.WithAssertions(a)
	}
	lambda.StartAuthorizer(door, p.Log)
}
