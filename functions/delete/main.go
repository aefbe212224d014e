// Command delete is the log-out function: DELETE /api/session and DELETE
// /rest/com/vmware/cis/session. It may only delete items in the sessions
// table.
package main

import (
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
)

func main() { lambda.Main(httpapi.OpDelete) }
