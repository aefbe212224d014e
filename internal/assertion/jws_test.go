package assertion

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Golden values: what go-jose wrote for these seeds at cba8d15, before the
// signing and the JWK Set were written by hand here.
const (
	goldenCurrent  = "0123456789abcdef0123456789abcdef-golden"
	goldenPrevious = "previous-seed-0123456789abcdef0123456789"
	goldenKid      = "PmdxB83AFLBN392QVfDsc0XVwK8OfwOCtBTdcrxba0k"
	goldenJWKS     = `{"keys":[{"use":"sig","kty":"EC","kid":"PmdxB83AFLBN392QVfDsc0XVwK8OfwOCtBTdcrxba0k","crv":"P-256","alg":"ES256","x":"QR9LgkQkcP0_oWbdycHmqlQUD_63Rl7DnN4JnKk8Ctc","y":"MHehcAjB76g77i9ZPaXmKUpAbFqFRtGH2d5t5vXISJk"},{"use":"sig","kty":"EC","kid":"WZ9y_4uTp9iq7fQD8_BcOqjjLcm26H9BDbf90SIRn5A","crv":"P-256","alg":"ES256","x":"W8S7vONOwXi-CmlobUhQJwC4O6k0SAumhboh5HIGrQ8","y":"FHGqf8BooVk0krzi47QozFLdvby6OsqQ8MoqC8H9RI4"}]}`
	// The header and the claims of an assertion signed then (the
	// signature differs with every signing).
	goldenSigned = "eyJhbGciOiJFUzI1NiIsImtpZCI6IlBtZHhCODNBRkxCTjM5MlFWZkRzYzBYVndLOE9md09DdEJUZGNyeGJhMGsiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJpc3MiLCJhdWQiOiJhdWQiLCJzdWIiOiJ1IiwiaWRwIjoibG9jYWwiLCJzaWQiOiIwajNZYlNDRE5UNWx6NkwwM2VzRjhnIiwiaWF0IjoxLCJleHAiOjMwMX0"
)

