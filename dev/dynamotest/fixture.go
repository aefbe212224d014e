package dynamotest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
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

// Config returns the service's configuration as a function would read it
// with the fixture's tables and the other variables in env.
func (f Fixture) Config(t testing.TB, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Parse(func(k string) (string, bool) {
		switch k {
		case config.EnvSessionsTable:
			return f.Tables.Sessions, true
		case config.EnvUsersTable:
			return f.Tables.Users, true
		}
		if v, ok := env[k]; ok {
			return v, ok
		}
		if k == config.EnvReadOnFailedCondition {
			// dynalite alone does not return the item with a failed condition.
			return strconv.FormatBool(f.Engine.Kind == localdynamo.Dynalite), true
		}
		return "", false
	})
	if err != nil {
		t.Fatalf("dynamotest: config: %v", err)
	}
	return cfg
}

// AddUser adds a user with an argon2id hash of password at the default
// cost, leaving one that already exists alone.
func (f Fixture) AddUser(t testing.TB, name, password string) {
	t.Helper()
	hash, err := argon2id.Hash(password, argon2id.DefaultParams)
	if err != nil {
		t.Fatalf("dynamotest: hash: %v", err)
	}
	users := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}
	if err := users.Add(context.Background(), session.User{Name: name, PasswordHash: hash}, time.Now()); err != nil && session.ErrorCode(err) != session.EINVALID {
		t.Fatalf("dynamotest: add user %s: %v", name, err)
	}
}

// RequireAtomicWrites skips t on an engine whose conditional writes are not
// atomic under concurrent requests: moto (5.x) checks a condition and
// writes the item with no lock between, so concurrent conditional updates
// of one item can both succeed. DynamoDB is atomic, and so is dynalite (a
// lock per item); race tests run there.
func RequireAtomicWrites(t testing.TB, srv *localdynamo.Server) {
	t.Helper()
	if srv.Kind == localdynamo.Moto {
		t.Skip("moto's conditional writes are not atomic under concurrency; this race runs on dynalite")
	}
}
