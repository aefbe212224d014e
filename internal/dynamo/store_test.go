package dynamo_test

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

func TestMain(m *testing.M) {
	code := dynamotest.Main(m)
	stopRegionEngines()
	os.Exit(code)
}

var lifetime = session.Lifetime{Idle: 30 * time.Minute, Absolute: 24 * time.Hour}

// t0 is a fixed instant with a millisecond part, so truncation bugs show.
var t0 = time.Date(2026, 7, 16, 7, 18, 48, 517_000_000, time.UTC)

func newSession(t *testing.T, s *dynamo.Sessions, user string, at time.Time) session.Token {
	t.Helper()
	tok, err := session.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	rec := session.Record{Hash: tok.Hash(), Session: session.Session{User: user, Created: at, LastAccessed: at}}
	if err := s.Create(context.Background(), rec, lifetime); err != nil {
		t.Fatalf("create: %v", err)
	}
	return tok
}

func rawItem(t *testing.T, f dynamotest.Fixture, tok session.Token) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.DB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(f.Tables.Sessions),
		Key:            map[string]types.AttributeValue{"token_hash": &types.AttributeValueMemberS{Value: tok.Hash().String()}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get item: %v", err)
	}
	return out.Item
}

func TestSessionStore(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		s := &dynamo.Sessions{DB: f.DB, Table: f.Tables.Sessions, ReadOnFailedCondition: srv.Kind == localdynamo.Dynalite}

		t.Run("TouchMovesLastAccessedAndKeepsCreated", func(t *testing.T) {
			tok := newSession(t, s, "Administrator@vsphere.local", t0)
			later := t0.Add(5 * time.Minute)
			got, err := s.Touch(ctx, tok.Hash(), later, lifetime)
			if err != nil {
				t.Fatalf("touch: %v", err)
			}
			want := session.Session{User: "Administrator@vsphere.local", Created: t0, LastAccessed: later}
			if got != want {
				t.Fatalf("touch = %+v, want %+v", got, want)
			}
		})

		t.Run("TokenIsStoredOnlyAsHash", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			item := rawItem(t, f, tok)
			for name, v := range item {
				if sv, ok := v.(*types.AttributeValueMemberS); ok && sv.Value == string(tok) {
					t.Fatalf("attribute %s holds the raw token", name)
				}
			}
			if item["token_hash"].(*types.AttributeValueMemberS).Value != tok.Hash().String() {
				t.Fatal("item not keyed by the token's hash")
			}
			if _, ok := item[dynamo.AttrExpires].(*types.AttributeValueMemberN); !ok {
				t.Fatalf("no numeric TTL attribute %s", dynamo.AttrExpires)
			}
		})

		t.Run("PeekReadsWithoutTouching", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			// Long idle: Peek reports what is stored, live or not, and
			// does not count as a use.
			got, err := s.Peek(ctx, tok.Hash())
			want := session.Session{User: "u@d", Created: t0, LastAccessed: t0}
			if err != nil || got != want {
				t.Fatalf("peek = %+v, %v, want %+v", got, err, want)
			}
			if v := rawItem(t, f, tok)["last_accessed_ms"].(*types.AttributeValueMemberN).Value; v != "1784186328517" {
				t.Fatalf("peek wrote last_accessed_ms = %s", v)
			}
			unknown, _ := session.NewToken()
			if _, err := s.Peek(ctx, unknown.Hash()); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("peek of an unknown session: err = %v, want ENOTFOUND", err)
			}
		})

		t.Run("TouchNeverMovesLastAccessedBackwards", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			late := t0.Add(10 * time.Minute)
			if _, err := s.Touch(ctx, tok.Hash(), late, lifetime); err != nil {
				t.Fatal(err)
			}
			// A concurrent invocation whose clock is behind.
			got, err := s.Touch(ctx, tok.Hash(), t0.Add(time.Minute), lifetime)
			if err != nil {
				t.Fatalf("touch with an earlier clock: %v", err)
			}
			if !got.LastAccessed.Equal(late) {
				t.Fatalf("last accessed = %v, want it kept at %v", got.LastAccessed, late)
			}
			if again, _ := s.Touch(ctx, tok.Hash(), late, lifetime); !again.LastAccessed.Equal(late) {
				t.Fatalf("touch at the same instant = %v", again.LastAccessed)
			}
		})

		t.Run("IdleSessionIsNotFoundAndNotRevived", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			_, err := s.Touch(ctx, tok.Hash(), t0.Add(lifetime.Idle), lifetime)
			if session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("touch after idle timeout: err = %v, want ENOTFOUND", err)
			}
			item := rawItem(t, f, tok)
			if v := item["last_accessed_ms"].(*types.AttributeValueMemberN).Value; v != "1784186328517" {
				t.Fatalf("failed touch wrote last_accessed_ms = %s", v)
			}
		})

		t.Run("ActiveSessionEndsAtAbsoluteLifetime", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			at := t0
			for at.Before(t0.Add(lifetime.Absolute - lifetime.Idle)) {
				at = at.Add(lifetime.Idle - time.Minute)
				if _, err := s.Touch(ctx, tok.Hash(), at, lifetime); err != nil {
					t.Fatalf("touch at %v: %v", at, err)
				}
			}
			_, err := s.Touch(ctx, tok.Hash(), t0.Add(lifetime.Absolute), lifetime)
			if session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("touch at absolute end: err = %v, want ENOTFOUND", err)
			}
		})

		t.Run("DeletedSessionIsGoneAndTouchDoesNotRecreateIt", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			if err := s.Delete(ctx, tok.Hash(), t0.Add(time.Second), lifetime); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := s.Touch(ctx, tok.Hash(), t0.Add(2*time.Second), lifetime); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("touch after delete: err = %v, want ENOTFOUND", err)
			}
			if item := rawItem(t, f, tok); item != nil {
				t.Fatalf("touch after delete left an item: %v", item)
			}
			if err := s.Delete(ctx, tok.Hash(), t0.Add(3*time.Second), lifetime); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("second delete: err = %v, want ENOTFOUND", err)
			}
		})

		t.Run("DeleteOfExpiredSessionIsNotFoundButRemovesIt", func(t *testing.T) {
			tok := newSession(t, s, "u@d", t0)
			err := s.Delete(ctx, tok.Hash(), t0.Add(lifetime.Idle+time.Second), lifetime)
			if session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("delete of idle session: err = %v, want ENOTFOUND", err)
			}
			if item := rawItem(t, f, tok); item != nil {
				t.Fatal("expired item left behind")
			}
		})

		t.Run("UnknownSessionIsNotFound", func(t *testing.T) {
			tok, _ := session.NewToken()
			if _, err := s.Touch(ctx, tok.Hash(), t0, lifetime); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("touch: err = %v", err)
			}
			if err := s.Delete(ctx, tok.Hash(), t0, lifetime); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("delete: err = %v", err)
			}
			if item := rawItem(t, f, tok); item != nil {
				t.Fatal("touch of an unknown session created an item")
			}
		})

		// The get function's role grants UpdateItem on the sessions table
		// and nothing else: every outcome of Touch must come from it alone.
		t.Run("TouchUsesOnlyUpdateItem", func(t *testing.T) {
			rec := &dynamotest.Recorder{API: f.DB}
			rs := &dynamo.Sessions{DB: rec, Table: f.Tables.Sessions, ReadOnFailedCondition: s.ReadOnFailedCondition}
			live := newSession(t, s, "u@d", t0)
			gone, _ := session.NewToken()
			late := t0.Add(10 * time.Minute)
			if _, err := rs.Touch(ctx, live.Hash(), late, lifetime); err != nil {
				t.Fatal(err)
			}
			if got, err := rs.Touch(ctx, live.Hash(), t0.Add(time.Minute), lifetime); err != nil || !got.LastAccessed.Equal(late) {
				t.Fatalf("touch with an earlier clock: %+v, %v", got, err)
			}
			if _, err := rs.Touch(ctx, gone.Hash(), late, lifetime); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("touch of an unknown session: %v", err)
			}
			if _, err := rs.Touch(ctx, live.Hash(), late.Add(lifetime.Idle), lifetime); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("touch of an idle session: %v", err)
			}
			for _, c := range rec.Calls() {
				if c.Action != "dynamodb:UpdateItem" || c.Table != f.Tables.Sessions {
					t.Errorf("Touch called %s on %s", c.Action, c.Table)
				}
			}
		})

		t.Run("CreateRepeatedAfterALostAnswerFindsItsOwnSession", func(t *testing.T) {
			if srv.Kind == localdynamo.Dynalite {
				t.Skip("dynalite does not return the item with a failed condition; DynamoDB and moto do")
			}
			tok, _ := session.NewToken()
			rec := session.Record{Hash: tok.Hash(), Session: session.Session{User: "u@d", Created: t0, LastAccessed: t0}}
			if err := s.Create(ctx, rec, lifetime); err != nil {
				t.Fatal(err)
			}
			// The SDK's retry of a PutItem whose answer was lost.
			if err := s.Create(ctx, rec, lifetime); err != nil {
				t.Fatalf("repeated create of the same session: %v", err)
			}
			other := rec
			other.Created = t0.Add(time.Millisecond)
			if err := s.Create(ctx, other, lifetime); session.ErrorCode(err) != session.EUNAVAILABLE {
				t.Fatalf("create of another session under the same key: %v, want EUNAVAILABLE", err)
			}
		})

		t.Run("CreateNeverOverwrites", func(t *testing.T) {
			tok := newSession(t, s, "first@d", t0)
			rec := session.Record{Hash: tok.Hash(), Session: session.Session{User: "second@d", Created: t0, LastAccessed: t0}}
			if err := s.Create(ctx, rec, lifetime); err == nil {
				t.Fatal("create over an existing session succeeded")
			}
			got, err := s.Touch(ctx, tok.Hash(), t0.Add(time.Second), lifetime)
			if err != nil || got.User != "first@d" {
				t.Fatalf("after refused overwrite: %+v, %v", got, err)
			}
		})
	})
}