// TestKidsJWKSAndHeadersAreByteForByteWhatGoJoseWrote: the hand-written
// JOSE changes no kid (a rotation would otherwise see a new id for the same
// seed), no byte of the published JWK Set, and no byte of an assertion but
// its signature.
func TestKidsJWKSAndHeadersAreByteForByteWhatGoJoseWrote(t *testing.T) {
	ks, err := NewKeySet(Seeds{Current: []byte(goldenCurrent), Previous: []byte(goldenPrevious)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.CurrentID(); got != goldenKid {
		t.Errorf("kid %s, go-jose's was %s", got, goldenKid)
	}
	if got := string(ks.JWKS()); got != goldenJWKS {
		t.Errorf("JWKS\n%s\ngo-jose's was\n%s", got, goldenJWKS)
	}
	s, err := NewSigner(ks, "aud", 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign("iss", "u", "local", []byte("h"), time.Unix(1, 0), time.Unix(1000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if signed, _, _ := cutLast(tok); signed != goldenSigned {
		t.Errorf("signed part\n%s\ngo-jose's was\n%s", signed, goldenSigned)
	}
}

func cutLast(tok string) (signed, sig string, ok bool) {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return tok, "", false
	}
	return tok[:i], tok[i+1:], true
}

// randomText is a claim an attacker or an identity provider could choose:
// quotes, backslashes, control characters, HTML, non-ASCII.
func randomText(r *mrand.Rand) string {
	alphabet := []rune("aZ09 .@-_\"\\/<>&\u2028\u0000\u00e9\u4e16\U0001F600\n\t'")
	var b strings.Builder
	for range r.IntN(40) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// TestHandSignedAssertionsVerifyWithGoJose: for many random keys and
// claims, go-jose — an upstream's verifier — accepts the assertion with the
// published JWK Set alone and reads back every claim; it computes the same
// RFC 7638 thumbprint as the kid, and writes the same JWK Set.
func TestHandSignedAssertionsVerifyWithGoJose(t *testing.T) {
	r := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 24))
	for i := range 200 {
		seed := make([]byte, MinSeedLen+r.IntN(32))
		rand.Read(seed)
		ks, err := NewKeySet(Seeds{Current: seed})
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(ks.JWKS(), &set); err != nil || len(set.Keys) != 1 {
			t.Fatalf("JWKS %s: %v", ks.JWKS(), err)
		}
		tp, err := set.Keys[0].Thumbprint(crypto.SHA256)
		if err != nil || base64.RawURLEncoding.EncodeToString(tp) != ks.CurrentID() || set.Keys[0].KeyID != ks.CurrentID() {
			t.Fatalf("go-jose's thumbprint %x (%v), kid %s", tp, err, ks.CurrentID())
		}
		if again, err := json.Marshal(set); err != nil || !bytes.Equal(again, ks.JWKS()) {
			t.Fatalf("go-jose writes the JWK Set as\n%s\nthis package as\n%s", again, ks.JWKS())
		}
		s, err := NewSigner(ks, randomText(r), 0)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(r.Int64N(4e9), 0)
		c := Claims{Issuer: randomText(r), Subject: randomText(r), IdP: randomText(r)}
		h := sha256.Sum256([]byte{byte(i)})
		tok, err := s.Sign(c.Issuer, c.Subject, c.IdP, h[:], now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("go-jose parses %s: %v", tok, err)
		}
		var got Claims
		if err := parsed.Claims(set, &got); err != nil {
			t.Fatalf("go-jose verifies %s: %v", tok, err)
		}
		want := Claims{Issuer: c.Issuer, Audience: s.audience, Subject: c.Subject, IdP: c.IdP, Session: ks.Handle(h[:]),
			IssuedAt: now.Unix(), Expiry: now.Add(DefaultLifetime).Unix()}
		if got != want {
			t.Fatalf("claims %+v, want %+v", got, want)
		}
		if h := parsed.Headers[0]; h.KeyID != ks.CurrentID() || h.Algorithm != "ES256" || h.ExtraHeaders["typ"] != "JWT" {
			t.Fatalf("header %+v", h)
		}
	}
}

// TestSignaturesAreFixedSizeAndEitherS: the signature is r||s, 64 bytes
// however small r or s is (RFC 7518 3.4: leading zeros kept), and neither
// normalised to low S nor needing to be: go-jose verifies both halves of
// the group order.
func TestSignaturesAreFixedSizeAndEitherS(t *testing.T) {
	key, err := deriveKey([]byte("fixed-size-signature-seed-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	header, err := jwsHeader(key.ID)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.private.PublicKey, KeyID: key.ID}
	halfN := new(big.Int).Rsh(elliptic.P256().Params().N, 1)
	var highS, lowS, short bool
	for i := 0; i < 20000 && !(highS && lowS && short); i++ {
		tok, err := signES256(header, key.private, []byte(`{"n":`+big.NewInt(int64(i)).String()+`}`))
		if err != nil {
			t.Fatal(err)
		}
		_, sig64, _ := cutLast(tok)
		sig, err := base64.RawURLEncoding.DecodeString(sig64)
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature %q: %d bytes (%v), want 64", sig64, len(sig), err)
		}
		s := new(big.Int).SetBytes(sig[32:])
		isHigh, isShort := s.Cmp(halfN) > 0, sig[0] == 0 || sig[32] == 0
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify(pub); err != nil {
			t.Fatalf("go-jose refuses %s (high S %v, short r or s %v): %v", tok, isHigh, isShort, err)
		}
		highS, lowS, short = highS || isHigh, lowS || !isHigh, short || isShort
	}
	if !highS || !lowS || !short {
		t.Errorf("seen high S %v, low S %v, a short r or s %v", highS, lowS, short)
	}
}
