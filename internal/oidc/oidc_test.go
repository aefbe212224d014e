package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

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
		user, err := v.Verify(context.Background(), iss.Token(kid, iss.Claims("alice@corp.example")))
		if err != nil || user != "alice@corp.example" {
			t.Errorf("%s: Verify = %q, %v; want alice@corp.example", kid, user, err)
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
