// Command floor is the get function's yardstick (bench.Floor) built as a
// function: a bare aws-lambda-go handler with the same DynamoDB client,
// request and answer as the get. `make bench` starts it and the get in
// turns, cold and warm.
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
	f := &bench.Floor{
		Sessions: &dynamo.Sessions{DB: db, Table: os.Getenv("SESSIONS_TABLE")},
		Lifetime: session.DefaultLifetime,
	}
	lambda.Start(f.Get)
}
