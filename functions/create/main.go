// Command create is the log-in function: POST /api/session. It alone reads
// users and hashes passwords, so it alone gets the memory and the IAM
// permissions for that.
package main

import (
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
)

func main() { lambda.Main(httpapi.OpCreate) }
