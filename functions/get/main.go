// Command get is the session read: GET /api/session and GET
// /rest/com/vmware/cis/session. It may only update items in the sessions
// table.
package main

import (
	"github.com/cis-session/cis-session/internal/deploy"
	"github.com/cis-session/cis-session/internal/lambda"
)

// Its operations, routes and permissions are its entry in deploy.Functions.
func main() { lambda.Main(deploy.Ops("get")...) }
