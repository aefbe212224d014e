// Package assertion is the front door's signed statement of who is
// calling, for the upstream: a JWT (compact JWS, ES256, with a kid) in the
// vmware-cis-assertion header of every call forwarded, verifiable with the
// public keys the service publishes as a JWK Set (RFC 7517) at
// /.well-known/jwks.json. See docs/UPSTREAM.md.
//
// Keys are derived from secret seeds (random bytes the operator's secret
// store keeps, never the key itself): the current seed's key signs; the
// previous seed's key is still published, so that an assertion signed
// before a rotation verifies until it expires. The package knows nothing
// of where seeds are kept.
package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Header is the request header that carries an assertion to the upstream.
const Header = "vmware-cis-assertion"

// DefaultLifetime bounds an assertion's life: long enough for the upstream
// to verify a call that reached it, short enough that one copied out of a
// log is soon worthless. A session's absolute expiry bounds it sooner.
const DefaultLifetime = 5 * time.Minute

// MinSeedLen is the fewest bytes of a seed: 256 bits.
const MinSeedLen = 32

// Seeds are the secret material of a key set: Current signs, Previous (if
// any) is published until the assertions it signed have expired (RotatedAt
// plus the longest assertion life, see Signer.JWKS), Pending (if any) is
// published ahead of the rotation that will make it Current, so that every
// instance publishes a key before any signs with it. Handle keys the
// session handle (sid) and the seal: it must outlive rotations, or a
// session's sid and seal would change under it; empty, it is derived from
// Current.
type Seeds struct {
	Current  []byte
	Previous []byte
	Pending  []byte
	Handle   []byte
	// RotatedAt is when Current replaced Previous (the secret value's
	// rotated_at, else its version's creation); zero: unknown, and
	// Previous is published for as long as it is held.
	RotatedAt time.Time
}

// Key is one signing key and its RFC 7638 thumbprint, its kid.
type Key struct {
	ID      string
	private *ecdsa.PrivateKey
}

// KeySet is the keys assertions are signed and verified with. Only the
// seal's and the handle's keys are derived at once (the first call checks
// a seal); the P-256 keys and the JWK Set are derived when first used, so
// that an init does not pay for a key it may never use (the authorizer
// never publishes, and signs only once a call is let through).
type KeySet struct {
	seeds     Seeds
	handleKey []byte
	sealKey   []byte

	keysOnce  sync.Once
	current   Key
	previous  *Key  // nil: none, or the same key as current
	published []Key // current first; previous not among them
	keysErr   error

	jwksOnce          sync.Once
	jwks, jwksWithout []byte // with the previous key, and without it
	jwksErr           error
}

// NewKeySet derives the key set of seeds. Every seed is checked now; the
// P-256 keys are derived at their first use.
func NewKeySet(seeds Seeds) (*KeySet, error) {
	for _, s := range []struct {
		name string
		seed []byte
		must bool
	}{{"current", seeds.Current, true}, {"previous", seeds.Previous, false}, {"pending", seeds.Pending, false}} {
		if (s.must || len(s.seed) > 0) && len(s.seed) < MinSeedLen {
			return nil, fmt.Errorf("%s seed: a seed needs at least %d bytes, this one has %d", s.name, MinSeedLen, len(s.seed))
		}
	}
	ks := &KeySet{seeds: seeds}
	handleSeed := seeds.Handle
	if len(handleSeed) == 0 {
		handleSeed = seeds.Current
	}
	var err error
	ks.handleKey, err = hkdf.Key(sha256.New, handleSeed, nil, "cis-session assertion sid v1", 32)
	if err != nil {
		return nil, err
	}
	// The seal's key comes from the same stable seed under a label of its
	// own: a session sealed before a rotation stays sealed after it.
	ks.sealKey, err = hkdf.Key(sha256.New, handleSeed, nil, "cis-session session seal v1", 32)
	if err != nil {
		return nil, err
	}
	return ks, nil
}

