package dynamotest

import (
	"context"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/localdynamo"
)

// Fixture is a client pointed at one engine and a fresh pair of tables.
type Fixture struct {
	Engine *localdynamo.Server
	DB     *dynamo.Client
	Tables dynamo.Tables
}

// Setup points the SDK at srv the standard way (AWS_ENDPOINT_URL_DYNAMODB,
// with a region and dummy credentials, for the length of the test), builds a
// client exactly as the functions do, and creates a pair of tables unique to
// the test. Tests that call it must not run in parallel.
func Setup(t testing.TB, srv *localdynamo.Server) Fixture {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		t.Fatalf("dynamotest: client: %v", err)
	}
	p := UniquePrefix(t)
	tables := dynamo.Tables{Sessions: p + "sessions", Users: p + "users"}
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		t.Fatalf("dynamotest: create tables on %s: %v", srv.Kind, err)
	}
	return Fixture{Engine: srv, DB: db, Tables: tables}
}
