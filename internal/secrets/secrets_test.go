package secrets_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
// one version; a new value staged AWSPENDING for epoch 2 is published by
// the instances of epoch 2 only, without signing; promoted as the runbook
// does (docs/UPSTREAM.md, Rotation: put as AWSCURRENT with rotated_at), it
// signs, the old one becomes AWSPREVIOUS and is published until
// rotated_at + the assertions' life.
func TestSeedsFollowTheSecretsVersionStages(t *testing.T) {
	c := moto(t)
	ctx := context.Background()
	v1, _ := assertion.NewSecretValue("")
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("cis-assertion-key"), SecretString: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(epoch string) *assertion.KeySet {
		t.Helper()
		seeds, err := secrets.LoadSeeds(ctx, *out.ARN, epoch)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := assertion.NewKeySet(seeds)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	first := keys("1")
	if n := strings.Count(string(first.JWKS()), `"kid"`); n != 1 {
		t.Fatalf("%d keys published for one version", n)
	}

	v2, _ := assertion.NewPendingValue(v1, "2")
	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String(v2), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatal(err)
	}
	if undeployed := keys("1"); strings.Count(string(undeployed.JWKS()), `"kid"`) != 1 {
		t.Errorf("an instance of epoch 1 publishes the key staged for epoch 2: %s", undeployed.JWKS())
	}
	staged := keys("2")
	if staged.CurrentID() != first.CurrentID() || strings.Count(string(staged.JWKS()), `"kid"`) != 2 {
		t.Errorf("staged: signs with %s (want %s), publishes %s", staged.CurrentID(), first.CurrentID(), staged.JWKS())
	}

	rotatedAt := time.Now().Truncate(time.Second)
	promoted, _ := assertion.PromotedValue(v2, rotatedAt)
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String(promoted), VersionStages: []string{"AWSCURRENT"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: out.ARN, VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: put.VersionId,
	}); err != nil {
		t.Fatal(err)
	}
	rotated := keys("3")
	life := 5 * time.Minute
	if rotated.CurrentID() == first.CurrentID() || !strings.Contains(string(rotated.JWKSAt(rotatedAt, life)), first.CurrentID()) {
		t.Errorf("rotated: signs with %s, publishes %s; want a new key and the old one published", rotated.CurrentID(), rotated.JWKSAt(rotatedAt, life))
	}
	if jwks := rotated.JWKSAt(rotatedAt.Add(life), life); strings.Contains(string(jwks), first.CurrentID()) || strings.Count(string(jwks), `"kid"`) != 1 {
		t.Errorf("rotated, its assertions' life later: publishes %s; want the new key alone", jwks)
	}
	h := []byte("a session's token hash")
	if rotated.Handle(h) != first.Handle(h) {
		t.Error("the rotation changed the session handle")
	}
}

// TestAMissingSecretStopsStartUp: no current version, no function.
func TestAMissingSecretStopsStartUp(t *testing.T) {
	moto(t)
	if _, err := secrets.LoadSeeds(context.Background(), "no-such-secret", ""); err == nil {
		t.Error("loaded a secret that does not exist")
	}
}
