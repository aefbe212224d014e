package dynamo

import (
	"context"
	"strings"
	"testing"
)

func TestEnvConfigReadsWhatLambdaProvides(t *testing.T) {
	env := map[string]string{
		"AWS_REGION":                "eu-west-1",
		"AWS_DEFAULT_REGION":        "us-east-1",
		"AWS_ACCESS_KEY_ID":         "AKID",
		"AWS_SECRET_ACCESS_KEY":     "SECRET",
		"AWS_SESSION_TOKEN":         "TOKEN",
		"AWS_ENDPOINT_URL":          "http://127.0.0.1:1",
		"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:2",
	}
	cfg, err := envConfig(lookupIn(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want AWS_REGION's", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "SECRET" || creds.SessionToken != "TOKEN" {
		t.Errorf("credentials = %+v, %v", creds, err)
	}
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:2" {
		t.Errorf("endpoint = %v, want AWS_ENDPOINT_URL_DYNAMODB's", cfg.BaseEndpoint)
	}
}

func TestEnvConfigFallsBack(t *testing.T) {
	cfg, err := envConfig(lookupIn(map[string]string{
		"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "us-east-1" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:1" {
		t.Errorf("region %q, endpoint %v: want AWS_DEFAULT_REGION's and AWS_ENDPOINT_URL's", cfg.Region, cfg.BaseEndpoint)
	}
	cfg, err = envConfig(lookupIn(map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
		"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
	}))
	if err != nil || cfg.BaseEndpoint != nil {
		t.Errorf("endpoint %v, %v: want DynamoDB's own when configured endpoints are ignored", cfg.BaseEndpoint, err)
	}
}

func TestEnvConfigNamesWhatIsMissing(t *testing.T) {
	_, err := envConfig(lookupIn(map[string]string{"AWS_ACCESS_KEY_ID": "a"}))
	if err == nil {
		t.Fatal("no error without a region or a secret key")
	}
	for _, name := range []string{"AWS_REGION", "AWS_SECRET_ACCESS_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}
