package dynamo_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// TestASessionKeepsItsOriginAndCountsItsCallsInTheTouch: what log-in
// records comes back in the operator's listing, and each touch adds one to
// the call count in its one UpdateItem.
func TestASessionKeepsItsOriginAndCountsItsCallsInTheTouch(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions, ReadOnFailedCondition: srv.Kind == localdynamo.Dynalite}
		tok, _ := session.NewToken()
		origin := session.Origin{Source: "192.0.2.7", UserAgent: "govc/0.52.0", Surface: session.SurfaceREST,
			Method: session.MethodToken, Provider: "https://idp.example", Subject: "248289761001", SID: "s-1"}
		if err := s.Create(ctx, session.Record{Hash: tok.Hash(), Session: session.Session{User: "alice@corp.example", Created: t0, LastAccessed: t0,
			IdP: origin.Provider}, Origin: origin}, lifetime); err != nil {
			t.Fatal(err)
		}
		password := newSession(t, s, "bob@corp.example", t0.Add(-time.Second))

		rec := &dynamotest.Recorder{API: f.DB}
		rs := &dynamo.Sessions{DB: rec, Table: f.Tables.Sessions, ReadOnFailedCondition: s.ReadOnFailedCondition}
		for i := range 3 {
			if _, err := rs.Touch(ctx, tok.Hash(), t0.Add(time.Duration(i+1)*time.Second), lifetime); err != nil {
				t.Fatal(err)
			}
		}
		if calls := rec.Calls(); len(calls) != 3 {
			t.Errorf("3 touches made %d requests, want 3: the count rides in the touch", len(calls))
		}
		recs, err := s.ListStored(ctx)
		if err != nil || len(recs) != 2 {
			t.Fatalf("ListStored = %d records, %v; want 2", len(recs), err)
		}
		if recs[0].Hash != tok.Hash() || recs[0].Origin != origin || recs[0].Calls != 3 {
			t.Errorf("the touched session listed first as %+v; want origin %+v and 3 calls", recs[0], origin)
		}
		if recs[1].Hash != password.Hash() || recs[1].Origin != (session.Origin{}) || recs[1].Calls != 0 {
			t.Errorf("the untouched session listed as %+v", recs[1])
		}
	})
}

// TestALogoutTokensJTIIsAcceptedOnceHoweverManyAtOnce: the provider (or
// an attacker replaying its token) sends the same jti many times at once;
// exactly one is first.
func TestALogoutTokensJTIIsAcceptedOnceHoweverManyAtOnce(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		lt := dynamo.LogoutTokens{DB: f.DB, Table: f.Tables.Sessions}
		until := time.Now().Add(time.Minute)
		var first atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := lt.First(ctx, "https://idp.example", "jti-1", until)
				if err != nil {
					t.Error(err)
				}
				if ok {
					first.Add(1)
				}
			}()
		}
		wg.Wait()
		if first.Load() != 1 {
			t.Fatalf("%d of 16 were first, want 1", first.Load())
		}
		// Another issuer's same jti is another token.
		if ok, err := lt.First(ctx, "https://other.example", "jti-1", until); !ok || err != nil {
			t.Errorf("another issuer's jti: %v, %v", ok, err)
		}
		if err := lt.Forget(ctx, "https://idp.example", "jti-1"); err != nil {
			t.Fatal(err)
		}
		if ok, err := lt.First(ctx, "https://idp.example", "jti-1", until); !ok || err != nil {
			t.Errorf("a forgotten jti: %v, %v; want first again", ok, err)
		}
		// A seen jti is no session: the operator's listing leaves it out.
		if recs, err := (&dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions}).ListStored(ctx); err != nil || len(recs) != 0 {
			t.Errorf("ListStored = %+v, %v; want no session", recs, err)
		}
	})
}

