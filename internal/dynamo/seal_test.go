package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

func sealKeys(t *testing.T, seed byte) *assertion.KeySet {
	t.Helper()
	ks, err := assertion.NewKeySet(assertion.Seeds{Current: bytes.Repeat([]byte{seed}, assertion.MinSeedLen)})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// putStraight writes item under tok straight into the engine, as anything
// with PutItem on the table could: no log-in involved.
func putStraight(t *testing.T, f dynamotest.Fixture, tok session.Token, item map[string]types.AttributeValue) {
	t.Helper()
	item["token_hash"] = &types.AttributeValueMemberS{Value: tok.Hash().String()}
	if _, err := f.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.Tables.Sessions), Item: item}); err != nil {
		t.Fatalf("put item: %v", err)
	}
}

func sAttr(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func nAttr(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// TestAStoreWithTheSealKeyRefusesItemsLogInDidNotSeal: with the seal key
// (the functions that log in and the front door), Create seals each
// session, and a touch or a delete of an item written straight into the
// engine — every attribute log-in writes, and a seal that is missing,
// copied from another session, made with another key, or made for another
// user — finds no session (ENOTFOUND, cause session.ErrUnsealed). A delete
// removes it all the same. A real log-in's session is found.
func TestAStoreWithTheSealKeyRefusesItemsLogInDidNotSeal(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		keys := sealKeys(t, 1)
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions, ReadOnFailedCondition: srv.Kind == localdynamo.Dynalite, Seals: keys}

		const admin, bob = "Administrator@vsphere.local", "bob@vsphere.local"
		real := newSession(t, s, bob, t0)
		realSeal := rawItem(t, f, real)["seal"].(*types.AttributeValueMemberS).Value
		if len(realSeal) != assertion.SealLen {
			t.Fatalf("a log-in stored seal %q", realSeal)
		}

		// What log-in writes, for a session of admin's under tok, sealed with seal.
		full := func(tok session.Token, user, seal string) map[string]types.AttributeValue {
			item := map[string]types.AttributeValue{
				"user": sAttr(user), "user_key": sAttr(session.UserKey(user)),
				"created_ms": nAttr(t0.UnixMilli()), "last_accessed_ms": nAttr(t0.UnixMilli()),
				dynamo.AttrExpires: nAttr(t0.Add(time.Hour).Unix()),
			}
			if seal != "" {
				item["seal"] = sAttr(seal)
			}
			return item
		}
		cases := []struct {
			name string
			item func(tok session.Token) map[string]types.AttributeValue
			want error
		}{
			{"every attribute log-in writes, no seal", func(tok session.Token) map[string]types.AttributeValue {
				return full(tok, admin, "")
			}, session.ErrUnsealed},
			{"a real session's seal copied over", func(tok session.Token) map[string]types.AttributeValue {
				return full(tok, admin, realSeal)
			}, session.ErrUnsealed},
			{"a seal made with another key", func(tok session.Token) map[string]types.AttributeValue {
				return full(tok, admin, sealKeys(t, 2).Seal(hashBytes(tok), admin, t0))
			}, session.ErrUnsealed},
			{"a seal made for another user", func(tok session.Token) map[string]types.AttributeValue {
				return full(tok, admin, keys.Seal(hashBytes(tok), bob, t0))
			}, session.ErrUnsealed},
			{"a seal made for a later creation time", func(tok session.Token) map[string]types.AttributeValue {
				return full(tok, admin, keys.Seal(hashBytes(tok), admin, t0.Add(time.Hour)))
			}, session.ErrUnsealed},
			{"a true seal, another user's user_key (it would escape revocation)", func(tok session.Token) map[string]types.AttributeValue {
				item := full(tok, admin, keys.Seal(hashBytes(tok), admin, t0))
				item["user_key"] = sAttr(session.UserKey(bob))
				return item
			}, session.ErrUnsealed},
			{"a local session's true seal, turned federated by an idp", func(tok session.Token) map[string]types.AttributeValue {
				item := full(tok, admin, keys.Seal(hashBytes(tok), admin, t0))
				item["idp"] = sAttr("https://idp.example")
				item["user_key"] = sAttr(session.IdentityKey(admin, "https://idp.example"))
				return item
			}, session.ErrUnsealed},
			{"a federated session's true seal, turned local by removing its idp", func(tok session.Token) map[string]types.AttributeValue {
				fed := session.Session{User: admin, IdP: "https://idp.example"}
				return full(tok, admin, keys.Seal(hashBytes(tok), fed.Identity(), t0))
			}, session.ErrUnsealed},
			{"a federated session's true seal, another identity provider", func(tok session.Token) map[string]types.AttributeValue {
				fed := session.Session{User: admin, IdP: "https://idp.example"}
				item := full(tok, admin, keys.Seal(hashBytes(tok), fed.Identity(), t0))
				item["idp"] = sAttr("https://evil.example")
				item["user_key"] = sAttr(session.IdentityKey(admin, "https://evil.example"))
				return item
			}, session.ErrUnsealed},
			{"no user", func(tok session.Token) map[string]types.AttributeValue {
				item := full(tok, admin, "")
				delete(item, "user")
				return item
			}, session.ErrMalformed},
			{"no created time", func(tok session.Token) map[string]types.AttributeValue {
				item := full(tok, admin, "")
				delete(item, "created_ms")
				return item
			}, session.ErrMalformed},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := session.Token(strconv.FormatInt(int64(0xc0ffee000+i), 16) + "00000000000000000000000")
				putStraight(t, f, tok, c.item(tok))
				_, err := s.Touch(ctx, tok.Hash(), t0.Add(time.Minute), lifetime)
				if session.ErrorCode(err) != session.ENOTFOUND || !causedBy(srv, err, c.want) {
					t.Errorf("touch: %v, want ENOTFOUND for %v", err, c.want)
				}
				err = s.Delete(ctx, tok.Hash(), t0.Add(time.Minute), lifetime)
				if session.ErrorCode(err) != session.ENOTFOUND || !errors.Is(err, c.want) {
					t.Errorf("delete: %v, want ENOTFOUND for %v", err, c.want)
				}
				if item := rawItem(t, f, tok); item != nil {
					t.Errorf("the delete left the item: %v", item)
				}
			})
		}

		t.Run("a real log-in's session", func(t *testing.T) {
			got, err := s.Touch(ctx, real.Hash(), t0.Add(time.Minute), lifetime)
			if err != nil || got.User != bob {
				t.Fatalf("touch: %+v, %v", got, err)
			}
			// The touch keeps the seal: a session stays sealed through its uses.
			if _, err := s.Touch(ctx, real.Hash(), t0.Add(2*time.Minute), lifetime); err != nil {
				t.Fatalf("second touch: %v", err)
			}
			if err := s.Delete(ctx, real.Hash(), t0.Add(3*time.Minute), lifetime); err != nil {
				t.Fatalf("delete: %v", err)
			}
		})

		t.Run("a store without the key reads unsealed sessions, malformed ones are none", func(t *testing.T) {
			plain := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions, ReadOnFailedCondition: s.ReadOnFailedCondition}
			tok := session.Token("d00dd00dd00dd00dd00dd00dd00dd00d")
			putStraight(t, f, tok, full(tok, admin, ""))
			if _, err := plain.Touch(ctx, tok.Hash(), t0.Add(time.Minute), lifetime); err != nil {
				t.Errorf("touch without the key: %v", err)
			}
			bare := session.Token("d00dd00dd00dd00dd00dd00dd00dd00e")
			putStraight(t, f, bare, map[string]types.AttributeValue{"last_accessed_ms": nAttr(t0.UnixMilli())})
			if _, err := plain.Touch(ctx, bare.Hash(), t0.Add(time.Minute), lifetime); session.ErrorCode(err) != session.ENOTFOUND || !causedBy(srv, err, session.ErrMalformed) {
				t.Errorf("touch of an item with no user or created time: %v, want ENOTFOUND malformed", err)
			}
		})

		t.Run("a sealed item stays under 1 KB", func(t *testing.T) {
			long := string(bytes.Repeat([]byte("u"), session.MaxUserLen-len("@vsphere.local"))) + "@vsphere.local"
			tok := newSession(t, s, long, t0)
			size := 0
			for name, v := range rawItem(t, f, tok) {
				size += len(name)
				switch v := v.(type) {
				case *types.AttributeValueMemberS:
					size += len(v.Value)
				case *types.AttributeValueMemberN:
					size += len(v.Value) // at most; DynamoDB stores numbers shorter
				}
			}
			if size >= 1024 {
				t.Errorf("a sealed session of a %d-byte user name is %d bytes", len(long), size)
			}
		})
	})
}

func hashBytes(tok session.Token) []byte { h := tok.Hash(); return h[:] }

// causedBy reports whether err names cause. A touch whose condition fails
// (an item with no created time cannot meet it) learns the item's contents
// from the failure on DynamoDB and moto; dynalite returns none
// (Sessions.ReadOnFailedCondition), so there it is only "no session".
func causedBy(srv *localdynamo.Server, err, cause error) bool {
	return errors.Is(err, cause) || (srv.Kind == localdynamo.Dynalite && errors.Is(cause, session.ErrMalformed))
}
