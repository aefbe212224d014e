package lambda_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// TestAnItemATouchingRoleCouldWriteAuthorizesNothing: whoever runs code as
// the get or the authorizer function may UpdateItem the sessions table
// naming only dynamo.TouchAttributes (template.yaml's dynamodb:Attributes
// condition; internal/stack's TestTouchingRolesCannotMakeASession holds the
// policy). An item written straight into the engine under a token of the
// writer's choosing, with every attribute those roles may name, authorizes
// no call and answers no get. What they may not write, a user, is what
// would make it a session: the contrast case shows the policy is the
// guard.
func TestAnItemATouchingRoleCouldWriteAuthorizesNothing(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	st := newStack(t, f)
	a := authorizerOf(st, st.svc)
	now := st.clock.Now()
	write := func(token string, withUser bool) {
		t.Helper()
		tok, ok := session.ParseToken(token)
		if !ok {
			t.Fatalf("%s is no token", token)
		}
		ms := &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String(f.Tables.Sessions),
			Key:       map[string]types.AttributeValue{dynamo.SessionsKey: &types.AttributeValueMemberS{Value: tok.Hash().String()}},
			// An UpdateItem on an absent key: it creates the item.
			UpdateExpression: aws.String("SET last_accessed_ms = :ms, created_ms = :ms, expires_at = :exp"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":ms": ms, ":exp": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
			},
		}
		if withUser {
			*in.UpdateExpression += ", #u = :u"
			in.ExpressionAttributeNames = map[string]string{"#u": "user"}
			in.ExpressionAttributeValues[":u"] = &types.AttributeValueMemberS{Value: adminName}
		}
		if _, err := f.DB.UpdateItem(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}

	chosen := "c0ffeec0ffeec0ffeec0ffeec0ffee00"
	write(chosen, false)
	// No user: the item is no session (the storage layer reads it as
	// malformed), so the authorizer fails (API Gateway's 503) and get
	// answers 503; neither names anyone.
	if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(chosen))); r.Effect == "Allow" || r.Err == nil {
		t.Errorf("the authorizer answered %+v for an item a touching role wrote, want a failed invocation", r)
	}
	if r := st.v2("GET", "/api/session", sid(chosen), ""); r.Status != 503 || strings.Contains(r.Body, adminName) {
		t.Errorf("get answered %d %s for an item a touching role wrote, want 503", r.Status, r.Body)
	}

	// What IAM refuses those roles: naming the user.
	forbidden := "c0ffeec0ffeec0ffeec0ffeec0ffee01"
	write(forbidden, true)
	if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(forbidden))); r.Effect != "Allow" {
		t.Errorf("an item with a user is not a session: %+v (the contrast this test rests on is gone)", r)
	}
}
