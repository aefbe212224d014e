package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Tables names the service's tables.
type Tables struct {
	Sessions string
	Users    string
}

// How hard one call tries before it fails. A call is also bounded by its
// context: a function's handler gives every call the invocation's deadline
// less a margin, so that it answers 503 itself before the runtime kills it.
const (
	// MaxAttempts is the number of attempts of one call, the first included.
	MaxAttempts = 3
	// MaxBackoff caps the wait before a retry. The SDK's default for
	// throttling (a 1 s base doubling to 20 s) is longer than a function's
	// whole budget.
	MaxBackoff = 250 * time.Millisecond
	// AttemptTimeout bounds one attempt, from dialling to the last byte of
	// the response, so that one hung connection cannot spend the budget of
	// every retry. DynamoDB answers in milliseconds.
	AttemptTimeout = time.Second
)

// NewClient builds a DynamoDB client from the SDK's standard configuration
// (environment, shared files, the Lambda role), honouring
// AWS_ENDPOINT_URL_DYNAMODB, with the retry and timeout bounds above. It
// makes no network call.
func NewClient(ctx context.Context) (*Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(AttemptTimeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = AttemptTimeout / 2 }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = AttemptTimeout / 2
			t.ResponseHeaderTimeout = AttemptTimeout
		})
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = httpClient
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = MaxAttempts
			so.MaxBackoff = MaxBackoff
			so.BaseDelay = 25 * time.Millisecond // DynamoDB's own default
		})
	}), nil
}

// CreateTables creates the sessions and users tables if they do not exist,
// waits until they are active, and turns on TTL for sessions. It is what the
// admin tool and the local runner use; a deployed stack gets its tables from
// template.yaml instead.
func CreateTables(ctx context.Context, db *Client, t Tables) error {
	specs := []struct {
		name, key string
	}{
		{t.Sessions, attrTokenHash},
		{t.Users, attrUserKeyPK},
	}
	for _, s := range specs {
		_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   aws.String(s.name),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(s.key), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(s.key), KeyType: types.KeyTypeHash},
			},
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", s.name, err)
		}
	}
	for _, s := range specs {
		w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = time.Second
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.name)}, 2*time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", s.name, err)
		}
	}
	return enableTTL(ctx, db, t.Sessions)
}

// enableTTL turns on TTL clean-up of expired sessions. Engines without TTL
// (dynalite) refuse it; correctness does not depend on it, so that refusal
// is not an error.
func enableTTL(ctx context.Context, db *Client, table string) error {
	d, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && d.TimeToLiveDescription != nil &&
		(d.TimeToLiveDescription.TimeToLiveStatus == types.TimeToLiveStatusEnabled ||
			d.TimeToLiveDescription.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpires),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && isUnsupported(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enable TTL on %s: %w", table, err)
	}
	return nil
}

// isUnsupported reports whether err is an engine's refusal of an operation it
// does not implement.
func isUnsupported(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnknownOperationException", "NotImplemented", "UnsupportedOperation":
		return true
	}
	return false
}

// Client is the SDK's DynamoDB client, named here so that callers need not
// import the SDK themselves.
type Client = dynamodb.Client
