package dynamo_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/faultproxy"
	"github.com/cis-session/cis-session/internal/dynamo"
)

// TestSustainedFailureDrainsTheRetryQuota specifies what a client does
// while its backend keeps failing: MaxAttempts per call until the retry
// quota is spent, then one attempt per call; and retries come back as calls
// succeed again, one token for each.
func TestSustainedFailureDrainsTheRetryQuota(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	proxy, err := faultproxy.Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	db := dynamo.NewClientFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(proxy.URL),
	})
	ctx := context.Background()
	healthy := false
	attemptsOf := func() int64 {
		before := proxy.Faulted() + proxy.Forwarded()
		_, err := db.ListTables(ctx, nil)
		if (err == nil) != healthy {
			t.Fatalf("call with the backend healthy=%v: error %v", healthy, err)
		}
		return proxy.Faulted() + proxy.Forwarded() - before
	}

	if err := proxy.Inject(faultproxy.Fault{Kind: faultproxy.InternalError}); err != nil {
		t.Fatal(err)
	}
	perCall := int64(dynamo.MaxAttempts - 1)
	full := dynamo.RetryQuota / (perCall * dynamo.RetryCost) // calls that can retry fully
	for i := range full {
		if n := attemptsOf(); n != dynamo.MaxAttempts {
			t.Fatalf("failing call %d: %d attempts, want %d while the quota lasts", i+1, n, dynamo.MaxAttempts)
		}
	}
	left := dynamo.RetryQuota - full*perCall*dynamo.RetryCost
	if n, want := attemptsOf(), 1+left/dynamo.RetryCost; n != want {
		t.Fatalf("the call that spends the quota: %d attempts, want %d", n, want)
	}
	left %= dynamo.RetryCost
	for i := range 10 {
		if n := attemptsOf(); n != 1 {
			t.Fatalf("failing call %d after the quota ran out: %d attempts, want 1", i+1, n)
		}
	}

	if err := proxy.Clear(); err != nil {
		t.Fatal(err)
	}
	healthy = true
	for range dynamo.RetryCost - left { // each success at the first attempt adds a token
		if n := attemptsOf(); n != 1 {
			t.Fatalf("healthy call: %d attempts", n)
		}
	}
	if err := proxy.Inject(faultproxy.Fault{Kind: faultproxy.InternalError}); err != nil {
		t.Fatal(err)
	}
	healthy = false
	if n := attemptsOf(); n != 2 {
		t.Fatalf("failing call once one retry's worth came back: %d attempts, want 2", n)
	}
}
