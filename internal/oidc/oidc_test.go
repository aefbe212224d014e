package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/internal/oidc"
	"github.com/cis-session/cis-session/internal/session"
)

func startIssuer(t *testing.T) *oidcissuer.Issuer {
	t.Helper()
	iss, err := oidcissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	return iss
}

func verifier(iss *oidcissuer.Issuer, group string) *oidc.Verifier {
	return oidc.New(oidc.Config{Issuer: iss.URL, Audience: oidcissuer.Audience, UserClaim: "preferred_username",
		GroupsClaim: "groups", RequiredGroup: group})
}

func TestValidTokensNameTheirUserWithEitherKey(t *testing.T) {
	iss := startIssuer(t)
	v := verifier(iss, "")
	for _, kid := range []string{oidcissuer.KeyRS256, oidcissuer.KeyES256} {
		claims := iss.Claims("alice@corp.example")
		claims["sub"], claims["sid"] = "248289761001", "provider-session-1"
		id, err := v.Verify(context.Background(), iss.Token(kid, claims))
		want := session.Identity{Name: "alice@corp.example", Issuer: iss.URL, Subject: "248289761001", SID: "provider-session-1"}
		if err != nil || id != want {
			t.Errorf("%s: Verify = %+v, %v; want %+v", kid, id, err, want)
		}
	}
}

func TestEveryForgedOrUnfitTokenIsRefusedWithItsCause(t *testing.T) {
	iss := startIssuer(t)
	v := verifier(iss, "vsphere-admins")
	if _, err := v.Verify(context.Background(), iss.Token(oidcissuer.KeyRS256, iss.Claims("alice@corp.example", "vsphere-admins"))); err != nil {
		t.Fatalf("a good token in the group: %v", err)
	}
	for _, tc := range iss.Forgeries("alice@corp.example", "vsphere-admins", oidc.DefaultSkew) {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.Token)
			var te *session.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %v; want a *session.TokenError", err)
			}
			if te.Cause != tc.Cause {
				t.Errorf("cause %s; want %s (%v)", te.Cause, tc.Cause, err)
			}
			if strings.Contains(err.Error(), tc.Token) {
				t.Errorf("the error holds the token: %v", err)
			}
		})
	}
}

func TestKeysAreFetchedOnceAcrossManyLogIns(t *testing.T) {
	iss := startIssuer(t)
	v := verifier(iss, "")
	for i := range 50 {
		kid := []string{oidcissuer.KeyRS256, oidcissuer.KeyES256}[i%2]
		if _, err := v.Verify(context.Background(), iss.Token(kid, iss.Claims("alice@corp.example"))); err != nil {
			t.Fatal(err)
		}
	}
	if d, k := iss.Requests(); d != 1 || k != 1 {
		t.Errorf("issuer asked for discovery %d and keys %d times; want once each", d, k)
	}
}

func TestARotatedKeyIsFetchedAndMadeUpKidsAreRateLimited(t *testing.T) {
	iss := startIssuer(t)
	now := time.Now()
	v := oidc.New(oidc.Config{Issuer: iss.URL, Audience: oidcissuer.Audience, UserClaim: "preferred_username",
		Now: func() time.Time { return now }})
	if _, err := v.Verify(context.Background(), iss.Token(oidcissuer.KeyRS256, iss.Claims("alice@corp.example"))); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Rotate("rs256-2"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(oidc.DefaultRefreshInterval)
	if _, err := v.Verify(context.Background(), iss.Token("rs256-2", iss.Claims("alice@corp.example"))); err != nil {
		t.Fatalf("a token under the rotated key: %v", err)
	}
	foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
	for i := range 20 {
		tok := oidcissuer.Sign(foreign, "made-up-"+string(rune('a'+i)), "RS256", iss.Claims("alice@corp.example"))
		if _, err := v.Verify(context.Background(), tok); session.ErrorCode(err) == "" {
			t.Fatal("a made-up kid verified")
		}
	}
	for range 20 {
		tok := oidcissuer.Sign(foreign, oidcissuer.KeyRS256, "RS256", iss.Claims("alice@corp.example"))
		if _, err := v.Verify(context.Background(), tok); session.ErrorCode(err) == "" {
			t.Fatal("a foreign key under a known kid verified")
		}
	}
	if _, k := iss.Requests(); k != 2 {
		t.Errorf("key set fetched %d times; want 2: the first log-in and the rotation, none for 20 made-up kids within a minute nor for 20 foreign keys under a known kid", k)
	}
}

func TestAnIssuerThatIsDownIsUnavailableNotARefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	v := oidc.New(oidc.Config{Issuer: "http://" + addr, Audience: "a", UserClaim: "preferred_username", Client: nil})
	_, err = v.Verify(context.Background(), "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	if session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Errorf("Verify = %v; want %s", err, session.EUNAVAILABLE)
	}
}

