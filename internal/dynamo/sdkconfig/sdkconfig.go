// Package sdkconfig builds a DynamoDB client from the AWS SDK's full
// configuration chain — environment, shared config and credentials files,
// profiles, SSO, the instance role — for the admin tool, which people run
// against AWS with their own profiles; and tells who the tool runs as, for
// the audit trail.
//
// The Lambda functions must never import it: they get everything they need
// from their environment (dynamo.NewClient), and the packages of this chain
// alone would add to every cold start.
package sdkconfig

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cis-session/cis-session/internal/dynamo"
)

// NewClient loads the SDK's configuration (Load) and builds the client from
// it. It makes no network call; credentials are resolved at the first
// request.
func NewClient(ctx context.Context, opts ...dynamo.Option) (*dynamo.Client, error) {
	cfg, err := Load(ctx)
	if err != nil {
		return nil, err
	}
	return dynamo.NewClientFromConfig(cfg, opts...), nil
}

// Load loads the SDK's default configuration, honouring
// AWS_ENDPOINT_URL_DYNAMODB and AWS_PROFILE. With an endpoint override the
// instance metadata service is never asked for credentials or a region: a
// local engine wants neither, and on a machine without that service the
// SDK would wait for it before failing.
func Load(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if EndpointOverride() != "" {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// EndpointOverride returns the DynamoDB endpoint the environment names
// instead of AWS's, or "".
func EndpointOverride() string {
	if strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return ""
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return ""
}

// Caller names who makes the admin tool's changes, for the audit trail:
// the AWS identity of cfg's credentials (STS GetCallerIdentity, which needs
// no permission), or with an endpoint override, which has no identities,
// the operating-system user as "local:<name>".
func Caller(ctx context.Context, cfg aws.Config) (string, error) {
	if EndpointOverride() != "" {
		name := os.Getenv("USER")
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return "local:" + name, nil
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is making this change (sts:GetCallerIdentity): %w", err)
	}
	return aws.ToString(out.Arn), nil
}
