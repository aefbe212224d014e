package lambda_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
	cisstack "github.com/cis-session/cis-session/internal/stack"
)

// TestAnItemATouchingRoleCouldWriteAuthorizesNothing: whoever runs code as
// the get or the authorizer function may UpdateItem the sessions table
// naming only dynamo.TouchAttributes (template.yaml's dynamodb:Attributes
// condition; internal/stack's TestTouchingRolesCannotMakeASession holds the
// policy). An item written straight into the engine under a token of the
// writer's choosing, with every attribute those roles may name, has no
// user: it is no session (a 401, not a backend failure), on get and at the
// front door. The same item with a user, which IAM refuses those roles,
// is still no session at a front door holding the seal key: it is not
// sealed. Without the key (the contrast) it would authorize: IAM and the
// seal are two guards, each enough.
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
			*in.UpdateExpression += ", #u = :u, user_key = :k"
			in.ExpressionAttributeNames = map[string]string{"#u": "user"}
			in.ExpressionAttributeValues[":u"] = &types.AttributeValueMemberS{Value: adminName}
			in.ExpressionAttributeValues[":k"] = &types.AttributeValueMemberS{Value: session.UserKey(adminName)}
		}
		if _, err := f.DB.UpdateItem(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}

	chosen := "c0ffeec0ffeec0ffeec0ffeec0ffee00"
	write(chosen, false)
	// No user: no session, refused as an unknown one is.
	if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(chosen))); r.Effect != "Deny" || r.Err != nil {
		t.Errorf("the authorizer answered %+v for an item a touching role wrote, want a Deny", r)
	}
	if r := st.v2("GET", "/api/session", sid(chosen), ""); r.Status != 401 || strings.Contains(r.Body, adminName) {
		t.Errorf("get answered %d %s for an item a touching role wrote, want 401", r.Status, r.Body)
	}

	// What IAM refuses those roles: naming the user.
	forbidden := "c0ffeec0ffeec0ffeec0ffeec0ffee01"
	write(forbidden, true)
	if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(forbidden))); r.Effect != "Allow" {
		t.Errorf("without the seal key an item with a user is not a session: %+v (the contrast this test rests on is gone)", r)
	}
	sealWith(st.svc, keySet(t, newSecret(t, ""), ""))
	write(forbidden, true)
	if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(forbidden))); r.Effect != "Deny" || r.Err != nil {
		t.Errorf("with the seal key an unsealed item with a user: %+v, want a Deny", r)
	}
}

func newSecret(t *testing.T, replaces string) string {
	t.Helper()
	v, err := assertion.NewSecretValue(replaces)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func keySet(t *testing.T, current, previous string) *assertion.KeySet {
	t.Helper()
	seeds, err := assertion.ParseSecrets(current, previous)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := assertion.NewKeySet(seeds)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// sealWith gives svc's store the seal key, as functions.SealedSessions does.
func sealWith(svc *session.Service, ks *assertion.KeySet) {
	svc.Sessions.(*dynamo.Sessions).Seals = ks
}

// putItem writes item under the token straight into the sessions table,
// as anything with PutItem on it could: a compromised administrator's
// credential, a restored backup edited, another role.
func putItem(t *testing.T, f dynamotest.Fixture, token string, item map[string]types.AttributeValue) {
	t.Helper()
	tok, _ := session.ParseToken(token)
	item[dynamo.SessionsKey] = &types.AttributeValueMemberS{Value: tok.Hash().String()}
	if _, err := f.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.Tables.Sessions), Item: item}); err != nil {
		t.Fatal(err)
	}
}

