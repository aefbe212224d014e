// Command minimal-dynamodb is the second yardstick for cold starts: the
// minimal function plus a DynamoDB client built at init the way the service
// builds its own. Its init over the minimal function's is what the AWS SDK
// alone costs; the service's functions over it, what the service adds.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cis-session/cis-session/internal/dynamo"
)

func main() {
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		panic(err)
	}
	lambda.Start(func(context.Context, map[string]any) (map[string]any, error) {
		_ = db
		return map[string]any{"statusCode": 200}, nil
	})
}
