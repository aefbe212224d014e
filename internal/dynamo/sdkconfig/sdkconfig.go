// Package sdkconfig builds a DynamoDB client from the AWS SDK's full
// configuration chain — environment, shared config and credentials files,
// profiles, SSO, the instance role — for the admin tool, which people run
// against AWS with their own profiles.
//
// The Lambda functions must never import it: they get everything they need
// from their environment (dynamo.NewClient), and the packages of this chain
// alone would add to every cold start.
package sdkconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/cis-session/cis-session/internal/dynamo"
)

// NewClient loads the SDK's default configuration, honouring
// AWS_ENDPOINT_URL_DYNAMODB and AWS_PROFILE, and builds the client from it.
// It makes no network call; credentials are resolved at the first request.
func NewClient(ctx context.Context, opts ...dynamo.Option) (*dynamo.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return dynamo.NewClientFromConfig(cfg, opts...), nil
}