func itemOf(t *testing.T, f dynamotest.Fixture, token string) map[string]types.AttributeValue {
	t.Helper()
	tok, _ := session.ParseToken(token)
	out, err := f.DB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(f.Tables.Sessions), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{dynamo.SessionsKey: &types.AttributeValueMemberS{Value: tok.Hash().String()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// TestAnItemLogInDidNotSealAuthorizesNothingThroughTheFrontDoor: an item
// written straight into the engine under a token of the writer's choosing,
// with every attribute log-in writes, passes neither the authorizer nor the
// JSON-RPC forwarder (they hold the seal key), whatever seal it carries:
// none, a real session's copied over, one made with another key, one made
// for another user, one for another creation time. Each is refused with
// the 401 of an unknown session, nothing reaches the upstream, and the
// operator's log names the cause. An item lacking what log-in writes is
// refused the same way. A real log-in's session passes, before and after a
// rotation of the assertion keys. On every engine.
func TestAnItemLogInDidNotSealAuthorizesNothingThroughTheFrontDoor(t *testing.T) {
	up := &recordingUpstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	v1 := newSecret(t, "")
	keys := keySet(t, v1, "")
	dynamotest.ForEach(t, func(t *testing.T, eng *localdynamo.Server) {
		f := dynamotest.Setup(t, eng)
		var svc *session.Service
		st, _ := newCountingStackOf(t, f, func(s *session.Service, log *slog.Logger) http.Handler {
			svc = s
			sealWith(s, keys)
			return httpapi.New(s, log, cisstack.Vapi.Ops...).WithUpstream(httpapi.NewUpstream(base))
		})
		a := authorizerOf(st, svc)
		real := rpcLogin(t, st)
		realItem := itemOf(t, f, real)
		realSeal := realItem["seal"].(*types.AttributeValueMemberS).Value
		created, _ := strconv.ParseInt(realItem["created_ms"].(*types.AttributeValueMemberN).Value, 10, 64)
		hash := func(token string) []byte { tok, _ := session.ParseToken(token); h := tok.Hash(); return h[:] }
		// Every attribute log-in writes, for an administrator's session.
		full := func(seal string) map[string]types.AttributeValue {
			item := map[string]types.AttributeValue{
				"user": &types.AttributeValueMemberS{Value: adminName}, "user_key": &types.AttributeValueMemberS{Value: session.UserKey(adminName)},
				"created_ms":       &types.AttributeValueMemberN{Value: strconv.FormatInt(created, 10)},
				"last_accessed_ms": &types.AttributeValueMemberN{Value: strconv.FormatInt(created, 10)},
				dynamo.AttrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(time.UnixMilli(created).Add(time.Hour).Unix(), 10)},
			}
			if seal != "" {
				item["seal"] = &types.AttributeValueMemberS{Value: seal}
			}
			return item
		}
		without := func(item map[string]types.AttributeValue, attr string) map[string]types.AttributeValue {
			delete(item, attr)
			return item
		}
		at := time.UnixMilli(created)
		cases := []struct {
			name, token, cause string
			item               map[string]types.AttributeValue
		}{
			{"no seal", "c0ffeec0ffeec0ffeec0ffeec0ff0001", "unsealed_session", full("")},
			{"a real session's seal copied over", "c0ffeec0ffeec0ffeec0ffeec0ff0002", "unsealed_session", full(realSeal)},
			{"a seal made with another key", "c0ffeec0ffeec0ffeec0ffeec0ff0003", "unsealed_session",
				full(keySet(t, newSecret(t, ""), "").Seal(hash("c0ffeec0ffeec0ffeec0ffeec0ff0003"), adminName, at))},
			{"a seal made for another user", "c0ffeec0ffeec0ffeec0ffeec0ff0004", "unsealed_session",
				full(keys.Seal(hash("c0ffeec0ffeec0ffeec0ffeec0ff0004"), "bob@vsphere.local", at))},
			{"a seal made for a later creation time", "c0ffeec0ffeec0ffeec0ffeec0ff0005", "unsealed_session",
				full(keys.Seal(hash("c0ffeec0ffeec0ffeec0ffeec0ff0005"), adminName, at.Add(time.Hour)))},
			{"no user", "c0ffeec0ffeec0ffeec0ffeec0ff0006", "malformed_session", without(full(""), "user")},
			// A touch's condition fails without a created time: dynalite
			// then returns no item, so only "no session" is known there.
			{"no created time", "c0ffeec0ffeec0ffeec0ffeec0ff0007", "malformed_session", without(full(""), "created_ms")},
		}
		// What an unknown session gets: the answer to match, to the byte.
		unknown := unknownID("")
		denied := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(unknown)))
		refused := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, rpcOtherService(unknown))
		if denied.Effect != "Deny" || !strings.Contains(refused.Body, `"com.vmware.vapi.std.errors.unauthenticated"`) {
			t.Fatalf("an unknown session: %+v, %s", denied, refused.Body)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				putItem(t, f, c.token, c.item)
				before := len(st.logs.String())
				r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(c.token)))
				if r.Effect != "Deny" || r.Err != nil || r.Context["error_body"] != denied.Context["error_body"] {
					t.Errorf("authorizer: %+v, want the Deny of an unknown session %+v", r, denied)
				}
				up.taken()
				fr := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, rpcOtherService(c.token))
				if got := up.taken(); len(got) != 0 || fr.Status != refused.Status || fr.Body != refused.Body {
					t.Errorf("JSON-RPC forward: %d %s, upstream got %d calls; want %d %s and nothing forwarded", fr.Status, fr.Body, len(got), refused.Status, refused.Body)
				}
				logs := st.logs.String()[before:]
				if eng.Kind == localdynamo.Dynalite && c.name == "no created time" {
					return
				}
				if !strings.Contains(logs, `"cause":"`+c.cause+`"`) {
					t.Errorf("the log names no cause %s: %s", c.cause, logs)
				}
				if strings.Contains(logs, c.token) {
					t.Error("a session id reached the log")
				}
			})
		}

		t.Run("the JSON-RPC session get of each, as the vapi function holds the key", func(t *testing.T) {
			for _, c := range cases {
				r := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, rpcSessionBody("get", c.token))
				if !strings.Contains(r.Body, `"com.vmware.vapi.std.errors.unauthenticated"`) || strings.Contains(r.Body, adminName) {
					t.Errorf("%s: %d %s, want unauthenticated", c.name, r.Status, r.Body)
				}
			}
		})

		t.Run("a real log-in's session, across a rotation of the assertion keys", func(t *testing.T) {
			for _, ks := range []*assertion.KeySet{keys, keySet(t, newSecret(t, v1), v1)} {
				sealWith(svc, ks)
				if r := st.mustAuthorize(a, authEvent("GET", "/api/vcenter/vm", sid(real))); r.Effect != "Allow" || r.Principal != adminName {
					t.Errorf("authorizer: %+v, want Allow", r)
				}
				up.taken()
				if fr := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, rpcOtherService(real)); fr.Body != upstreamOutput || len(up.taken()) != 1 {
					t.Errorf("JSON-RPC forward: %d %s, want the upstream's answer", fr.Status, fr.Body)
				}
			}
		})
	})
}