func TestUserStore(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		ctx := context.Background()
		u := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}

		if err := u.Add(ctx, session.User{Name: "Administrator@vsphere.local", PasswordHash: "h1"}, t0); err != nil {
			t.Fatalf("add: %v", err)
		}
		if err := u.Add(ctx, session.User{Name: "alice@corp.example", PasswordHash: "h2"}, t0); err != nil {
			t.Fatalf("add: %v", err)
		}
		t.Run("LookupIsCaseInsensitiveAndReturnsCanonicalName", func(t *testing.T) {
			got, err := u.User(ctx, "ADMINISTRATOR@VSPHERE.LOCAL")
			if err != nil || got.Name != "Administrator@vsphere.local" || got.PasswordHash != "h1" {
				t.Fatalf("user = %+v, %v", got, err)
			}
		})
		t.Run("AddingAnExistingNameIsRefused", func(t *testing.T) {
			err := u.Add(ctx, session.User{Name: "administrator@VSPHERE.local", PasswordHash: "evil"}, t0)
			if session.ErrorCode(err) != session.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			if got, _ := u.User(ctx, "administrator@vsphere.local"); got.PasswordHash != "h1" {
				t.Fatal("refused add overwrote the password")
			}
		})
		t.Run("UnknownUserIsNotFound", func(t *testing.T) {
			if _, err := u.User(ctx, "nobody@vsphere.local"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("SetPasswordTakesEffectAtOnce", func(t *testing.T) {
			if err := u.SetPassword(ctx, "alice@corp.example", "h3", t0); err != nil {
				t.Fatal(err)
			}
			if got, _ := u.User(ctx, "alice@corp.example"); got.PasswordHash != "h3" {
				t.Fatalf("hash = %q", got.PasswordHash)
			}
			if err := u.SetPassword(ctx, "nobody@x", "h", t0); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("set password of unknown user: %v", err)
			}
		})
		t.Run("ListAndRemove", func(t *testing.T) {
			list, err := u.List(ctx)
			var names []string
			for _, user := range list {
				names = append(names, user.Name)
			}
			sort.Strings(names)
			if err != nil || len(names) != 2 || names[0] != "Administrator@vsphere.local" || names[1] != "alice@corp.example" {
				t.Fatalf("list = %v, %v", names, err)
			}
			if err := u.Remove(ctx, "ALICE@corp.example"); err != nil {
				t.Fatal(err)
			}
			if _, err := u.User(ctx, "alice@corp.example"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("removed user still there: %v", err)
			}
			if err := u.Remove(ctx, "alice@corp.example"); session.ErrorCode(err) != session.ENOTFOUND {
				t.Fatalf("second remove: %v", err)
			}
		})
	})
}

