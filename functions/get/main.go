// Command get is the session read: GET /api/session and GET
// /rest/com/vmware/cis/session. It may only update items in the sessions
// table.
package main

import (
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
)

func main() { lambda.Main(httpapi.OpGet) }
