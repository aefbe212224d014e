// Package secrets reads the assertions' key seeds from AWS Secrets Manager,
// once, at a function's init. It is the only code that calls Secrets
// Manager. The seeds never leave memory: no log line, no error names a
// value.
//
// It makes its one call, GetSecretValue, by hand over net/http, signed by
// the SDK's own SigV4 signer (already linked for DynamoDB), rather than
// with the SDK's Secrets Manager client: that client's package
// initialisers (0.18 ms and 1494 allocations) and 270 KB ran at every
// cold start of the front door, which started 0.99-1.13 times its floor with
// them and 0.95-1.02 without (docs/BENCHMARKS.md); the call is some 100
// lines.
package secrets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

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

// Attempts is how many times a read is tried when Secrets Manager throttles,
// fails (5xx) or cannot be reached, as the SDK's standard retryer would:
// a failed read fails the init, and so the call that started it.
const Attempts = 3

// LoadSeeds reads the secret id's current, previous and pending versions
// (the three at once) into assertion seeds, for an instance deployed with
// AssertionKeyEpoch epoch (assertion.ParseSecretVersions: the pending seed
// only when its value names this epoch; the previous one retired after the
// current version's rotated_at, else its creation, plus the assertions'
// life). A missing previous or pending version is none; a missing current
// one is an error. The call is configured from the environment as the
// DynamoDB client is (awsenv), its endpoint overridden by
// AWS_ENDPOINT_URL_SECRETS_MANAGER, else the region's (Endpoint).
func LoadSeeds(ctx context.Context, id, epoch string) (assertion.Seeds, error) {
	cfg, err := awsenv.Config(os.LookupEnv, "AWS_ENDPOINT_URL_SECRETS_MANAGER")
	if err != nil {
		return assertion.Seeds{}, err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return assertion.Seeds{}, err
	}
	c := &client{http: http.DefaultClient, endpoint: aws.ToString(cfg.BaseEndpoint), region: cfg.Region, creds: creds, signer: v4.NewSigner()}
	if c.endpoint == "" {
		c.endpoint = Endpoint(cfg.Region)
	}
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	stages := []string{StageCurrent, StagePrevious, StagePending}
	values := make([]string, len(stages))
	var created time.Time
	errs := make([]error, len(stages))
	var wg sync.WaitGroup
	for i, stage := range stages {
		wg.Go(func() {
			out, err := c.getSecretValue(ctx, id, stage)
			var apiErr *Error
			switch {
			case errors.As(err, &apiErr) && apiErr.Code == "ResourceNotFoundException" && stage != StageCurrent:
			case err != nil:
				errs[i] = fmt.Errorf("read %s of the assertion key secret: %w", stage, err)
			case out.SecretString != nil:
				values[i] = *out.SecretString
				if stage == StageCurrent && out.CreatedDate != nil {
					sec, frac := math.Modf(*out.CreatedDate)
					created = time.Unix(int64(sec), int64(frac*1e9))
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

// Endpoint is Secrets Manager's endpoint in region: the aws partition's
// name, or aws-cn's for a cn- region. A region of another partition (the
// ISO ones, the European Sovereign Cloud) names its endpoint in
// AWS_ENDPOINT_URL_SECRETS_MANAGER.
func Endpoint(region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://secretsmanager." + region + "." + suffix
}

// Error is Secrets Manager's answer to a call it refused: its error code
// (ResourceNotFoundException, AccessDeniedException, ...) and status.
// Its message is not kept: nothing a caller logs comes from the answer.
type Error struct {
	Code   string
	Status int
}

func (e *Error) Error() string { return fmt.Sprintf("secrets manager: %s (HTTP %d)", e.Code, e.Status) }

// retryable reports whether another attempt may succeed.
func (e *Error) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || strings.Contains(e.Code, "Throttl")
}

type client struct {
	http     *http.Client
	endpoint string
	region   string
	creds    aws.Credentials
	signer   *v4.Signer
}

// secretValue is what GetSecretValue answers that is read here.
type secretValue struct {
	SecretString *string
	CreatedDate  *float64 // Unix seconds
}

// getSecretValue is GetSecretValue of the stage of the secret id (awsJson1_1),
// tried up to Attempts times.
func (c *client) getSecretValue(ctx context.Context, id, stage string) (secretValue, error) {
	body, err := json.Marshal(struct{ SecretId, VersionStage string }{id, stage})
	if err != nil {
		return secretValue{}, err
	}
	sum := sha256.Sum256(body)
	for attempt := 1; ; attempt++ {
		out, err := c.try(ctx, body, hex.EncodeToString(sum[:]))
		var apiErr *Error
		if err == nil || attempt == Attempts || ctx.Err() != nil || (errors.As(err, &apiErr) && !apiErr.retryable()) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

func (c *client) try(ctx context.Context, body []byte, payloadHash string) (secretValue, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return secretValue{}, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	if err := c.signer.SignHTTP(ctx, c.creds, req, payloadHash, "secretsmanager", c.region, time.Now()); err != nil {
		return secretValue{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return secretValue{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return secretValue{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return secretValue{}, &Error{Code: errorCode(resp.Header.Get("X-Amzn-Errortype"), b), Status: resp.StatusCode}
	}
	var out secretValue
	if err := json.Unmarshal(b, &out); err != nil {
		return secretValue{}, errors.New("secrets manager: an answer that is not GetSecretValue's")
	}
	return out, nil
}

// errorCode is the error's code, from the X-Amzn-ErrorType header or the
// body's __type (code or code), without a namespace
// ("com.amazonaws.secretsmanager#") or a suffix (":http://...").
func errorCode(header string, body []byte) string {
	code := header
	if code == "" {
		var e struct {
			Type string `json:"__type"`
			Code string `json:"code"`
		}
		if json.Unmarshal(body, &e) == nil {
			code = e.Type
			if code == "" {
				code = e.Code
			}
		}
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = "UnknownError"
	}
	return code
}
