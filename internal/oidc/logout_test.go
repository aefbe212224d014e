package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/internal/oidc"
	"github.com/cis-session/cis-session/internal/session"
)

func TestALogoutTokenNamesItsSubjectSessionAndJTI(t *testing.T) {
	iss := startIssuer(t)
	v := oidc.New(oidc.Config{Issuer: iss.URL, Audience: "api://vsphere", ClientID: oidcissuer.Audience, UserClaim: "preferred_username"})
	for _, kid := range []string{oidcissuer.KeyRS256, oidcissuer.KeyES256} {
		c := iss.LogoutClaims("248289761001", "s-1")
		lt, err := v.VerifyLogout(context.Background(), iss.Token(kid, c))
		if err != nil || lt.Issuer != iss.URL || lt.Subject != "248289761001" || lt.SID != "s-1" || lt.JTI != c["jti"] ||
			lt.Expires.Unix() != c["exp"] {
			t.Errorf("%s: VerifyLogout = %+v, %v", kid, lt, err)
		}
	}
	// A sid alone, or a sub alone, names what it names.
	if lt, err := v.VerifyLogout(context.Background(), iss.Token(oidcissuer.KeyRS256, iss.LogoutClaims("", "s-2"))); err != nil || lt.Subject != "" || lt.SID != "s-2" {
		t.Errorf("sid only: %+v, %v", lt, err)
	}
	if lt, err := v.VerifyLogout(context.Background(), iss.Token(oidcissuer.KeyRS256, iss.LogoutClaims("u-3", ""))); err != nil || lt.Subject != "u-3" || lt.SID != "" {
		t.Errorf("sub only: %+v, %v", lt, err)
	}
}

// TestEveryTokenThatIsNoLogoutTokenIsRefused: what an attacker, or a
// confused provider, might post as a logout token, each refused with its
// cause (OpenID Connect Back-Channel Logout 1.0, section 2.6).
func TestEveryTokenThatIsNoLogoutTokenIsRefused(t *testing.T) {
	iss := startIssuer(t)
	const clientID = "cis-session-rp"
	v := oidc.New(oidc.Config{Issuer: iss.URL, Audience: oidcissuer.Audience, ClientID: clientID, UserClaim: "preferred_username"})
	good := func() map[string]any {
		c := iss.LogoutClaims("alice", "s-1")
		c["aud"] = clientID
		return c
	}
	alter := func(f func(map[string]any)) string {
		c := good()
		f(c)
		return iss.Token(oidcissuer.KeyRS256, c)
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	access := iss.Claims("alice@corp.example")
	access["aud"] = clientID
	for _, c := range []struct {
		name  string
		token string
		cause session.Cause
	}{
		{"signed by another key under the provider's kid", oidcissuer.Sign(foreign, oidcissuer.KeyRS256, "RS256", good()), session.CauseBadToken},
		{"unsigned", oidcissuer.Unsigned(oidcissuer.KeyRS256, good()), session.CauseBadToken},
		{"HMAC keyed with the public key", oidcissuer.Sign(iss.PublicPEM(oidcissuer.KeyRS256), oidcissuer.KeyRS256, "HS256", good()), session.CauseBadToken},
		{"another issuer", alter(func(c map[string]any) { c["iss"] = "https://evil.example" }), session.CauseWrongIssuer},
		{"the access tokens' audience", alter(func(c map[string]any) { c["aud"] = oidcissuer.Audience }), session.CauseWrongAudience},
		{"expired", alter(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }), session.CauseExpired},
		{"no exp", alter(func(c map[string]any) { delete(c, "exp") }), session.CauseExpired},
		{"issued in the future", alter(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }), session.CauseNotYetValid},
		{"no iat", alter(func(c map[string]any) { delete(c, "iat") }), session.CauseNotLogoutToken},
		{"no jti", alter(func(c map[string]any) { delete(c, "jti") }), session.CauseNotLogoutToken},
		{"a nonce (an ID token)", alter(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" }), session.CauseNotLogoutToken},
		{"no events", alter(func(c map[string]any) { delete(c, "events") }), session.CauseNotLogoutToken},
		{"events without the logout member", alter(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}), session.CauseNotLogoutToken},
		{"the logout member not an object", alter(func(c map[string]any) {
			c["events"] = map[string]any{oidc.BackchannelLogoutEvent: true}
		}), session.CauseNotLogoutToken},
		{"neither sub nor sid", alter(func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }), session.CauseNotLogoutToken},
		{"an access token for the client", iss.Token(oidcissuer.KeyRS256, access), session.CauseNotLogoutToken},
		{"not a JWT", "not-a-jwt", session.CauseBadToken},
	} {
		_, err := v.VerifyLogout(context.Background(), c.token)
		var te *session.TokenError
		if !errors.As(err, &te) || te.Cause != c.cause {
			t.Errorf("%s: %v; want refused as %s", c.name, err, c.cause)
		}
	}
}