// TestProviderSessionsAreFoundBySubjectAndSID: the subject index finds a
// subject's sessions, or one provider session's of that subject; the sid
// index finds a provider session's whatever the subject; each of one
// issuer only. End deletes only a session its own listing found.
func TestProviderSessionsAreFoundBySubjectAndSID(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions}
		mk := func(user, iss, sub, sid string) session.TokenHash {
			tok, _ := session.NewToken()
			o := session.Origin{Method: session.MethodToken, Provider: iss, Subject: sub, SID: sid}
			if err := s.Create(ctx, session.Record{Hash: tok.Hash(), Session: session.Session{User: user, Created: t0, LastAccessed: t0, IdP: iss}, Origin: o}, lifetime); err != nil {
				t.Fatal(err)
			}
			return tok.Hash()
		}
		const idp, other = "https://idp.example", "https://other.example"
		a1, a2, a3 := mk("alice@corp", idp, "alice", "s1"), mk("alice@corp", idp, "alice", "s1"), mk("alice@corp", idp, "alice", "s2")
		a4 := mk("alice@corp", idp, "alice", "")     // a token without sid
		o1 := mk("alice@corp", other, "alice", "s1") // the same sub and sid of another provider
		newSession(t, s, "alice@corp", t0)           // a password session of the same name
		stores := dynamo.ProviderSessionsOf(s)
		hashes := func(iss, sub, sid string) map[session.TokenHash]bool {
			store, key := stores(iss, sub, sid)
			recs, err := store.ListUser(ctx, key, iss)
			if err != nil {
				t.Fatal(err)
			}
			m := map[session.TokenHash]bool{}
			for _, r := range recs {
				m[r.Hash] = true
				if r.User != "alice@corp" || r.IdP != iss {
					t.Errorf("%s listed as %q of %q, want alice@corp of %s", r.Hash, r.User, r.IdP, iss)
				}
			}
			return m
		}
		if got := hashes(idp, "alice", "s1"); len(got) != 2 || !got[a1] || !got[a2] {
			t.Errorf("sub alice, sid s1: %v, want a1 and a2", got)
		}
		if got := hashes(idp, "alice", ""); len(got) != 4 || !got[a3] || !got[a4] {
			t.Errorf("sub alice: %v, want a1 to a4", got)
		}
		if got := hashes(idp, "", "s1"); len(got) != 2 || !got[a1] || !got[a2] {
			t.Errorf("sid s1 alone: %v, want a1 and a2", got)
		}
		if got := hashes(other, "", "s1"); len(got) != 1 || !got[o1] {
			t.Errorf("other's sid s1: %v, want o1 only", got)
		}
		if got := hashes(idp, "", "s9"); len(got) != 0 {
			t.Errorf("an unknown sid: %v, want none", got)
		}
		// A store ends only what its own listing found: not s2's session as
		// s1's, nor a session of another provider's.
		s1, key := stores(idp, "", "s1")
		if _, err := s1.ListUser(ctx, key, idp); err != nil {
			t.Fatal(err)
		}
		if err := s1.End(ctx, key, idp, a3); session.ErrorCode(err) != session.ENOTFOUND {
			t.Errorf("ending s2's session as s1's: %v, want ENOTFOUND", err)
		}
		otherS1, otherKey := stores(other, "", "s1")
		if _, err := otherS1.ListUser(ctx, otherKey, other); err != nil {
			t.Fatal(err)
		}
		if err := otherS1.End(ctx, otherKey, other, a1); session.ErrorCode(err) != session.ENOTFOUND {
			t.Errorf("ending idp's session as other's: %v, want ENOTFOUND", err)
		}
		if err := s1.End(ctx, key, idp, a1); err != nil {
			t.Fatal(err)
		}
		if got := hashes(idp, "alice", ""); len(got) != 3 || got[a1] {
			t.Errorf("after ending a1: %v", got)
		}
		if got := hashes(idp, "", "s1"); len(got) != 1 || !got[a2] {
			t.Errorf("s1 after ending a1: %v, want a2", got)
		}
	})
}
