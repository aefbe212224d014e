package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/config"
)

// keyEnvironments returns the environment each way of holding keys adds
// to a function's, and a func that stops what it started: a key file in
// o.out, and, withSecret, a secret in moto's Secrets Manager (left out,
// with no entry, where moto_server is not installed).
func keyEnvironments(ctx context.Context, o options, withSecret bool) (map[keys][]string, func(), error) {
	envs := map[keys][]string{noKeys: nil}
	value, err := assertion.NewSecretValue("")
	if err != nil {
		return nil, nil, err
	}
	file, err := filepath.Abs(filepath.Join(o.out, "assertion-key.json"))
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(file, []byte(value), 0o600); err != nil {
		return nil, nil, err
	}
	envs[keyFile] = []string{config.EnvAssertionKeyFile + "=" + file, config.EnvAssertionKeyEpoch + "=1"}
	if ok, _ := localdynamo.Available(localdynamo.Moto); !ok || !withSecret {
		return envs, func() {}, nil
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	moto, err := localdynamo.Start(sctx, localdynamo.Moto)
	if err != nil {
		return nil, nil, err
	}
	stop := func() { _ = moto.Stop() }
	sm := secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(moto.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
	})
	out, err := sm.CreateSecret(sctx, &secretsmanager.CreateSecretInput{Name: aws.String("cis-bench-assertion-key"), SecretString: aws.String(value)})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("create the key secret on moto: %w", err)
	}
	envs[keySecret] = []string{config.EnvAssertionKeySecret + "=" + *out.ARN, config.EnvAssertionKeyEpoch + "=1",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + moto.Endpoint}
	return envs, stop, nil
}
