// Command authorize is the API's front door: API Gateway's Lambda REQUEST
// authorizer for every path under /api/ and /rest/ that is not the session
// service's own. Each call it lets through counts as a use of its session.
// It may only update items in the sessions table.
package main

import (
	"context"

	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		lambda.Fatal("bad configuration", err)
	}
	log := lambda.Logger(cfg.LogLevel)
	// Metrics and the audit trail, as log lines whatever LOG_LEVEL says.
	rec := cloudwatch.New(log, cloudwatch.FunctionName("authorize"))
	rec.RequestID = httpapi.RequestID
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		lambda.Fatal("cannot configure DynamoDB client", err)
	}
	// Only the sessions table, and only get's touch of it.
	svc := &session.Service{
		Sessions: &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition},
		Policy:   cfg.Policy,
		Recorder: rec,
	}
	lambda.StartAuthorizer(httpapi.NewFrontDoor(svc, log), log)
}
