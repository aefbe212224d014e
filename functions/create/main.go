// Command create is the log-in function: POST /api/session. It alone reads
// users and hashes passwords, so it alone gets the memory and the IAM
// permissions for that.
package main

import (
	"github.com/cis-session/cis-session/internal/deploy"
	"github.com/cis-session/cis-session/internal/lambda"
)

// Its operations, routes and permissions are its entry in deploy.Functions.
func main() { lambda.Main(deploy.Ops("create")...) }
