package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"strings"
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

// forged returns every token an attacker might try, each with the cause the
// audit trail must give; the client gets the same answer for all.
func forged(t *testing.T, iss *oidcissuer.Issuer) map[string]struct {
	token string
	cause session.Cause
} {
	t.Helper()
	user := "alice@corp.example"
	with := func(k string, v any) map[string]any {
		c := iss.Claims(user, "vsphere-admins")
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	foreignRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	foreignEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	type tc = struct {
		token string
		cause session.Cause
	}
	return map[string]tc{
		"expired":                      {iss.Token(oidcissuer.KeyRS256, with("exp", now.Add(-2*oidc.DefaultSkew).Unix())), session.CauseExpired},
		"no exp":                       {iss.Token(oidcissuer.KeyRS256, with("exp", nil)), session.CauseExpired},
		"wrong audience":               {iss.Token(oidcissuer.KeyRS256, with("aud", "another-app")), session.CauseWrongAudience},
		"no audience":                  {iss.Token(oidcissuer.KeyRS256, with("aud", nil)), session.CauseWrongAudience},
		"wrong issuer":                 {iss.Token(oidcissuer.KeyRS256, with("iss", "http://127.0.0.1:1")), session.CauseWrongIssuer},
		"issuer with a trailing slash": {iss.Token(oidcissuer.KeyRS256, with("iss", iss.URL+"/")), session.CauseWrongIssuer},
		"alg none":                     {oidcissuer.Unsigned(oidcissuer.KeyRS256, with("x", 1)), session.CauseBadToken},
		"HMAC with the public key":     {oidcissuer.Sign(iss.PublicPEM(oidcissuer.KeyRS256), oidcissuer.KeyRS256, "HS256", with("x", 1)), session.CauseBadToken},
		"HMAC with the EC public key":  {oidcissuer.Sign(iss.PublicPEM(oidcissuer.KeyES256), oidcissuer.KeyES256, "HS256", with("x", 1)), session.CauseBadToken},
		"foreign RSA key, known kid":   {oidcissuer.Sign(foreignRSA, oidcissuer.KeyRS256, "RS256", with("x", 1)), session.CauseBadToken},
		"foreign EC key, known kid":    {oidcissuer.Sign(foreignEC, oidcissuer.KeyES256, "ES256", with("x", 1)), session.CauseBadToken},
		"RS384":                        {oidcissuer.Sign(iss.Key(oidcissuer.KeyRS256), oidcissuer.KeyRS256, "RS384", with("x", 1)), session.CauseBadToken},
		"not yet valid (nbf)":          {iss.Token(oidcissuer.KeyRS256, with("nbf", now.Add(2*oidc.DefaultSkew).Unix())), session.CauseNotYetValid},
		"issued in the future (iat)":   {iss.Token(oidcissuer.KeyRS256, with("iat", now.Add(2*oidc.DefaultSkew).Unix())), session.CauseNotYetValid},
		"unknown kid":                  {oidcissuer.Sign(foreignRSA, "made-up", "RS256", with("x", 1)), session.CauseUnknownKey},
		"missing group":                {iss.Token(oidcissuer.KeyRS256, with("groups", []string{"staff"})), session.CauseNotInGroup},
		"no groups claim":              {iss.Token(oidcissuer.KeyRS256, with("groups", nil)), session.CauseNotInGroup},
		"missing user claim":           {iss.Token(oidcissuer.KeyRS256, with("preferred_username", nil)), session.CauseNoUserClaim},
		"user claim not a string":      {iss.Token(oidcissuer.KeyRS256, with("preferred_username", []string{user})), session.CauseNoUserClaim},
		"not a JWT":                    {"eyJhbGciOiJSUzI1NiJ9.e30", session.CauseBadToken},
		"payload swapped":              {swapPayload(iss.Token(oidcissuer.KeyES256, with("x", 1)), iss.Token(oidcissuer.KeyES256, with("preferred_username", "root@corp.example"))), session.CauseBadToken},
	}
}

// swapPayload puts b's claims under a's signature.
func swapPayload(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

func TestEveryForgedOrUnfitTokenIsRefusedWithItsCause(t *testing.T) {
	iss := startIssuer(t)
	v := verifier(iss, "vsphere-admins")
	if _, err := v.Verify(context.Background(), iss.Token(oidcissuer.KeyRS256, iss.Claims("alice@corp.example", "vsphere-admins"))); err != nil {
		t.Fatalf("a good token in the group: %v", err)
	}
	for name, tc := range forged(t, iss) {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			var te *session.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %v; want a *session.TokenError", err)
			}
			if te.Cause != tc.cause {
				t.Errorf("cause %s; want %s (%v)", te.Cause, tc.cause, err)
			}
			if strings.Contains(err.Error(), tc.token) {
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
	if _, k := iss.Requests(); k != 2 {
		t.Errorf("key set fetched %d times; want 2: the first log-in and the rotation, none for 20 made-up kids within a minute", k)
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