// keys derives the P-256 keys, once.
func (ks *KeySet) keys() error {
	ks.keysOnce.Do(func() {
		cur, err := deriveKey(ks.seeds.Current)
		if err != nil {
			ks.keysErr = fmt.Errorf("current seed: %w", err)
			return
		}
		ks.current, ks.published = cur, []Key{cur}
		if len(ks.seeds.Previous) > 0 {
			k, err := deriveKey(ks.seeds.Previous)
			if err != nil {
				ks.keysErr = fmt.Errorf("previous seed: %w", err)
				return
			}
			if k.ID != cur.ID {
				ks.previous = &k
			}
		}
		if len(ks.seeds.Pending) > 0 {
			k, err := deriveKey(ks.seeds.Pending)
			if err != nil {
				ks.keysErr = fmt.Errorf("pending seed: %w", err)
				return
			}
			if k.ID != cur.ID && (ks.previous == nil || k.ID != ks.previous.ID) {
				ks.published = append(ks.published, k)
			}
		}
	})
	return ks.keysErr
}

// jwksSets marshals the two JWK Sets, once.
func (ks *KeySet) jwksSets() error {
	ks.jwksOnce.Do(func() {
		if ks.jwksErr = ks.keys(); ks.jwksErr != nil {
			return
		}
		set := func(keys []Key) []byte {
			set := jwkSet{Keys: []jwk{}}
			for _, k := range keys {
				j, err := publicJWK(k.ID, &k.private.PublicKey)
				if err != nil && ks.jwksErr == nil {
					ks.jwksErr = err
				}
				set.Keys = append(set.Keys, j)
			}
			b, err := json.Marshal(set)
			if err != nil && ks.jwksErr == nil {
				ks.jwksErr = err
			}
			return b
		}
		ks.jwksWithout = set(ks.published)
		ks.jwks = ks.jwksWithout
		if ks.previous != nil {
			// The previous key right after the current one, as before.
			ks.jwks = set(slices.Insert(slices.Clone(ks.published), 1, *ks.previous))
		}
	})
	return ks.jwksErr
}

// deriveKey is the P-256 key of a seed: HKDF-SHA256 (RFC 5869) expanded to
// a scalar, the next counter tried in the rare case (< 2^-32) that one is
// not below the group order.
func deriveKey(seed []byte) (Key, error) {
	if len(seed) < MinSeedLen {
		return Key{}, fmt.Errorf("a seed needs at least %d bytes, this one has %d", MinSeedLen, len(seed))
	}
	for i := range 8 {
		d, err := hkdf.Key(sha256.New, seed, nil, fmt.Sprintf("cis-session assertion ES256 v1 %d", i), 32)
		if err != nil {
			return Key{}, err
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			continue
		}
		id, err := thumbprint(&priv.PublicKey)
		if err != nil {
			return Key{}, err
		}
		return Key{ID: id, private: priv}, nil
	}
	return Key{}, errors.New("no P-256 key derives from this seed")
}

// CurrentID is the kid of the key that signs ("" if it cannot derive,
// which NewKeySet's checks make all but impossible).
func (ks *KeySet) CurrentID() string {
	if ks.keys() != nil {
		return ""
	}
	return ks.current.ID
}

// JWKS is the JWK Set of every key held: public parts only. What an
// instance serves is Signer.JWKS, which drops the previous key once the
// assertions it signed have expired.
func (ks *KeySet) JWKS() []byte {
	if ks.jwksSets() != nil {
		return []byte(`{"keys":[]}`)
	}
	return ks.jwks
}

// JWKSAt is the JWK Set published at now by an instance whose assertions
// live at most maxLife: the previous key only until RotatedAt + maxLife
// (always, when RotatedAt is unknown).
func (ks *KeySet) JWKSAt(now time.Time, maxLife time.Duration) []byte {
	if ks.jwksSets() != nil {
		return []byte(`{"keys":[]}`)
	}
	if r := ks.seeds.RotatedAt; !r.IsZero() && !now.Before(r.Add(maxLife)) {
		return ks.jwksWithout
	}
	return ks.jwks
}

