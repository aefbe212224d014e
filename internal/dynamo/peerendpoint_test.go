package dynamo_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// sentTo records where requests went and refuses each (400, not retried):
// nothing leaves the machine.
type sentTo struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *sentTo) Do(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
	return &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body: io.NopCloser(strings.NewReader(`{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"refused by the test"}`)), Request: r}, nil
}

// TestADeployedPeerNamedByItsRegionIsReachedAtThatRegionsEndpoint: deployed,
// PEER_REGIONS names bare AWS regions (template.yaml sets PeerRegions), and
// the functions have no endpoint override: a peer's replica is then that
// region's DynamoDB endpoint, signed for that region, whatever the
// function's own region; a peer given an endpoint (locally) is reached there.
func TestADeployedPeerNamedByItsRegionIsReachedAtThatRegionsEndpoint(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	rec := &sentTo{}
	wrap := dynamo.WrapHTTPClient(func(dynamo.HTTPClient) dynamo.HTTPClient { return rec })
	here := dynamo.NewClientFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "s", "")}, wrap)
	s := &dynamo.Sessions{DB: here, Table: "cis-sessions"}
	if err := s.InRegion("us-east-1", map[string]string{"us-west-2": "", "local": "http://127.0.0.1:3799"}, wrap); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct{ host, scope string }{
		"us-west-2": {"dynamodb.us-west-2.amazonaws.com", "/us-west-2/dynamodb/aws4_request"},
		"local":     {"127.0.0.1:3799", "/us-east-1/dynamodb/aws4_request"},
	} {
		rec.reqs = nil
		_, err := s.Peers[name].Peek(context.Background(), session.Token("0123456789abcdef0123456789abcdef").Hash())
		if err == nil || len(rec.reqs) != 1 {
			t.Fatalf("%s: %v after %d requests, want the test's refusal after one", name, err, len(rec.reqs))
		}
		r := rec.reqs[0]
		if r.URL.Scheme+"://"+r.URL.Host != map[bool]string{true: "https://", false: "http://"}[name != "local"]+want.host ||
			!strings.Contains(r.Header.Get("Authorization"), want.scope) {
			t.Errorf("%s: sent to %s signed %q, want %s and scope %s", name, r.URL, r.Header.Get("Authorization"), want.host, want.scope)
		}
	}
}
