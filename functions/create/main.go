// Command create is the log-in function: POST /api/session, and POST
// /rest/com/vmware/cis/session, which is log-in or, with ?~action=get, a
// session read (API Gateway cannot route by query string). It alone reads
// users and hashes passwords, so it alone gets the memory and the IAM
// permissions for that; for the /rest read it may also update items in the
// sessions table.
package main

import (
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
)

func main() { lambda.Main(httpapi.OpCreate, httpapi.OpLegacyPost) }
