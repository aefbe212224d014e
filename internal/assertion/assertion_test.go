package assertion_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
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
	v2, _ := assertion.NewPendingValue(v1, "2")
	staged, err := assertion.ParseSecretVersions(assertion.Versions{Current: v1, Pending: v2, Epoch: "2"})
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

// keySet parses versions into a key set, failing the test on an error.
func keySet(t testing.TB, v assertion.Versions) *assertion.KeySet {
	t.Helper()
	seeds, err := assertion.ParseSecretVersions(v)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := assertion.NewKeySet(seeds)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestAPendingKeyIsPublishedOnlyFromTheEpochItNames: a value staged
// AWSPENDING is not published by an instance that starts before the deploy
// of its epoch (any cold start between staging and deploying), only by the
// instances of that epoch.
func TestAPendingKeyIsPublishedOnlyFromTheEpochItNames(t *testing.T) {
	v1 := secret(t, "")
	pending, err := assertion.NewPendingValue(v1, "2")
	if err != nil {
		t.Fatal(err)
	}
	pendingID := signer(t, pending, "").Keys().CurrentID()
	for _, c := range []struct {
		epoch   string
		publish bool
	}{{"1", false}, {"", false}, {"3", false}, {"2", true}} {
		ks := keySet(t, assertion.Versions{Current: v1, Pending: pending, Epoch: c.epoch})
		if got := strings.Contains(string(ks.JWKS()), pendingID); got != c.publish {
			t.Errorf("epoch %q: pending key published = %v, want %v", c.epoch, got, c.publish)
		}
		if ks.CurrentID() == pendingID {
			t.Errorf("epoch %q: the pending key signs", c.epoch)
		}
	}
	// A value staged without an epoch (by hand) is published by nobody.
	plain := secret(t, v1)
	if ks := keySet(t, assertion.Versions{Current: v1, Pending: plain, Epoch: "2"}); strings.Count(string(ks.JWKS()), `"kid"`) != 1 {
		t.Errorf("a pending value without an epoch is published: %s", ks.JWKS())
	}
}

// TestARetiredKeyIsGoneFromTheJWKSAfterItsLastAssertionsExpiry: after a
// rotation at T, the previous key is published until T + the longest
// assertion life and not a second after; an assertion it signed at T
// verifies until then. With no rotation time known, it stays published.
func TestARetiredKeyIsGoneFromTheJWKSAfterItsLastAssertionsExpiry(t *testing.T) {
	const life = 5*time.Minute + 30*time.Second // an AuthorizerCacheTtl of 30 s
	v1 := secret(t, "")
	old, err := assertion.NewSigner(keySet(t, assertion.Versions{Current: v1}), audience, life)
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := time.Unix(1_800_000_000, 0)
	h := tokenHash("a session")
	last, err := old.Sign(issuer, user, "local", h, rotatedAt, rotatedAt.Add(time.Hour)) // the last it signs
	if err != nil {
		t.Fatal(err)
	}
	pending, _ := assertion.NewPendingValue(v1, "2")
	current, err := assertion.PromotedValue(pending, rotatedAt)
	if err != nil {
		t.Fatal(err)
	}
	ks := keySet(t, assertion.Versions{Current: current, Previous: v1, Epoch: "3"})
	s, err := assertion.NewSigner(ks, audience, life)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at        time.Time
		published bool
	}{
		{rotatedAt, true},
		{rotatedAt.Add(life - time.Second), true},
		{rotatedAt.Add(life), false},
		{rotatedAt.Add(24 * time.Hour), false},
	} {
		jwks := s.JWKS(c.at)
		if got := strings.Contains(string(jwks), old.Keys().CurrentID()); got != c.published {
			t.Errorf("%s after the rotation: previous key published = %v, want %v", c.at.Sub(rotatedAt), got, c.published)
		}
		if !strings.Contains(string(jwks), ks.CurrentID()) {
			t.Errorf("%s after the rotation: the signing key is not published", c.at.Sub(rotatedAt))
		}
		if c.published {
			if _, _, err := verify(jwks, last, c.at); err != nil {
				t.Errorf("%s after the rotation: its last assertion does not verify: %v", c.at.Sub(rotatedAt), err)
			}
		}
	}
	// No rotation time (a value promoted by hand, no version date): kept.
	if ks := keySet(t, assertion.Versions{Current: secret(t, v1), Previous: v1}); !strings.Contains(string(ks.JWKSAt(rotatedAt.Add(24*time.Hour), life)), old.Keys().CurrentID()) {
		t.Error("without a rotation time the previous key was dropped")
	}
	// The version's creation stands in for a value's rotated_at.
	if ks := keySet(t, assertion.Versions{Current: secret(t, v1), Previous: v1, CurrentCreated: rotatedAt}); strings.Contains(string(ks.JWKSAt(rotatedAt.Add(life), life)), old.Keys().CurrentID()) {
		t.Error("the previous key outlived its current version's creation + the assertions' life")
	}
}

