// Command get is the session read: GET /api/session and GET
// /rest/com/vmware/cis/session. It may only update items in the sessions
// table.
package main

import (
	"github.com/cis-session/cis-session/internal/function"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
	"github.com/cis-session/cis-session/internal/stack"
)

func main() {
	p := function.Init("get")
	// Only the sessions table: no users, no passwords.
	svc := &session.Service{Sessions: p.Sessions(), Policy: p.Config.Policy, Recorder: p.Recorder}
	lambda.Start(httpapi.New(svc, p.Log, stack.Get.Ops...), p.Log)
}
