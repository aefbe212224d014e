// Command minimal is the yardstick for cold starts: the smallest aws-lambda-go
// function, built exactly as the service's functions are. `make bench`
// compares each function's init time under the Runtime Interface Emulator to
// this one's.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, map[string]any) (map[string]any, error) {
		return map[string]any{"statusCode": 200}, nil
	})
}
