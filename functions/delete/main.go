// Command delete is the log-out function: DELETE /api/session and DELETE
// /rest/com/vmware/cis/session. It may only delete items in the sessions
// table.
package main

import (
	"github.com/cis-session/cis-session/internal/deploy"
	"github.com/cis-session/cis-session/internal/lambda"
)

// Its operations, routes and permissions are its entry in deploy.Functions.
func main() { lambda.Main(deploy.Ops("delete")...) }
