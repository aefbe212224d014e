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
	"crypto"
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
	"time"

	"github.com/go-jose/go-jose/v4"
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
// any) is published until the assertions it signed have expired, Pending
// (if any) is published ahead of the rotation that will make it Current,
// so that every instance publishes a key before any signs with it. Handle
// keys the session handle (sid): it must outlive rotations, or a session's
// sid would change under it; empty, it is derived from Current.
type Seeds struct {
	Current  []byte
	Previous []byte
	Pending  []byte
	Handle   []byte
}

// Key is one signing key and its RFC 7638 thumbprint, its kid.
type Key struct {
	ID      string
	private *ecdsa.PrivateKey
}

// KeySet is the keys assertions are signed and verified with.
type KeySet struct {
	current   Key
	published []Key // current first
	handleKey []byte
	sealKey   []byte
	jwks      []byte
}

// NewKeySet derives the key set of seeds.
func NewKeySet(seeds Seeds) (*KeySet, error) {
	cur, err := deriveKey(seeds.Current)
	if err != nil {
		return nil, fmt.Errorf("current seed: %w", err)
	}
	ks := &KeySet{current: cur, published: []Key{cur}}
	for _, other := range []struct {
		name string
		seed []byte
	}{{"previous", seeds.Previous}, {"pending", seeds.Pending}} {
		if len(other.seed) == 0 {
			continue
		}
		k, err := deriveKey(other.seed)
		if err != nil {
			return nil, fmt.Errorf("%s seed: %w", other.name, err)
		}
		if !slices.ContainsFunc(ks.published, func(p Key) bool { return p.ID == k.ID }) {
			ks.published = append(ks.published, k)
		}
	}
	handleSeed := seeds.Handle
	if len(handleSeed) == 0 {
		handleSeed = seeds.Current
	}
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
	set := jose.JSONWebKeySet{}
	for _, k := range ks.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.private.PublicKey, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
	}
	if ks.jwks, err = json.Marshal(set); err != nil {
		return nil, err
	}
	return ks, nil
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
		jwk := jose.JSONWebKey{Key: &priv.PublicKey}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return Key{}, err
		}
		return Key{ID: base64.RawURLEncoding.EncodeToString(tp), private: priv}, nil
	}
	return Key{}, errors.New("no P-256 key derives from this seed")
}

// CurrentID is the kid of the key that signs.
func (ks *KeySet) CurrentID() string { return ks.current.ID }

// JWKS is the JWK Set of every published key: public parts only.
func (ks *KeySet) JWKS() []byte { return ks.jwks }

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
type Signer struct {
	keys     *KeySet
	signer   jose.Signer
	audience string
	lifetime time.Duration
}

// NewSigner returns a signer of assertions for audience, each valid for
// lifetime (DefaultLifetime when 0) or until its session's end if sooner.
func NewSigner(ks *KeySet, audience string, lifetime time.Duration) (*Signer, error) {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ks.current.private, KeyID: ks.current.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &Signer{keys: ks, signer: sig, audience: audience, lifetime: lifetime}, nil
}

// Keys is the signer's key set.
func (s *Signer) Keys() *KeySet { return s.keys }

// Sign returns the assertion, issued by issuer at now, that user, vouched
// for by idp (Claims.IdP), holds the session of tokenHash, which ends at the
// latest at notAfter.
func (s *Signer) Sign(issuer, user, idp string, tokenHash []byte, now, notAfter time.Time) (string, error) {
	exp := now.Add(s.lifetime)
	if notAfter.Before(exp) {
		exp = notAfter
	}
	payload, err := json.Marshal(Claims{
		Issuer: issuer, Audience: s.audience, Subject: user, IdP: idp, Session: s.keys.Handle(tokenHash),
		IssuedAt: now.Unix(), Expiry: exp.Unix(),
	})
	if err != nil {
		return "", err
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// secretValue is how a seed is kept, as one secret's value (a Secrets
// Manager version, or make run's key file): JSON with the seed, and the
// handle seed that a rotation carries over unchanged (absent: the seed
// itself, as on the first version).
type secretValue struct {
	Seed       string `json:"seed"`
	HandleSeed string `json:"sid_seed,omitempty"`
}

// ParseSecrets reads the current secret value and the previous one ("" for
// none) into Seeds. The handle seed is the current value's sid_seed, else
// the previous value's, else the previous seed, else the current seed: so
// a rotation that forgets to carry sid_seed over still keeps each session's
// sid across one rotation.
func ParseSecrets(current, previous string) (Seeds, error) {
	return ParseSecretVersions(current, previous, "")
}

// ParseSecretVersions is ParseSecrets with a pending value too ("" for
// none): a seed published, not yet signing.
func ParseSecretVersions(current, previous, pending string) (Seeds, error) {
	var cur, prev secretValue
	if err := json.Unmarshal([]byte(current), &cur); err != nil || cur.Seed == "" {
		return Seeds{}, errors.New(`the current secret value is not {"seed": "..."}`)
	}
	seeds := Seeds{Current: []byte(cur.Seed), Handle: []byte(cur.HandleSeed)}
	if previous != "" {
		if err := json.Unmarshal([]byte(previous), &prev); err != nil || prev.Seed == "" {
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
	if pending != "" {
		var p secretValue
		if err := json.Unmarshal([]byte(pending), &p); err != nil || p.Seed == "" {
			return Seeds{}, errors.New(`the pending secret value is not {"seed": "..."}`)
		}
		seeds.Pending = []byte(p.Seed)
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
