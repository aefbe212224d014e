package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// TestALocalAndAFederatedUserOfOneNameKeepTheirSessionsApart: the local
// alice@corp.example and the federated ALICE@corp.example of an identity
// provider are two users to the store: each one's count, list and end
// see only their own sessions, and a session stored before sessions
// carried an idp reads as the local user's.
func TestALocalAndAFederatedUserOfOneNameKeepTheirSessionsApart(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions, ReadOnFailedCondition: srv.Kind == localdynamo.Dynalite, Seals: sealKeys(t, 1)}
		const idp, other = "https://idp.example", "https://other.example"
		now := t0.Add(time.Minute)
		local := newSession(t, s, "alice@corp.example", t0)
		var fed []session.Token
		for range 3 {
			tok, _ := session.NewToken()
			rec := session.Record{Hash: tok.Hash(), Session: session.Session{User: "ALICE@corp.example", IdP: idp, Created: t0, LastAccessed: t0}}
			if err := s.Create(ctx, rec, lifetime); err != nil {
				t.Fatal(err)
			}
			fed = append(fed, tok)
		}

		for _, c := range []struct {
			idp  string
			want int
		}{{"", 1}, {idp, 3}, {other, 0}} {
			if n, err := s.CountLive(ctx, "alice@corp.example", c.idp, now, lifetime, 0); err != nil || n != c.want {
				t.Errorf("CountLive(idp %q) = %d, %v; want %d", c.idp, n, err, c.want)
			}
			recs, err := s.ListUser(ctx, "Alice@Corp.Example", c.idp)
			if err != nil || len(recs) != c.want {
				t.Errorf("ListUser(idp %q) = %d sessions, %v; want %d", c.idp, len(recs), err, c.want)
			}
			for _, r := range recs {
				if r.IdP != c.idp {
					t.Errorf("ListUser(idp %q) gave a session of idp %q", c.idp, r.IdP)
				}
			}
		}

		got, err := s.Touch(ctx, fed[0].Hash(), now, lifetime)
		if err != nil || got.IdP != idp || got.Kind() != idp {
			t.Errorf("touch of a federated session = %+v, %v; want idp %q", got, err, idp)
		}
		got, err = s.Touch(ctx, local.Hash(), now, lifetime)
		if err != nil || got.IdP != "" || got.Kind() != session.LocalIdP {
			t.Errorf("touch of a local session = %+v, %v; want a local one", got, err)
		}

		// Ending the local user's sessions leaves the federated user's.
		if err := s.End(ctx, "alice@corp.example", "", fed[0].Hash()); session.ErrorCode(err) != session.ENOTFOUND {
			t.Errorf("End of a federated session as the local user's = %v; want ENOTFOUND", err)
		}
		ended, err := session.Revocation{Store: s, Quiet: 10 * time.Millisecond}.EndAll(ctx, "alice@corp.example", "")
		if err != nil || ended != 1 {
			t.Errorf("EndAll(local) = %d, %v; want 1", ended, err)
		}
		if n, _ := s.CountLive(ctx, "alice@corp.example", idp, now, lifetime, 0); n != 3 {
			t.Errorf("after ending the local user's sessions the federated user has %d; want 3", n)
		}
		ended, err = session.Revocation{Store: s, Quiet: 10 * time.Millisecond}.EndAll(ctx, "alice@corp.example", idp)
		if err != nil || ended != 3 {
			t.Errorf("EndAll(federated) = %d, %v; want 3", ended, err)
		}
	})
}

// TestASessionStoredBeforeIdentityProvidersReadsAsLocal: an item with no
// idp attribute (as every item was before) is a local user's session, its
// seal and user_key as they were.
func TestASessionStoredBeforeIdentityProvidersReadsAsLocal(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		keys := sealKeys(t, 1)
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions, ReadOnFailedCondition: srv.Kind == localdynamo.Dynalite, Seals: keys}
		tok, _ := session.NewToken()
		const user = "bob@vsphere.local"
		putStraight(t, f, tok, map[string]types.AttributeValue{
			"user": sAttr(user), "user_key": sAttr("bob@vsphere.local"),
			"created_ms": nAttr(t0.UnixMilli()), "last_accessed_ms": nAttr(t0.UnixMilli()),
			dynamo.AttrExpires: nAttr(t0.Add(time.Hour).Unix()),
			"seal":             sAttr(keys.Seal(hashBytes(tok), user, t0)),
		})
		got, err := s.Touch(context.Background(), tok.Hash(), t0.Add(time.Minute), lifetime)
		if err != nil || got.User != user || got.IdP != "" {
			t.Fatalf("touch = %+v, %v; want bob's local session", got, err)
		}
		if n, err := s.CountLive(context.Background(), user, "", t0.Add(time.Minute), lifetime, 0); err != nil || n != 1 {
			t.Errorf("CountLive(local) = %d, %v; want 1", n, err)
		}
	})
}