// TestAClientThatGivesUpDoesNotFailTheNextLogIns: the provider is asked
// outside the caller's deadline, so a cancelled first log-in leaves no
// failure behind for the others to be refused by.
func TestAClientThatGivesUpDoesNotFailTheNextLogIns(t *testing.T) {
	iss := startIssuer(t)
	v := verifier(iss, "")
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = v.Verify(gone, iss.Token(oidcissuer.KeyRS256, iss.Claims("alice@corp.example")))
	if _, err := v.Verify(context.Background(), iss.Token(oidcissuer.KeyES256, iss.Claims("alice@corp.example"))); err != nil {
		t.Errorf("the log-in after a cancelled one: %v", err)
	}
}

// TestLogInsAtOnceAtAColdStartAskTheProviderOnce: the first log-ins of a
// process arrive together; one of them fetches, the others wait for it.
func TestLogInsAtOnceAtAColdStartAskTheProviderOnce(t *testing.T) {
	iss := startIssuer(t)
	v := verifier(iss, "")
	tok := iss.Token(oidcissuer.KeyES256, iss.Claims("alice@corp.example"))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d, k := iss.Requests(); d != 1 || k != 1 {
		t.Errorf("discovery %d and keys %d times for 32 log-ins at once; want once each", d, k)
	}
}

