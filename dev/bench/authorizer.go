package bench

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// AuthorizerFloor is the front door's yardstick: a bare aws-lambda-go
// REQUEST authorizer that makes the authorizer's one DynamoDB request (the
// same conditional UpdateItem, ALL_NEW) and answers Allow with the same
// context, or Deny; no seal, no assertion, no log, no reserved-header
// check. What the authorizer costs over it is what the service adds.
type AuthorizerFloor struct {
	Sessions *dynamo.Sessions
	Lifetime session.Lifetime
}

// Authorize is the floor's handler: a typed event in, a typed response out.
func (f *AuthorizerFloor) Authorize(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	resource := ev.MethodArn
	if parts := strings.SplitN(resource, "/", 3); len(parts) == 3 {
		resource = parts[0] + "/" + parts[1] + "/*/*"
	}
	tok, ok := session.ParseToken(ev.Headers["vmware-api-session-id"])
	if !ok {
		return policy("anonymous", "Deny", resource, nil), nil
	}
	s, err := f.Sessions.Touch(ctx, tok.Hash(), time.Now().UTC().Truncate(time.Millisecond), f.Lifetime)
	switch {
	case session.ErrorCode(err) == session.ENOTFOUND:
		return policy("anonymous", "Deny", resource, nil), nil
	case err != nil:
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	return policy(s.User, "Allow", resource, map[string]any{"user": s.User, "created_time": s.Created.UTC().Format(timeFormat)}), nil
}

func policy(principal, effect, resource string, context map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{
			Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource},
		}}},
		Context: context,
	}
}
