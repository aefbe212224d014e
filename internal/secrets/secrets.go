// Package secrets reads the assertions' key seeds from AWS Secrets Manager,
// once, at a function's init. It is the only importer of the Secrets
// Manager SDK. The seeds never leave memory: no log line, no error names
// a value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/awsenv"
)

// The version stages read: AWSCURRENT signs; AWSPREVIOUS and AWSPENDING are
// published (docs/UPSTREAM.md, Rotation).
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// InitTimeout bounds the reads at init: well within a Lambda init's 10 s.
const InitTimeout = 5 * time.Second

// LoadSeeds reads the secret id's current, previous and pending versions
// (the three at once) into assertion seeds, for an instance deployed with
// AssertionKeyEpoch epoch (assertion.ParseSecretVersions: the pending seed
// only when its value names this epoch; the previous one retired after the
// current version's rotated_at, else its creation, plus the assertions'
// life). A missing previous or pending version is none; a missing current
// one is an error. The client is
// configured from the environment as the DynamoDB client is (awsenv), its
// endpoint overridden by AWS_ENDPOINT_URL_SECRETS_MANAGER.
func LoadSeeds(ctx context.Context, id, epoch string) (assertion.Seeds, error) {
	cfg, err := awsenv.Config(os.LookupEnv, "AWS_ENDPOINT_URL_SECRETS_MANAGER")
	if err != nil {
		return assertion.Seeds{}, err
	}
	return LoadSeedsWith(ctx, secretsmanager.NewFromConfig(cfg), id, epoch)
}

// LoadSeedsWith is LoadSeeds with a client of the caller's.
func LoadSeedsWith(ctx context.Context, c *secretsmanager.Client, id, epoch string) (assertion.Seeds, error) {
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	stages := []string{StageCurrent, StagePrevious, StagePending}
	values := make([]string, len(stages))
	var created time.Time
	errs := make([]error, len(stages))
	var wg sync.WaitGroup
	for i, stage := range stages {
		wg.Go(func() {
			out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(stage)})
			var missing *types.ResourceNotFoundException
			switch {
			case errors.As(err, &missing) && stage != StageCurrent:
			case err != nil:
				errs[i] = fmt.Errorf("read %s of the assertion key secret: %w", stage, err)
			case out.SecretString != nil:
				values[i] = *out.SecretString
				if stage == StageCurrent && out.CreatedDate != nil {
					created = *out.CreatedDate
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return assertion.Seeds{}, err
	}
	return assertion.ParseSecretVersions(assertion.Versions{Current: values[0], Previous: values[1], Pending: values[2], CurrentCreated: created, Epoch: epoch})
}
