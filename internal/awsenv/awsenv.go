// Package awsenv reads the AWS settings a Lambda function has from its
// environment, and nothing else: the region, the role's credentials Lambda
// sets, and a per-service endpoint override. The SDK's configuration chain
// (shared files, SSO, STS, the instance metadata service) would cost every
// cold start its initialisers and could look for credentials on the
// network; no function links it.
//
// It imports the SDK's core only, never a service client.
package awsenv

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config returns the configuration the environment gives, read through
// lookup (os.LookupEnv in production). endpointVar names the service's own
// endpoint override (AWS_ENDPOINT_URL_DYNAMODB, say), which wins over the
// general AWS_ENDPOINT_URL, as in the SDK; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
// turns both off. What is missing is named in the error.
func Config(lookup func(string) (string, bool), endpointVar string) (aws.Config, error) {
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := lookup(n); ok && v != "" {
				return v
			}
		}
		return ""
	}
	cfg := aws.Config{Region: get("AWS_REGION", "AWS_DEFAULT_REGION")}
	var errs []error
	if cfg.Region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set"))
	}
	id, secret := get("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), get("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	if id == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set (Lambda sets them from the function's role)"))
	}
	if len(errs) > 0 {
		return aws.Config{}, errors.Join(errs...)
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, get("AWS_SESSION_TOKEN"))
	if ignore, _ := lookup("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"); !strings.EqualFold(ignore, "true") {
		if ep := get(endpointVar, "AWS_ENDPOINT_URL"); ep != "" {
			cfg.BaseEndpoint = aws.String(ep)
		}
	}
	return cfg, nil
}
