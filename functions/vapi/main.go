// Command vapi is the vAPI JSON-RPC function: POST /api, where VMware's
// Python and Java SDKs send every call. One route carries log-in, get and
// log-out, so it reads users and hashes passwords like the log-in function,
// and gets the memory and the IAM permissions of all three. A call for any
// other service is authorized by its session, as the authorizer does, and
// forwarded to the upstream.
package main

import (
	"context"

	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
	"github.com/cis-session/cis-session/internal/stack"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		lambda.Fatal("bad configuration", err)
	}
	log := lambda.Logger(cfg.LogLevel)
	// Metrics and the audit trail, as log lines whatever LOG_LEVEL says.
	rec := cloudwatch.New(log, cloudwatch.FunctionName("vapi"))
	rec.RequestID = httpapi.RequestID
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		lambda.Fatal("cannot configure DynamoDB client", err)
	}
	svc := &session.Service{
		Sessions:  &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition},
		Users:     &dynamo.Users{DB: db, Table: cfg.UsersTable},
		Passwords: argon2id.Hasher{Params: argon2id.DefaultParams},
		Policy:    cfg.Policy,
		Recorder:  rec,
	}
	h := httpapi.New(svc, log, stack.Vapi.Ops...)
	// Calls for other services: authorized by their session, then on to
	// UPSTREAM_URL within the invocation's deadline (none: operation_not_found).
	if cfg.Upstream != nil {
		h.WithUpstream(httpapi.NewUpstream(cfg.Upstream))
	}
	lambda.Start(h, log)
}
