package oidcissuer

import (
	"context"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/oidc"
)

// The fixed keys are the same in every process: a second derivation from
// the seeds gives the same keys (and so the committed events' tokens stay
// verifiable), and different seeds give different keys.
func TestFixedKeysAreDerivedFromTheirSeeds(t *testing.T) {
	rk, err := deriveRSA(fixedSeedRS256, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if !rk.Equal(FixedKeys()[KeyRS256]) || rk.N.BitLen() != 2048 {
		t.Errorf("the RSA key derived again differs, or is not 2048 bits (%d)", rk.N.BitLen())
	}
	ek, err := deriveP256(fixedSeedES256)
	if err != nil {
		t.Fatal(err)
	}
	if !ek.Equal(FixedKeys()[KeyES256]) {
		t.Error("the EC key derived again differs")
	}
	other, err := deriveRSA(fixedSeedRS256+"x", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if other.Equal(rk) {
		t.Error("another seed gave the same RSA key")
	}
	if _, ok := FixedKeys()[KeyRS256].(*rsa.PrivateKey); !ok {
		t.Error("KeyRS256 is not an RSA key")
	}
}

// Two servers of the fixed issuer at once (as two test packages run at
// once make them) both come up; a token of each fixed key verifies against
// FixedURL, while either runs, and after the first is closed.
func TestFixedIssuerServesItsKeysTwiceAtOnce(t *testing.T) {
	ctx := context.Background()
	a, err := ServeFixed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ServeFixed(ctx)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	defer b.Close()
	if err := checkFixed(ctx, FixedURL); err != nil {
		t.Fatalf("the fixed issuer does not serve its documents: %v", err)
	}
	now := time.Now()
	claims := func() map[string]any {
		return map[string]any{"iss": FixedURL, "aud": Audience, "sub": "alice@corp.example", "preferred_username": "alice@corp.example",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": FixedExpiry.Unix()}
	}
	verify := func() {
		t.Helper()
		v := oidc.New(oidc.Config{Issuer: FixedURL, Audience: Audience, UserClaim: "preferred_username", GroupsClaim: "groups"})
		for _, kid := range []string{KeyRS256, KeyES256} {
			if id, err := v.Verify(ctx, FixedToken(kid, claims())); err != nil || id.Name != "alice@corp.example" {
				t.Errorf("%s token: user %q, err %v", kid, id.Name, err)
			}
		}
	}
	verify()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	verify()
	if a, b := FixedToken(KeyRS256, claims()), FixedToken(KeyRS256, claims()); a != b {
		t.Error("RS256 tokens of the same claims differ")
	}
}

// What holds the fixed address without SO_REUSEPORT is relied on only if
// it serves the fixed issuer's discovery document and key set byte for byte.
func TestOnlyTheFixedIssuersDocumentsAreReliedOn(t *testing.T) {
	serve := func(discovery, jwks []byte) string {
		mux := http.NewServeMux()
		mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) { w.Write(discovery) })
		mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) })
		s := httptest.NewServer(mux)
		t.Cleanup(s.Close)
		return s.URL
	}
	other, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherKeys := func() []byte {
		resp, err := http.Get(other.URL + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}()
	for name, c := range map[string]struct {
		base string
		ok   bool
	}{
		"the fixed issuer's documents": {serve(FixedDiscovery(), FixedJWKS()), true},
		"another key set":              {serve(FixedDiscovery(), otherKeys), false},
		"another discovery document":   {serve([]byte(`{"issuer":"`+FixedURL+`"}`), FixedJWKS()), false},
		"another issuer altogether":    {other.URL, false},
		"nothing listening":            {"http://127.0.0.1:1", false},
	} {
		if err := checkFixed(context.Background(), c.base); (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok = %v", name, err, c.ok)
		}
	}
}