func TestCreateTablesIsIdempotent(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		if err := dynamo.CreateTables(context.Background(), f.DB, f.Tables); err != nil {
			t.Fatalf("second CreateTables: %v", err)
		}
	})
}

func TestUnreachableEngineIsUnavailable(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	// A port nothing listens on: the SDK fails to connect.
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &dynamo.Sessions{DB: db, Table: f.Tables.Sessions}
	tok, _ := session.NewToken()
	if _, err := s.Touch(ctx, tok.Hash(), t0, lifetime); session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Fatalf("touch: err = %v, want EUNAVAILABLE", err)
	}
	if err := s.Delete(ctx, tok.Hash(), t0, lifetime); session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Fatalf("delete: err = %v, want EUNAVAILABLE", err)
	}
	if err := s.Create(ctx, session.Record{Hash: tok.Hash()}, lifetime); session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Fatalf("create: err = %v, want EUNAVAILABLE", err)
	}
	u := &dynamo.Users{DB: db, Table: f.Tables.Users}
	if _, err := u.User(ctx, "a@b"); session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Fatalf("user: err = %v, want EUNAVAILABLE", err)
	}
}

// TestConnectionToTheEngineIsKept: a warm function sends every request over
// the one connection it already has, instead of paying for a new TCP (on
// AWS, TLS) connection. moto's server closes every connection itself, so
// this runs on dynalite only.
func TestConnectionToTheEngineIsKept(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	if srv.Kind != localdynamo.Dynalite {
		t.Skipf("needs dynalite, which keeps connections alive; have %s", srv.Kind)
	}
	f := dynamotest.Setup(t, srv)
	var dials atomic.Int64
	db, err := dynamo.NewClient(context.Background(), dynamo.WrapHTTPClient(func(next dynamo.HTTPClient) dynamo.HTTPClient {
		return doFunc(func(r *http.Request) (*http.Response, error) {
			trace := &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) {
				if !c.Reused {
					dials.Add(1)
				}
			}}
			return next.Do(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := &dynamo.Sessions{DB: db, Table: f.Tables.Sessions, ReadOnFailedCondition: true}
	const requests = 400
	for range requests / 2 {
		tok := newSession(t, s, "u@d", t0)
		if _, err := s.Touch(context.Background(), tok.Hash(), t0.Add(time.Second), lifetime); err != nil {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d requests opened %d connections, want 1", requests, n)
	}
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
