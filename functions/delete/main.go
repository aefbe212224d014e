// Command delete is the log-out function: DELETE /api/session and DELETE
// /rest/com/vmware/cis/session. It may only delete items in the sessions
// table.
package main

import (
	"context"

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
	rec := cloudwatch.New(log, cloudwatch.FunctionName("delete"))
	rec.RequestID = httpapi.RequestID
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		lambda.Fatal("cannot configure DynamoDB client", err)
	}
	// Only the sessions table: no users, no passwords.
	svc := &session.Service{
		Sessions: &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition},
		Policy:   cfg.Policy,
		Recorder: rec,
	}
	lambda.Start(httpapi.New(svc, log, stack.Delete.Ops...), log)
}