// TestAnEmergencyRotationWithdrawsTheOldKeyAndEndsEverySession: a value
// marked emergency publishes no previous key at all, and derives a new
// seal and handle key: every session sealed before is refused (what it
// costs: each user logs in again), and a session sealed after holds.
func TestAnEmergencyRotationWithdrawsTheOldKeyAndEndsEverySession(t *testing.T) {
	v1 := secret(t, "")
	before := keySet(t, assertion.Versions{Current: v1})
	h, created := tokenHash("a session"), time.UnixMilli(1_800_000_000_000)
	seal := before.Seal(h, user, created)

	emergency, err := assertion.NewEmergencyValue(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	after := keySet(t, assertion.Versions{Current: emergency, Previous: v1})
	if strings.Contains(string(after.JWKS()), before.CurrentID()) || strings.Count(string(after.JWKS()), `"kid"`) != 1 {
		t.Errorf("after an emergency rotation the JWKS is %s; want the new key alone", after.JWKS())
	}
	if after.Sealed(h, user, created, seal) {
		t.Error("a session sealed under the old key is still sealed after an emergency rotation")
	}
	if after.Handle(h) == before.Handle(h) {
		t.Error("the session handle key survived an emergency rotation")
	}
	if !after.Sealed(h, user, created, after.Seal(h, user, created)) {
		t.Error("a session sealed after the emergency rotation is refused")
	}
	// The next ordinary rotation carries the emergency value's seed over.
	next, _ := assertion.NewPendingValue(emergency, "5")
	promoted, _ := assertion.PromotedValue(next, time.Now())
	if ks := keySet(t, assertion.Versions{Current: promoted, Previous: emergency}); !ks.Sealed(h, user, created, after.Seal(h, user, created)) {
		t.Error("an ordinary rotation after an emergency one ended the sessions")
	}
}

// TestASignedAssertionIsReusedOnlyWithinItsWindow states the reuse rule:
// the same claims get the same assertion while it is younger than
// ReuseFor, a fresh one after; another session, user, issuer or session end
// never shares one; each one served has at least lifetime − ReuseFor to
// run, or ends with its session.
func TestASignedAssertionIsReusedOnlyWithinItsWindow(t *testing.T) {
	s := signer(t, secret(t, ""), "")
	jwks := s.JWKS(time.Now())
	t0 := time.Unix(1_800_000_000, 0)
	end := t0.Add(24 * time.Hour)
	h := tokenHash("a session")
	first, err := s.Sign(issuer, user, "local", h, t0, end)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		at     time.Time
		same   bool
		issuer string
		user   string
		hash   []byte
		end    time.Time
	}{
		{"a second later", t0.Add(time.Second), true, issuer, user, h, end},
		{"just inside the window", t0.Add(assertion.ReuseFor - time.Millisecond), true, issuer, user, h, end},
		{"at the window's end", t0.Add(assertion.ReuseFor), false, issuer, user, h, end},
		{"another session", t0.Add(time.Second), false, issuer, user, tokenHash("another"), end},
		{"another user", t0.Add(time.Second), false, issuer, "root@vsphere.local", h, end},
		{"another issuer", t0.Add(time.Second), false, "https://other.example.com", user, h, end},
		{"another session end", t0.Add(time.Second), false, issuer, user, h, end.Add(time.Second)},
		{"a clock gone back", t0.Add(-time.Second), false, issuer, user, h, end},
	} {
		got, err := s.Sign(c.issuer, c.user, "local", c.hash, c.at, c.end)
		if err != nil {
			t.Fatal(err)
		}
		if (got == first) != c.same {
			t.Errorf("%s: reused = %v, want %v", c.name, got == first, c.same)
		}
		if c.issuer != issuer {
			continue // verify expects this test's issuer; the point was it is not shared
		}
		claims, _, err := verify(jwks, got, c.at)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if left := claims.Expiry.Time().Sub(c.at); left < assertion.DefaultLifetime-assertion.ReuseFor {
			t.Errorf("%s: %s left to run, want at least %s", c.name, left, assertion.DefaultLifetime-assertion.ReuseFor)
		}
		if claims.Subject != c.user {
			t.Errorf("%s: sub %q", c.name, claims.Subject)
		}
	}
	// Near its session's end, a reused assertion still ends with it.
	near := t0.Add(2 * time.Minute)
	a, _ := s.Sign(issuer, user, "local", h, t0, near)
	b, _ := s.Sign(issuer, user, "local", h, t0.Add(30*time.Second), near)
	claims, _, err := verify(jwks, b, t0.Add(30*time.Second))
	if err != nil || a != b || claims.Expiry.Time() != near {
		t.Errorf("near its session's end: reused %v, exp %v (want %v), %v", a == b, claims.Expiry.Time(), near, err)
	}
}

// TestSigningAtOnceIsSafe: calls at once (make run's gateway and the vapi
// function serve them) share the signer and its reuse; each assertion
// verifies and states its own session.
func TestSigningAtOnceIsSafe(t *testing.T) {
	s := signer(t, secret(t, ""), "")
	now := time.Now()
	jwks := s.JWKS(now)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			h := tokenHash(fmt.Sprintf("session %d", i%8))
			tok, err := s.Sign(issuer, user, "local", h, now.Add(time.Duration(i)*time.Millisecond), now.Add(time.Hour))
			if err != nil {
				errs <- err
				return
			}
			_, all, err := verify(jwks, tok, now)
			if err == nil && all["sid"] != s.Keys().Handle(h) {
				err = fmt.Errorf("sid %v, want %s", all["sid"], s.Keys().Handle(h))
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkSignAfresh is a signature each call (each past the reuse
// window): what an instance pays once a minute for each session.
func BenchmarkSignAfresh(b *testing.B) {
	v, _ := assertion.NewSecretValue("")
	seeds, _ := assertion.ParseSecrets(v, "")
	ks, _ := assertion.NewKeySet(seeds)
	s, _ := assertion.NewSigner(ks, audience, 0)
	h := tokenHash("x")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(assertion.ReuseFor)
		if _, err := s.Sign(issuer, user, "local", h, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
