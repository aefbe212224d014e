package dynamo

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cis-session/cis-session/internal/awsenv"
)

// Client is the SDK's DynamoDB client, named here so that callers need not
// import the SDK themselves.
type Client = dynamodb.Client

// HTTPClient is what the SDK sends each DynamoDB request through: one Do
// per attempt, retries included.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Option adjusts the client NewClient builds.
type Option func(*clientOptions)

type clientOptions struct {
	wrap func(HTTPClient) HTTPClient
}

// WrapHTTPClient has every request to the engine pass through wrap(the SDK's
// own HTTP client): how tests count round trips and the local runner times
// the engine.
func WrapHTTPClient(wrap func(HTTPClient) HTTPClient) Option {
	return func(o *clientOptions) { o.wrap = wrap }
}

// NewClient builds a DynamoDB client from what Lambda puts in a function's
// environment: the region (AWS_REGION, or AWS_DEFAULT_REGION), the role's
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
// and, to point the same binary at DynamoDB Local, moto or dynalite,
// AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL). A missing region or key is
// an error naming the variable. It reads no file and makes no network call.
//
// It leaves out the SDK's configuration loader (shared files, profiles, SSO,
// the instance metadata service): a function never needs them, and their
// packages alone cost every cold start a millisecond or more. The admin tool,
// which people run with profiles, uses package sdkconfig instead.
//
// ctx is not used: building the client does no I/O.
func NewClient(_ context.Context, opts ...Option) (*Client, error) {
	cfg, err := envConfig(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return NewClientFromConfig(cfg, opts...), nil
}

// envConfig is the part of the SDK's environment configuration a function
// uses, read through lookup, with DynamoDB's own endpoint override.
func envConfig(lookup func(string) (string, bool)) (aws.Config, error) {
	return awsenv.Config(lookup, "AWS_ENDPOINT_URL_DYNAMODB")
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

// The retry quota: a token bucket per client, so per function instance,
// that every retry draws on. Under a sustained backend failure it runs dry
// after RetryQuota/RetryCost retries (35; 100 when throttled), and from then
// on a call makes one attempt, not MaxAttempts: a failing DynamoDB is not
// sent three times the requests, and each client hears 503 in one attempt's
// time instead of three. Each call that succeeds at its first attempt puts
// one token back, so retries return once the backend does. That is the
// behaviour we want; the values are pinned here, not left to the SDK's
// defaults, which have changed before (a retry cost 5, now 14).
const (
	RetryQuota          = 500 // tokens in a full bucket
	RetryCost           = 14  // a retry after an error other than throttling
	ThrottlingRetryCost = 5   // a retry after throttling
)

// NewClientFromConfig builds a DynamoDB client from cfg with the retry and
// timeout bounds above, keeping its connection to the engine open between
// requests.
func NewClientFromConfig(cfg aws.Config, opts ...Option) *Client {
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(AttemptTimeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = AttemptTimeout / 2 }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = AttemptTimeout / 2
			t.ResponseHeaderTimeout = AttemptTimeout
		})
	return dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		do.HTTPClient = keepConnection{httpClient}
		if o.wrap != nil {
			do.HTTPClient = o.wrap(do.HTTPClient)
		}
		do.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = MaxAttempts
			so.MaxBackoff = MaxBackoff
			so.BaseDelay = 25 * time.Millisecond // DynamoDB's own default
			so.RateLimiter = ratelimit.NewTokenRateLimit(RetryQuota)
			so.RetryCost = RetryCost
			so.ThrottlingRetryCost = ThrottlingRetryCost
			so.NoRetryIncrement = 1
		})
	})
}

// keepConnection keeps the connection to the engine open between requests.
// smithy-go (v1.28.9) closes a request's body as soon as the response
// arrives; if net/http is still reading that body for bytes past its
// Content-Length, the body's WriteTo answers io.EOF, which net/http takes for
// a failed write, and it drops the connection: a fresh TCP (on AWS, TLS)
// connection for about one request in ten. Hiding WriteTo turns that late
// read into an ordinary end of body.
type keepConnection struct{ next HTTPClient }

func (k keepConnection) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return k.next.Do(r)
}
