package assertion_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cis-session/cis-session/internal/assertion"
)

const (
	issuer   = "https://vc.example.com"
	audience = "https://upstream.example.com"
	user     = "administrator@vsphere.local"
)

func secret(t testing.TB, replaces string) string {
	t.Helper()
	v, err := assertion.NewSecretValue(replaces)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signer(t testing.TB, current, previous string) *assertion.Signer {
	t.Helper()
	seeds, err := assertion.ParseSecrets(current, previous)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := assertion.NewKeySet(seeds)
	if err != nil {
		t.Fatal(err)
	}
	s, err := assertion.NewSigner(ks, audience, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verify checks an assertion as an upstream does, with go-jose and
// nothing but the published JWK Set and its audience.
func verify(jwks []byte, token string, now time.Time) (jwt.Claims, map[string]any, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return jwt.Claims{}, nil, err
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return jwt.Claims{}, nil, err
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(set, &std, &all); err != nil {
		return jwt.Claims{}, nil, err
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, 0)
	return std, all, err
}

func tokenHash(id string) []byte { h := sha256.Sum256([]byte(id)); return h[:] }

// TestAnAssertionVerifiesWithThePublishedKeysAlone: an upstream holding
// only the JWK Set and its audience verifies who is calling; the claims
// are the contract's; the session's id and hash are nowhere in it.
func TestAnAssertionVerifiesWithThePublishedKeysAlone(t *testing.T) {
	s := signer(t, secret(t, ""), "")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	sessionID := "0123456789abcdef0123456789abcdef"
	h := tokenHash(sessionID)
	for name, c := range map[string]struct {
		notAfter time.Time
		wantExp  time.Time
	}{
		"ALongSessionIsBoundByTheLifetime":    {now.Add(20 * time.Hour), now.Add(assertion.DefaultLifetime)},
		"ASessionEndingSoonerBoundsTheExpiry": {now.Add(90 * time.Second), now.Add(90 * time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := s.Sign(issuer, user, "local", h, now, c.notAfter)
			if err != nil {
				t.Fatal(err)
			}
			std, all, err := verify(s.Keys().JWKS(), tok, now.Add(time.Second))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if std.Subject != user || !std.Expiry.Time().Equal(c.wantExp) || !std.IssuedAt.Time().Equal(now) || all["sid"] != s.Keys().Handle(h) {
				t.Errorf("claims %+v %v", std, all)
			}
			header, _, _ := strings.Cut(tok, ".")
			hdr, _ := base64.RawURLEncoding.DecodeString(header)
			if !strings.Contains(string(hdr), `"kid":"`+s.Keys().CurrentID()+`"`) || !strings.Contains(string(hdr), `"alg":"ES256"`) {
				t.Errorf("header %s", hdr)
			}
			whole := tok
			for _, part := range strings.Split(tok, ".")[:2] {
				b, _ := base64.RawURLEncoding.DecodeString(part)
				whole += string(b)
			}
			for _, secret := range []string{sessionID, hex.EncodeToString(h), hex.EncodeToString(h)[:12], base64.RawURLEncoding.EncodeToString(h)} {
				if strings.Contains(whole, secret) {
					t.Errorf("the assertion carries %q of the session", secret)
				}
			}
			if _, _, err := verify(s.Keys().JWKS(), tok, time.Unix(std.Expiry.Time().Unix()+1, 0)); err == nil {
				t.Error("verified after its expiry")
			}
		})
	}
}

// TestATamperedOrForeignAssertionFails: any change to the signed parts,
// a key the set does not publish, or another algorithm is refused.
func TestATamperedOrForeignAssertionFails(t *testing.T) {
	s := signer(t, secret(t, ""), "")
	other := signer(t, secret(t, ""), "")
	now := time.Now()
	tok, err := s.Sign(issuer, user, "local", tokenHash("x"), now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	root := base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(user), []byte("root@evil.example"), 1))
	foreign, _ := other.Sign(issuer, user, "local", tokenHash("x"), now, now.Add(time.Hour))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + s.Keys().CurrentID() + `"}`))
	for name, bad := range map[string]string{
		"AnotherSubject":       parts[0] + "." + root + "." + parts[2],
		"AFlippedSignatureBit": parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"AKeyNotPublished":     foreign,
		"AlgNone":              none + "." + parts[1] + ".",
	} {
		if _, _, err := verify(s.Keys().JWKS(), bad, now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, _, err := verify(s.Keys().JWKS(), tok, now); err != nil {
		t.Errorf("the untouched one: %v", err)
	}
}

func flip(sig string) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	b[len(b)/2] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestAssertionsSignedBeforeARotationVerifyUntilTheyExpire: after a
// rotation the new key signs and both are published, so that what the old
// key signed verifies until its expiry; the session handle is unchanged.
// A second rotation drops the oldest key.
func TestAssertionsSignedBeforeARotationVerifyUntilTheyExpire(t *testing.T) {
	v1 := secret(t, "")
	before := signer(t, v1, "")
	now := time.Now()
	h := tokenHash("a session")
	old, err := before.Sign(issuer, user, "local", h, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	// Step 1: the new value, staged AWSPENDING, is published, not used.
	v2 := secret(t, v1)
	staged, err := assertion.ParseSecretVersions(v1, "", v2)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := assertion.NewKeySet(staged)
	if err != nil {
		t.Fatal(err)
	}
	if ks.CurrentID() != before.Keys().CurrentID() {
		t.Fatal("a pending key signs")
	}
	// Step 2: it is made AWSCURRENT; v1 is AWSPREVIOUS.
	after := signer(t, v2, v1)
	if !strings.Contains(string(ks.JWKS()), after.Keys().CurrentID()) {
		t.Error("the pending key is not published ahead of its use")
	}
	if after.Keys().CurrentID() == before.Keys().CurrentID() {
		t.Fatal("the rotation kept the key")
	}
	if _, _, err := verify(after.Keys().JWKS(), old, now.Add(4*time.Minute)); err != nil {
		t.Errorf("signed before the rotation, refused after: %v", err)
	}
	if _, _, err := verify(after.Keys().JWKS(), old, now.Add(6*time.Minute)); err == nil {
		t.Error("signed before the rotation, verified past its expiry")
	}
	fresh, _ := after.Sign(issuer, user, "local", h, now, now.Add(time.Hour))
	if _, all, err := verify(after.Keys().JWKS(), fresh, now); err != nil || all["sid"] != before.Keys().Handle(h) {
		t.Errorf("signed after the rotation: %v, sid %v want %v", err, all["sid"], before.Keys().Handle(h))
	}
	// A rotation that does not carry sid_seed over keeps it too.
	plain, _ := json.Marshal(map[string]string{"seed": strings.Repeat("k", 40)})
	if got := signer(t, string(plain), v1).Keys().Handle(h); got != before.Keys().Handle(h) {
		t.Errorf("sid %s after a plain rotation, want %s", got, before.Keys().Handle(h))
	}

	v3 := secret(t, v2)
	later := signer(t, v3, v2)
	if _, _, err := verify(later.Keys().JWKS(), old, now.Add(time.Minute)); err == nil {
		t.Error("the key two rotations back is still published")
	}
	if _, _, err := verify(later.Keys().JWKS(), fresh, now.Add(time.Minute)); err != nil {
		t.Errorf("the previous key's assertion: %v", err)
	}
}

// TestTheJWKSHoldsNoPrivatePart: public keys only, each with its kid.
func TestTheJWKSHoldsNoPrivatePart(t *testing.T) {
	s := signer(t, secret(t, secret(t, "")), secret(t, ""))
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(s.Keys().JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys, want the current and the previous", len(set.Keys))
	}
	for _, k := range set.Keys {
		if _, private := k["d"]; private || k["kty"] != "EC" || k["crv"] != "P-256" || k["kid"] == "" || k["alg"] != "ES256" || k["use"] != "sig" {
			t.Errorf("key %v", k)
		}
	}
	if set.Keys[0]["kid"] != s.Keys().CurrentID() {
		t.Errorf("first key %v, want the current one", set.Keys[0]["kid"])
	}
}

// TestSeedsAreChecked: a short or malformed secret value stops start-up.
func TestSeedsAreChecked(t *testing.T) {
	for name, c := range map[string][2]string{
		"NotJSON":         {"seed", ""},
		"NoSeed":          {`{"sid_seed":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, ""},
		"PreviousNotJSON": {`{"seed":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, "x"},
	} {
		if _, err := assertion.ParseSecrets(c[0], c[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := assertion.NewKeySet(assertion.Seeds{Current: []byte("short")}); err == nil {
		t.Error("a 5-byte seed accepted")
	}
}

// BenchmarkSign is one assertion, as the authorizer signs one per allowed
// call: ECDSA P-256, the claims' JSON, the HMAC of the sid, base64.
func BenchmarkSign(b *testing.B) {
	v, _ := assertion.NewSecretValue("")
	seeds, _ := assertion.ParseSecrets(v, "")
	ks, _ := assertion.NewKeySet(seeds)
	s, _ := assertion.NewSigner(ks, audience, 0)
	h := tokenHash("x")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(issuer, user, "local", h, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestASealHoldsOnlyForTheSessionItWasMadeFor: a seal verifies for the
// token hash, user and creation time log-in sealed, and for nothing else:
// not another session's, not another user's, not another time (which would
// move the absolute expiry), not one made with another key, not a
// truncated or altered one.
func TestASealHoldsOnlyForTheSessionItWasMadeFor(t *testing.T) {
	ks := signer(t, secret(t, ""), "").Keys()
	other := signer(t, secret(t, ""), "").Keys()
	h := tokenHash("a session")
	created := time.UnixMilli(1_700_000_000_123)
	seal := ks.Seal(h, user, created)
	if len(seal) != assertion.SealLen {
		t.Fatalf("seal %q has %d characters, want %d", seal, len(seal), assertion.SealLen)
	}
	cases := []struct {
		name    string
		hash    []byte
		user    string
		created time.Time
		seal    string
		want    bool
	}{
		{"the session it was made for", h, user, created, seal, true},
		{"the same time read back from milliseconds", h, user, created.Add(999 * time.Microsecond), seal, true},
		{"another session's token hash", tokenHash("another session"), user, created, seal, false},
		{"another user", h, "root@evil", created, seal, false},
		{"the user in another case", h, strings.ToUpper(user), created, seal, false},
		{"a later creation time", h, user, created.Add(time.Millisecond), seal, false},
		{"a seal made with another key", h, user, created, other.Seal(h, user, created), false},
		{"a seal with a bit flipped", h, user, created, flip(seal), false},
		{"a truncated seal", h, user, created, seal[:16], false},
		{"a seal with padding", h, user, created, seal + "==", false},
		{"no seal", h, user, created, "", false},
	}
	for _, c := range cases {
		if got := ks.Sealed(c.hash, c.user, c.created, c.seal); got != c.want {
			t.Errorf("%s: sealed %v, want %v", c.name, got, c.want)
		}
	}
	// Fields that run together cannot be shifted across the boundary.
	if ks.Seal([]byte("ab"), "c", created) == ks.Seal([]byte("a"), "bc", created) {
		t.Error("moving a byte from the hash to the user keeps the seal")
	}
}

// TestASealSurvivesARotation: the seal key derives from the handle seed,
// which a rotation carries over, so sessions sealed before a rotation of
// the assertion keys are still sealed after it (and after a rotation that
// forgets sid_seed); a new stack's secret seals differently.
func TestASealSurvivesARotation(t *testing.T) {
	v1 := secret(t, "")
	before := signer(t, v1, "").Keys()
	h := tokenHash("a session")
	created := time.UnixMilli(1_700_000_000_000)
	seal := before.Seal(h, user, created)
	v2 := secret(t, v1)
	v3 := secret(t, v2)
	plain, _ := json.Marshal(map[string]string{"seed": strings.Repeat("k", 40)})
	for name, ks := range map[string]*assertion.KeySet{
		"one rotation":                   signer(t, v2, v1).Keys(),
		"two rotations":                  signer(t, v3, v2).Keys(),
		"a rotation that drops sid_seed": signer(t, string(plain), v1).Keys(),
	} {
		if !ks.Sealed(h, user, created, seal) {
			t.Errorf("after %s a session sealed before it is unsealed", name)
		}
	}
	if signer(t, secret(t, ""), "").Keys().Sealed(h, user, created, seal) {
		t.Error("another secret's key verifies the seal")
	}
}

// BenchmarkSealed is what the front door adds to a call to verify its
// session's seal: one HMAC-SHA-256 in memory.
func BenchmarkSealed(b *testing.B) {
	ks := signer(b, secret(b, ""), "").Keys()
	h := tokenHash("a session")
	created := time.UnixMilli(1_700_000_000_000)
	seal := ks.Seal(h, user, created)
	b.ReportAllocs()
	for b.Loop() {
		if !ks.Sealed(h, user, created, seal) {
			b.Fatal("unsealed")
		}
	}
}
