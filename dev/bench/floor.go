// Package bench holds the yardsticks `make bench` measures the functions
// against. Floor is the get function's: the least a Lambda function can do
// to answer a get, so that what the get costs over it is what the service
// adds (the adapter, the HTTP surface, the access log). dev/bench/floor
// builds it as a function; the warm-path benchmarks call it in process.
package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// Floor answers an HTTP API get of /api/session with the same DynamoDB
// request as the get function (one conditional UpdateItem, ALL_NEW) and the
// same response, and nothing else: no deadline, no log, no check of the
// event beyond its session id header.
type Floor struct {
	Sessions *dynamo.Sessions
	Lifetime session.Lifetime
	Now      func() time.Time // the clock; time.Now when nil
}

// info is the get's body, a Cis.Session.Info, written here so that the
// floor depends on no part of the HTTP surface.
type info struct {
	User             string `json:"user"`
	CreatedTime      string `json:"created_time"`
	LastAccessedTime string `json:"last_accessed_time"`
}

const timeFormat = "2006-01-02T15:04:05.000Z"

// Get is the floor's handler: a typed event in, a typed response out, as
// aws-lambda-go's own examples are written.
func (f *Floor) Get(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	tok, ok := session.ParseToken(ev.Headers["vmware-api-session-id"])
	if !ok {
		return answer(http.StatusUnauthorized, `{"error_type":"UNAUTHENTICATED","messages":[]}`), nil
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	s, err := f.Sessions.Touch(ctx, tok.Hash(), now().UTC().Truncate(time.Millisecond), f.Lifetime)
	if err != nil {
		return answer(http.StatusServiceUnavailable, `{"error_type":"SERVICE_UNAVAILABLE","messages":[]}`), nil
	}
	body, err := json.Marshal(info{
		User:             s.User,
		CreatedTime:      s.Created.UTC().Format(timeFormat),
		LastAccessedTime: s.LastAccessed.UTC().Format(timeFormat),
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return answer(http.StatusOK, string(body)), nil
}

func answer(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body:       body,
		Cookies:    []string{}, // as the get writes them: [], not null
	}
}