// Handle is the session handle (sid) of a session's token hash: a keyed
// HMAC, stable for the session's life, from which neither the session id
// nor its hash can be recovered.
func (ks *KeySet) Handle(tokenHash []byte) string {
	m := hmac.New(sha256.New, ks.handleKey)
	m.Write(tokenHash)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// SealLen is the length of a seal: 128 bits of HMAC-SHA256, unpadded
// base64url (22 characters).
const SealLen = 22

// Seal is log-in's mark on a session (session.Sealer): a keyed HMAC-SHA256,
// truncated to 128 bits, of what makes the session — its token hash, its
// user and its creation time (which fixes its absolute expiry). Only a
// holder of the key, the functions that log in and the front door, can make
// one; an item written straight into the table without it, or with
// another session's, is no session. The key derives from the handle seed,
// which rotations carry over (docs/UPSTREAM.md, "A touch cannot create").
func (ks *KeySet) Seal(tokenHash []byte, user string, created time.Time) string {
	return base64.RawURLEncoding.EncodeToString(ks.seal(tokenHash, user, created))
}

// Sealed reports whether seal is the Seal of the session: compared in
// constant time.
func (ks *KeySet) Sealed(tokenHash []byte, user string, created time.Time, seal string) bool {
	got, err := base64.RawURLEncoding.DecodeString(seal)
	return err == nil && len(seal) == SealLen && hmac.Equal(got, ks.seal(tokenHash, user, created))
}

// seal is the MAC over an unambiguous encoding of the fields: each a
// length-prefixed string, the time in Unix milliseconds (what is stored).
func (ks *KeySet) seal(tokenHash []byte, user string, created time.Time) []byte {
	m := hmac.New(sha256.New, ks.sealKey)
	var n [8]byte
	for _, field := range [][]byte{tokenHash, []byte(user)} {
		binary.BigEndian.PutUint64(n[:], uint64(len(field)))
		m.Write(n[:])
		m.Write(field)
	}
	binary.BigEndian.PutUint64(n[:], uint64(created.UnixMilli()))
	m.Write(n[:])
	return m.Sum(nil)[:16]
}

// Claims is what an assertion states.
type Claims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Subject  string `json:"sub"`
	// IdP is who vouched for the subject: "local" (the users table) or a
	// federated identity provider's issuer URL. A local and a federated
	// user of the same name are two identities (docs/UPSTREAM.md).
	IdP      string `json:"idp"`
	Session  string `json:"sid"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
}

// Signer signs assertions with a key set's current key.
//
// It reuses what it signed: an assertion for the same claims (issuer,
// audience, subject, session handle, and the session's end) is served
// again while it is younger than the reuse window, ReuseFor or a fifth of
// the lifetime if shorter. So each assertion an upstream receives was
// bounded as a fresh one is when it was signed (exp = min(iat + lifetime,
// the session's end)) and has at least lifetime − the window to run, or
// runs to its session's end. The call itself is checked and counted as
// before: only the signature is spared (Cloudflare Access, likewise, signs
// once per session).
type Signer struct {
	keys     *KeySet
	audience string
	lifetime time.Duration
	reuse    time.Duration

	once   sync.Once
	header string // the protected header, base64url: its key's kid
	key    *ecdsa.PrivateKey
	err    error

	mu     sync.Mutex
	signed map[signedKey]signedAssertion
}

// ReuseFor is the longest a signed assertion is served again.
const ReuseFor = time.Minute

// maxReused bounds the assertions kept for reuse: past it, all are dropped
// (one instance serves few sessions at a time; a flood of sessions costs
// signatures, never memory).
const maxReused = 4096

// signedKey is what an assertion states but its times, and the session's
// end: everything a reused assertion must share with a fresh one.
type signedKey struct {
	claims   Claims // IssuedAt and Expiry zero
	notAfter int64
}

type signedAssertion struct {
	token    string
	issuedAt time.Time
}

// NewSigner returns a signer of assertions for audience, each valid for
// lifetime (DefaultLifetime when 0) or until its session's end if sooner.
func NewSigner(ks *KeySet, audience string, lifetime time.Duration) (*Signer, error) {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	return &Signer{keys: ks, audience: audience, lifetime: lifetime, reuse: min(ReuseFor, lifetime/5),
		signed: map[signedKey]signedAssertion{}}, nil
}

// Keys is the signer's key set.
func (s *Signer) Keys() *KeySet { return s.keys }

// Lifetime is the longest life of an assertion the signer signs.
func (s *Signer) Lifetime() time.Duration { return s.lifetime }

// JWKS is the JWK Set published at now: the previous key is dropped once
// every assertion it may have signed has expired (docs/UPSTREAM.md,
// Rotation).
func (s *Signer) JWKS(now time.Time) []byte { return s.keys.JWKSAt(now, s.lifetime) }

// Sign returns the assertion, issued by issuer at now, that user, vouched
// for by idp (Claims.IdP), holds the session of tokenHash, which ends at the
// latest at notAfter: one signed within the reuse window for the same
// claims, or a fresh one.
func (s *Signer) Sign(issuer, user, idp string, tokenHash []byte, now, notAfter time.Time) (string, error) {
	key := signedKey{claims: Claims{Issuer: issuer, Audience: s.audience, Subject: user, IdP: idp, Session: s.keys.Handle(tokenHash)}, notAfter: notAfter.UnixMilli()}
	s.mu.Lock()
	prev, ok := s.signed[key]
	s.mu.Unlock()
	if age := now.Sub(prev.issuedAt); ok && age >= 0 && age < s.reuse {
		return prev.token, nil
	}
	tok, err := s.sign(key.claims, now, notAfter)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if len(s.signed) >= maxReused {
		clear(s.signed)
	}
	s.signed[key] = signedAssertion{token: tok, issuedAt: now}
	s.mu.Unlock()
	return tok, nil
}

// sign signs claims afresh, issued at now.
func (s *Signer) sign(c Claims, now, notAfter time.Time) (string, error) {
	s.once.Do(func() {
		if s.err = s.keys.keys(); s.err != nil {
			return
		}
		cur := s.keys.current
		s.header, s.err = jwsHeader(cur.ID)
		s.key = cur.private
	})
	if s.err != nil {
		return "", s.err
	}
	exp := now.Add(s.lifetime)
	if notAfter.Before(exp) {
		exp = notAfter
	}
	c.IssuedAt, c.Expiry = now.Unix(), exp.Unix()
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return signES256(s.header, s.key, payload)
}

// secretValue is how a seed is kept, as one secret's value (a Secrets
// Manager version, or make run's key file): JSON with the seed, and the
// handle seed that a rotation carries over unchanged (absent: the seed
// itself, as on the first version). A rotation's values say more
// (docs/UPSTREAM.md, Rotation): a pending value the epoch from which it is
// published, a promoted value when it was promoted, and an emergency value
// that the previous key is withdrawn at once and the seal's key replaced.
type secretValue struct {
	Seed       string `json:"seed"`
	HandleSeed string `json:"sid_seed,omitempty"`
	// Epoch, on a pending value: published only by instances deployed
	// with this AssertionKeyEpoch (ASSERTION_KEY_EPOCH).
	Epoch string `json:"epoch,omitempty"`
	// RotatedAt, on a current value: when it replaced the previous one
	// (Unix seconds).
	RotatedAt int64 `json:"rotated_at,omitempty"`
	// Emergency, on a current value: the previous key is not published,
	// and nothing is carried over from it (a new sid_seed ends every
	// session sealed before).
	Emergency bool `json:"emergency,omitempty"`
}

// ParseSecrets reads the current secret value and the previous one ("" for
// none) into Seeds. The handle seed is the current value's sid_seed, else
// the previous value's, else the previous seed, else the current seed: so
// a rotation that forgets to carry sid_seed over still keeps each session's
// sid across one rotation.
func ParseSecrets(current, previous string) (Seeds, error) {
	return ParseSecretVersions(Versions{Current: current, Previous: previous})
}

// Versions are the values of a secret's three stages ("" for none), what
// the reader knows of them, and the instance's own epoch.
type Versions struct {
	Current, Previous, Pending string
	// CurrentCreated is when the current version was created, if known:
	// its rotated_at when the value carries none.
	CurrentCreated time.Time
	// Epoch is the instance's AssertionKeyEpoch: a pending value is
	// published only when its epoch is this one.
	Epoch string
}

// ParseSecretVersions reads a secret's versions into Seeds: the pending
// seed only when the instance's epoch is the one the pending value names
// (a value staged but not yet deployed is nobody's to publish), the
// previous one not at all after an emergency rotation.
func ParseSecretVersions(v Versions) (Seeds, error) {
	var cur, prev secretValue
	if err := json.Unmarshal([]byte(v.Current), &cur); err != nil || cur.Seed == "" {
		return Seeds{}, errors.New(`the current secret value is not {"seed": "..."}`)
	}
	seeds := Seeds{Current: []byte(cur.Seed), Handle: []byte(cur.HandleSeed), RotatedAt: v.CurrentCreated}
	if cur.RotatedAt > 0 {
		seeds.RotatedAt = time.Unix(cur.RotatedAt, 0)
	}
	if v.Previous != "" && !cur.Emergency {
		if err := json.Unmarshal([]byte(v.Previous), &prev); err != nil || prev.Seed == "" {
			return Seeds{}, errors.New(`the previous secret value is not {"seed": "..."}`)
		}
		seeds.Previous = []byte(prev.Seed)
		if len(seeds.Handle) == 0 {
			seeds.Handle = []byte(prev.HandleSeed)
		}
		if len(seeds.Handle) == 0 {
			seeds.Handle = seeds.Previous
		}
	}
	if v.Pending != "" {
		var p secretValue
		if err := json.Unmarshal([]byte(v.Pending), &p); err != nil || p.Seed == "" {
			return Seeds{}, errors.New(`the pending secret value is not {"seed": "..."}`)
		}
		if p.Epoch != "" && p.Epoch == v.Epoch {
			seeds.Pending = []byte(p.Seed)
		}
	}
	return seeds, nil
}

// NewSecretValue returns a fresh secret value: a random seed, and the
// handle seed carried over from the value it replaces ("" for none).
func NewSecretValue(replaces string) (string, error) {
	seed := make([]byte, 48)
	if _, err := rand.Read(seed); err != nil {
		return "", err
	}
	v := secretValue{Seed: base64.RawURLEncoding.EncodeToString(seed)}
	if replaces != "" {
		var old secretValue
		if err := json.Unmarshal([]byte(replaces), &old); err != nil || old.Seed == "" {
			return "", errors.New(`the value replaced is not {"seed": "..."}`)
		}
		v.HandleSeed = old.HandleSeed
		if v.HandleSeed == "" {
			v.HandleSeed = old.Seed
		}
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// LoadOrCreateFile reads seeds from a key file holding one secret value
// (make run's), writing a fresh one, readable by its owner only, when
// there is none: a key of make run's own.
func LoadOrCreateFile(path string) (Seeds, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		v, err := NewSecretValue("")
		if err != nil {
			return Seeds{}, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return Seeds{}, err
		}
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			return Seeds{}, err
		}
		b = []byte(v)
	} else if err != nil {
		return Seeds{}, err
	}
	return ParseSecrets(string(b), "")
}

// NewPendingValue is NewSecretValue for a value staged AWSPENDING: it is
// published only by instances deployed with AssertionKeyEpoch epoch.
func NewPendingValue(replaces, epoch string) (string, error) {
	v, err := NewSecretValue(replaces)
	if err != nil {
		return "", err
	}
	return withFields(v, func(sv *secretValue) { sv.Epoch = epoch })
}

// PromotedValue is the pending value made current at rotatedAt: its seeds,
// the time from which the key it replaces no longer signs, and no epoch.
func PromotedValue(pending string, rotatedAt time.Time) (string, error) {
	return withFields(pending, func(sv *secretValue) { sv.Epoch, sv.RotatedAt = "", rotatedAt.Unix() })
}

// NewEmergencyValue is a fresh value that replaces the current one at once
// (rotatedAt): the previous key is not published, and the seal's and the
// handle's keys are new, so every session sealed before it ends.
func NewEmergencyValue(rotatedAt time.Time) (string, error) {
	v, err := NewSecretValue("")
	if err != nil {
		return "", err
	}
	return withFields(v, func(sv *secretValue) { sv.Emergency, sv.RotatedAt = true, rotatedAt.Unix() })
}

func withFields(value string, set func(*secretValue)) (string, error) {
	var sv secretValue
	if err := json.Unmarshal([]byte(value), &sv); err != nil || sv.Seed == "" {
		return "", errors.New(`the value is not {"seed": "..."}`)
	}
	set(&sv)
	b, err := json.Marshal(sv)
	return string(b), err
}
