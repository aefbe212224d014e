package secrets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/secrets"
)

// moto is Secrets Manager on loopback (moto_server serves every service
// it knows on one port), reached as a function reaches AWS: through
// LoadSeeds and the environment, AWS_ENDPOINT_URL_SECRETS_MANAGER first.
func moto(t *testing.T) *secretsmanager.Client {
	t.Helper()
	srv := dynamotest.Moto(t, "AWS_ENDPOINT_URL_SECRETS_MANAGER")
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	return secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// TestSeedsFollowTheSecretsVersionStages: a fresh secret signs with its
// one version; staging a new value AWSPENDING publishes it without
// signing; promoting it signs with it and keeps the old one published.
func TestSeedsFollowTheSecretsVersionStages(t *testing.T) {
	c := moto(t)
	ctx := context.Background()
	v1, _ := assertion.NewSecretValue("")
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("cis-assertion-key"), SecretString: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	keys := func() *assertion.KeySet {
		t.Helper()
		seeds, err := secrets.LoadSeeds(ctx, *out.ARN)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := assertion.NewKeySet(seeds)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	first := keys()
	if n := strings.Count(string(first.JWKS()), `"kid"`); n != 1 {
		t.Fatalf("%d keys published for one version", n)
	}

	v2, _ := assertion.NewSecretValue(v1)
	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String(v2), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatal(err)
	}
	staged := keys()
	if staged.CurrentID() != first.CurrentID() || strings.Count(string(staged.JWKS()), `"kid"`) != 2 {
		t.Errorf("staged: signs with %s (want %s), publishes %s", staged.CurrentID(), first.CurrentID(), staged.JWKS())
	}

	cur, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: out.ARN})
	if err != nil {
		t.Fatal(err)
	}
	var old string
	for id, stages := range cur.VersionIdsToStages {
		for _, s := range stages {
			if s == "AWSCURRENT" {
				old = id
			}
		}
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: out.ARN, VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: put.VersionId, RemoveFromVersionId: aws.String(old),
	}); err != nil {
		t.Fatal(err)
	}
	rotated := keys()
	if rotated.CurrentID() == first.CurrentID() || !strings.Contains(string(rotated.JWKS()), first.CurrentID()) {
		t.Errorf("rotated: signs with %s, publishes %s; want a new key and the old one published", rotated.CurrentID(), rotated.JWKS())
	}
	h := []byte("a session's token hash")
	if rotated.Handle(h) != first.Handle(h) {
		t.Error("the rotation changed the session handle")
	}
}

// TestAMissingSecretStopsStartUp: no current version, no function.
func TestAMissingSecretStopsStartUp(t *testing.T) {
	moto(t)
	if _, err := secrets.LoadSeeds(context.Background(), "no-such-secret"); err == nil {
		t.Error("loaded a secret that does not exist")
	}
}