// TestAnItemLackingWhatLogInWritesIsNoSessionOnEverySurface: an item with
// no user or no creation time, written straight into the engine, is a
// session that cannot be found on get and delete, with or without the seal
// key, on both surfaces: the 401 of an unknown session, never the 503 of a
// backend failure (which would fire the operator's alarms for what a
// writer to the table chose). The front door's case is in
// TestAnItemLogInDidNotSealAuthorizesNothingThroughTheFrontDoor.
func TestAnItemLackingWhatLogInWritesIsNoSessionOnEverySurface(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, eng *localdynamo.Server) {
		f := dynamotest.Setup(t, eng)
		for _, sealed := range []bool{false, true} {
			st := newStack(t, f)
			if sealed {
				sealWith(st.svc, keySet(t, newSecret(t, ""), ""))
			}
			now := strconv.FormatInt(st.clock.Now().UnixMilli(), 10)
			for i, missing := range []string{"user", "created_ms"} {
				for j, call := range []struct{ method, path string }{
					{"GET", "/api/session"}, {"GET", "/rest/com/vmware/cis/session"},
					{"DELETE", "/api/session"}, {"DELETE", "/rest/com/vmware/cis/session"},
				} {
					token := "badc0ffee0000000000000000000" + strconv.Itoa(10+i) + strconv.Itoa(10+j)
					item := map[string]types.AttributeValue{
						"user": &types.AttributeValueMemberS{Value: adminName}, "user_key": &types.AttributeValueMemberS{Value: session.UserKey(adminName)},
						"created_ms": &types.AttributeValueMemberN{Value: now}, "last_accessed_ms": &types.AttributeValueMemberN{Value: now},
					}
					delete(item, missing)
					putItem(t, f, token, item)
					r := st.v2(call.method, call.path, sid(token), "")
					if r.Status != 401 || strings.Contains(r.Body, adminName) {
						t.Errorf("sealed %v, no %s: %s %s answered %d %s, want 401", sealed, missing, call.method, call.path, r.Status, r.Body)
					}
				}
				// And JSON-RPC's get and delete, which the vapi function serves.
				for j, op := range []string{"get", "delete"} {
					token := "badc0ffee0000000000000000000" + strconv.Itoa(10+i) + strconv.Itoa(20+j)
					item := map[string]types.AttributeValue{
						"user": &types.AttributeValueMemberS{Value: adminName}, "user_key": &types.AttributeValueMemberS{Value: session.UserKey(adminName)},
						"created_ms": &types.AttributeValueMemberN{Value: now}, "last_accessed_ms": &types.AttributeValueMemberN{Value: now},
					}
					delete(item, missing)
					putItem(t, f, token, item)
					r := st.v2("POST", "/api", map[string]string{"content-type": "application/json"}, rpcSessionBody(op, token))
					if r.Status != 200 || !strings.Contains(r.Body, `"com.vmware.vapi.std.errors.unauthenticated"`) || strings.Contains(r.Body, adminName) {
						t.Errorf("sealed %v, no %s: JSON-RPC %s answered %d %s, want unauthenticated", sealed, missing, op, r.Status, r.Body)
					}
				}
			}
		}
	})
}