// TestADayOldKeySetIsFetchedAgainAndKeptIfTheProviderIsDown: a warm
// process stops trusting a withdrawn key within a day, and an outage at
// that moment does not refuse the keys it holds.
func TestADayOldKeySetIsFetchedAgainAndKeptIfTheProviderIsDown(t *testing.T) {
	iss := startIssuer(t)
	now := time.Now()
	v := oidc.New(oidc.Config{Issuer: iss.URL, Audience: oidcissuer.Audience, UserClaim: "preferred_username",
		Now: func() time.Time { return now }})
	claims := iss.Claims("alice@corp.example")
	for _, step := range []time.Duration{0, time.Hour, oidc.DefaultKeyMaxAge} {
		now = now.Add(step)
		claims["iat"], claims["nbf"], claims["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
		if _, err := v.Verify(context.Background(), iss.Token(oidcissuer.KeyRS256, claims)); err != nil {
			t.Fatal(err)
		}
	}
	if _, k := iss.Requests(); k != 2 {
		t.Errorf("keys fetched %d times; want 2: at the start and a day later", k)
	}
	if err := iss.Close(); err != nil {
		t.Fatal(err)
	}
	now = now.Add(oidc.DefaultKeyMaxAge)
	claims["iat"], claims["nbf"], claims["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
	if _, err := v.Verify(context.Background(), iss.Token(oidcissuer.KeyRS256, claims)); err != nil {
		t.Errorf("with the provider down at a refresh: %v; want the held keys used", err)
	}
}

// switchable is a transport that fails every request while down, as an
// identity provider that cannot be reached does, and counts the requests
// it was asked to send.
type switchable struct {
	down  atomic.Bool
	tries atomic.Int64
}

func (s *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	s.tries.Add(1)
	if s.down.Load() {
		return nil, errors.New("connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestAnUnknownKidIsUnavailableWhileTheIssuerCannotBeReached: the issuer
// rotates its key and then goes down. A token under the new kid may be a
// good one, so it is unavailable (its holder should retry), not refused
// (its holder would drop it) — unless the key set was fetched within the
// last RefreshInterval, when the issuer has just said it has no such key.
// During the outage every token under an unknown kid gets the same
// answer, a well-signed one, a forged one, an expired one alike: the
// answer depends on the issuer, not on the token.
func TestAnUnknownKidIsUnavailableWhileTheIssuerCannotBeReached(t *testing.T) {
	iss := startIssuer(t)
	net := &switchable{}
	now := time.Now()
	v := oidc.New(oidc.Config{Issuer: iss.URL, Audience: oidcissuer.Audience, UserClaim: "preferred_username",
		Client: &http.Client{Transport: net}, Now: func() time.Time { return now }})
	claims := func() map[string]any {
		c := iss.Claims("alice@corp.example")
		c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
		return c
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// Tokens under a kid the verifier does not hold yet: the rotated key's
	// (good or not), and a made-up one.
	unknownKid := map[string]func() string{
		"SignedByTheRotatedKey": func() string { return iss.Token("rs256-2", claims()) },
		"ExpiredUnderTheRotatedKey": func() string {
			c := claims()
			c["exp"] = now.Add(-time.Hour).Unix()
			return iss.Token("rs256-2", c)
		},
		"AForeignKeyUnderTheRotatedKid": func() string { return oidcissuer.Sign(foreign, "rs256-2", "RS256", claims()) },
		"AMadeUpKid":                    func() string { return oidcissuer.Sign(foreign, "made-up", "RS256", claims()) },
	}
	held := func() string { return iss.Token(oidcissuer.KeyRS256, claims()) }
	verify := func(tok string) error { _, err := v.Verify(context.Background(), tok); return err }

	if err := verify(held()); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Rotate("rs256-2"); err != nil {
		t.Fatal(err)
	}
	net.down.Store(true)

	type step struct {
		name    string
		advance time.Duration
		up      bool
		kid     string // the answer to every token under an unknown kid: an error code, or the refusal's cause
		tries   int64  // requests sent to the issuer by the step
	}
	for _, s := range []step{
		// The set was fetched moments ago: the issuer said it has none of
		// these kids. Nothing is asked, down or not.
		{name: "FetchedWithinTheRefreshInterval", advance: oidc.DefaultRefreshInterval - time.Second, kid: string(session.CauseUnknownKey), tries: 0},
		// The set is a RefreshInterval old: the first token asks, the fetch
		// fails, and all are unavailable; the others do not ask again.
		{name: "TheFetchFails", advance: time.Second, kid: session.EUNAVAILABLE, tries: 1},
		{name: "WithinTheRetryAfter", advance: oidc.DefaultRetryAfter - time.Second, kid: session.EUNAVAILABLE, tries: 0},
		{name: "TheNextFetchFailsToo", advance: time.Second, kid: session.EUNAVAILABLE, tries: 1},
		// The issuer is back: the rotated key is fetched, and the tokens
		// are judged by it.
		{name: "TheIssuerIsBack", advance: oidc.DefaultRetryAfter, up: true, kid: "", tries: 1},
	} {
		t.Run(s.name, func(t *testing.T) {
			now = now.Add(s.advance)
			net.down.Store(!s.up)
			before := net.tries.Load()
			for name, tok := range unknownKid {
				err := verify(tok())
				if s.kid == "" {
					continue // judged on its merits below
				}
				var te *session.TokenError
				switch {
				case s.kid == string(session.CauseUnknownKey):
					if !errors.As(err, &te) || te.Cause != session.CauseUnknownKey {
						t.Errorf("%s: %v; want refused as %s", name, err, session.CauseUnknownKey)
					}
				case session.ErrorCode(err) != s.kid:
					t.Errorf("%s: %v; want %s", name, err, s.kid)
				}
			}
			if err := verify(held()); err != nil {
				t.Errorf("a token under a held key: %v; want it verified, issuer down or not", err)
			}
			if got := net.tries.Load() - before; got != s.tries {
				t.Errorf("%d requests to the issuer; want %d", got, s.tries)
			}
		})
	}
	if err := verify(unknownKid["SignedByTheRotatedKey"]()); err != nil {
		t.Errorf("a token under the rotated key once the issuer is back: %v", err)
	}
	var te *session.TokenError
	if err := verify(unknownKid["AMadeUpKid"]()); !errors.As(err, &te) || te.Cause != session.CauseUnknownKey {
		t.Errorf("a made-up kid once the issuer is back: %v; want refused as %s", err, session.CauseUnknownKey)
	}
	if err := verify(unknownKid["ExpiredUnderTheRotatedKey"]()); !errors.As(err, &te) || te.Cause != session.CauseExpired {
		t.Errorf("an expired token under the rotated key once the issuer is back: %v; want refused as %s", err, session.CauseExpired)
	}
}

// hangingIssuer is a loopback provider that accepts every request and
// never answers it (until the test ends); with discovery, only its key set
// hangs.
func hangingIssuer(t *testing.T, discovery bool) string {
	t.Helper()
	stop := make(chan struct{})
	var url string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if discovery && r.URL.Path == "/.well-known/openid-configuration" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"` + url + `","jwks_uri":"` + url + `/jwks","authorization_endpoint":"` + url + `/auth"}`))
			return
		}
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url = "http://" + ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(stop); _ = srv.Close() })
	return url
}

// TestAHangingProviderIsUnavailableWithinTheLogInsBudget: a provider that
// never answers (its discovery, or its keys) makes a log-in unavailable
// (the 503) once the verifier's budget is spent, or the caller's deadline
// less the time to answer, whichever is sooner — before the caller's own
// deadline, never by it.
func TestAHangingProviderIsUnavailableWithinTheLogInsBudget(t *testing.T) {
	for _, c := range []struct {
		name      string
		discovery bool
		budget    time.Duration // of the verifier
		deadline  time.Duration // of the caller (a Lambda invocation's)
	}{
		// Deadlines shorter than one request's DefaultTimeout: a verifier
		// without the budget runs past them.
		{"discovery hangs, the budget ends it", false, 200 * time.Millisecond, 3 * time.Second},
		{"keys hang, the budget ends it", true, 200 * time.Millisecond, 3 * time.Second},
		{"keys hang, the default budget ends it inside create's timeout", true, 0, 5 * time.Second},
		{"discovery hangs, the invocation's deadline ends it", false, time.Minute, oidc.AnswerReserve + 300*time.Millisecond},
		{"keys hang, the invocation's deadline ends it", true, time.Minute, oidc.AnswerReserve + 300*time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := hangingIssuer(t, c.discovery)
			v := oidc.New(oidc.Config{Issuer: url, Audience: oidcissuer.Audience, UserClaim: "preferred_username", Budget: c.budget})
			ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
			defer cancel()
			_, err := v.Verify(ctx, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
			if session.ErrorCode(err) != session.EUNAVAILABLE {
				t.Fatalf("Verify = %v; want unavailable", err)
			}
			if ctx.Err() != nil {
				t.Errorf("the caller's deadline passed first (%v): no time was left to answer", ctx.Err())
			}
		})
	}
}

// TestOnlyTheProvidersPublicSigningKeysVerify: a JWKS may list keys meant
// for encryption, or (by a provider's mistake) a key with its private
// part; a token signed by either is refused as under an unknown key, and
// one signed by the listed signing key logs in.
func TestOnlyTheProvidersPublicSigningKeysVerify(t *testing.T) {
	keys := map[string]*ecdsa.PrivateKey{}
	set := jose.JSONWebKeySet{}
	for _, k := range []struct {
		kid, use string
		private  bool
	}{{"signing", "sig", false}, {"unmarked", "", false}, {"encryption", "enc", false}, {"private", "sig", true}} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[k.kid] = key
		var listed any = &key.PublicKey
		if k.private {
			listed = key
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: listed, KeyID: k.kid, Algorithm: "ES256", Use: k.use})
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/openid-configuration" {
			_, _ = w.Write([]byte(`{"issuer":"` + url + `","jwks_uri":"` + url + `/keys","authorization_endpoint":"` + url + `/auth"}`))
			return
		}
		_, _ = w.Write(jwks)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	v := oidc.New(oidc.Config{Issuer: url, Audience: oidcissuer.Audience, UserClaim: "preferred_username"})
	for _, c := range []struct {
		kid string
		ok  bool
	}{{"signing", true}, {"unmarked", true}, {"encryption", false}, {"private", false}} {
		tok := oidcissuer.Sign(keys[c.kid], c.kid, "ES256", map[string]any{"iss": url, "aud": oidcissuer.Audience,
			"preferred_username": "carol@corp.example", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
		_, err := v.Verify(context.Background(), tok)
		var te *session.TokenError
		switch {
		case c.ok && err != nil:
			t.Errorf("a token under the %s key: %v; want it verified", c.kid, err)
		case !c.ok && !errors.As(err, &te):
			t.Errorf("a token under the %s key: %v; want it refused", c.kid, err)
		}
	}
}
