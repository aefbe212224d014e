// Command authorizer-floor is the front door's yardstick
// (bench.AuthorizerFloor) built as a function: a bare aws-lambda-go REQUEST
// authorizer with the same DynamoDB client and request as
// functions/authorize. `make bench` starts it and the authorizer in turns.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cis-session/cis-session/dev/bench"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

func main() {
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		panic(err)
	}
	f := &bench.AuthorizerFloor{
		Sessions: &dynamo.Sessions{DB: db, Table: os.Getenv("SESSIONS_TABLE")},
		Lifetime: session.DefaultLifetime,
	}
	lambda.Start(f.Authorize)
}
