package oidcissuer

// The fixed test issuer: what the committed bearer log-in events of events/
// (login-bearer-ok, legacy-login-bearer-ok, jsonrpc-create-oauth-ok) are
// signed by, so that a replay can verify them.
//
// A token carries its issuer's URL (iss), and a verifier fetches the keys
// from that URL, so a committed token can only be verified if the same URL
// serves the same keys at every replay. Hence: a fixed address (FixedURL),
// and keys derived from fixed seeds in this file (no private key file is
// committed). THESE KEYS ARE TEST-ONLY AND PUBLIC: anyone can derive them
// from this file, so nothing deployed may ever trust FixedURL. Nothing can
// by accident: the issuer is an http:// loopback URL, which the template's
// OidcIssuer parameter refuses (https:// only) and which internal/config
// accepts only for loopback, where nothing but a replay on the same
// machine listens. That is also why the tokens may expire far in the
// future (FixedExpiry): a token of a public key proves nothing anywhere.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// FixedAddr is where the fixed test issuer listens, and FixedURL its
// issuer identifier. 127.0.0.1 rather than another address of 127.0.0.0/8:
// macOS puts only 127.0.0.1 on its loopback interface. The port is below
// the ephemeral ranges of Linux (32768-60999) and macOS (49152-65535), so
// no listener on port 0 of another test is given it.
const (
	FixedAddr = "127.0.0.1:24617"
	FixedURL  = "http://" + FixedAddr
)

// FixedExpiry is the exp of the committed events' tokens: 2100-01-01, so
// that a replay's clock stays before it (see the file's comment: the keys
// are public, so a long-lived token of theirs grants nothing).
var FixedExpiry = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// The seeds of the fixed keys. Changing one changes every committed bearer
// event: regenerate them (go generate ./dev/fixtures/).
const (
	fixedSeedRS256 = "cis-session TEST-ONLY issuer key " + KeyRS256 + " v1"
	fixedSeedES256 = "cis-session TEST-ONLY issuer key " + KeyES256 + " v1"
)

// FixedKeys returns the fixed test issuer's keys, by key id (KeyRS256, a
// 2048-bit RSA key; KeyES256, a P-256 key). Derived once per process.
var FixedKeys = sync.OnceValue(func() map[string]crypto.Signer {
	rk, err := deriveRSA(fixedSeedRS256, 2048)
	if err != nil {
		panic("oidcissuer: derive the fixed RSA key: " + err.Error())
	}
	ek, err := deriveP256(fixedSeedES256)
	if err != nil {
		panic("oidcissuer: derive the fixed EC key: " + err.Error())
	}
	return map[string]crypto.Signer{KeyRS256: rk, KeyES256: ek}
})

// FixedToken signs claims with the fixed issuer's key kid. RS256
// (PKCS #1 v1.5) signatures are deterministic; ES256 ones are not (ECDSA
// draws a fresh nonce each time), so an ES256 token differs at each call
// in its signature only.
func FixedToken(kid string, claims map[string]any) string {
	k := FixedKeys()[kid]
	if k == nil {
		panic("oidcissuer: no fixed key " + kid)
	}
	return Sign(k, kid, alg(k), claims)
}

// stream is a deterministic byte stream: SHA-256 of the seed and a counter.
type stream struct {
	seed string
	n    uint64
	buf  []byte
}

func (s *stream) Read(p []byte) (int, error) {
	for i := range p {
		if len(s.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], s.n)
			s.n++
			h := sha256.Sum256(append([]byte(s.seed+"\x00"), c[:]...))
			s.buf = h[:]
		}
		p[i], s.buf = s.buf[0], s.buf[1:]
	}
	return len(p), nil
}

// deriveP256 makes a P-256 key whose scalar is drawn from seed: 32 bytes
// at a time until one is in [1, n-1] (rejection sampling, as FIPS 186-5
// A.2.2 draws it).
func deriveP256(seed string) (*ecdsa.PrivateKey, error) {
	s := &stream{seed: seed}
	n := elliptic.P256().Params().N
	b := make([]byte, 32)
	for {
		if _, err := io.ReadFull(s, b); err != nil {
			return nil, err
		}
		if d := new(big.Int).SetBytes(b); d.Sign() > 0 && d.Cmp(n) < 0 {
			return ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
		}
	}
}

// deriveRSA makes an RSA key (e = 65537) whose primes are the first primes
// at or after numbers drawn from seed, with their two top bits set so that
// the modulus has exactly bits bits. crypto/rsa.GenerateKey cannot do this:
// since Go 1.26 it ignores the reader it is given.
func deriveRSA(seed string, bits int) (*rsa.PrivateKey, error) {
	s := &stream{seed: seed}
	e := big.NewInt(65537)
	one := big.NewInt(1)
	prime := func() (*big.Int, error) {
		b := make([]byte, bits/16)
		if _, err := io.ReadFull(s, b); err != nil {
			return nil, err
		}
		b[0] |= 0xc0
		b[len(b)-1] |= 1
		p := new(big.Int).SetBytes(b)
		for two := big.NewInt(2); ; p.Add(p, two) {
			if p.BitLen() != bits/2 {
				return nil, errors.New("no prime in range")
			}
			if !p.ProbablyPrime(32) {
				continue
			}
			if new(big.Int).GCD(nil, nil, e, new(big.Int).Sub(p, one)).Cmp(one) == 0 {
				return p, nil
			}
		}
	}
	p, err := prime()
	if err != nil {
		return nil, err
	}
	q, err := prime()
	if err != nil {
		return nil, err
	}
	if p.Cmp(q) == 0 {
		return nil, errors.New("equal primes")
	}
	pm, qm := new(big.Int).Sub(p, one), new(big.Int).Sub(q, one)
	phi := new(big.Int).Mul(pm, qm)
	d := new(big.Int).ModInverse(e, phi)
	if d == nil {
		return nil, errors.New("e not invertible")
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: int(e.Int64())},
		D:         d,
		Primes:    []*big.Int{p, q},
	}
	k.Precompute()
	if err := k.Validate(); err != nil {
		return nil, err
	}
	return k, nil
}

// FixedDiscovery is the fixed issuer's discovery document
// (/.well-known/openid-configuration), byte for byte.
func FixedDiscovery() []byte {
	b, err := json.Marshal(map[string]any{
		"issuer":                                FixedURL,
		"jwks_uri":                              FixedURL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{gooidc.RS256, gooidc.ES256},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// FixedJWKS is the fixed issuer's key set (/keys), byte for byte: the
// public halves, RS256 first.
func FixedJWKS() []byte {
	var set jose.JSONWebKeySet
	for _, kid := range []string{KeyRS256, KeyES256} {
		k := FixedKeys()[kid]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Algorithm: alg(k), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// FixedServer is the fixed issuer served on FixedAddr.
type FixedServer struct {
	srv *http.Server // nil when another process serves it
}

// ServeFixed serves the fixed issuer on FixedAddr until Close. Test
// packages run at once may each call it: the address is bound with
// SO_REUSEPORT where the system has it, so each process has its own
// listener on it, the kernel gives each connection to one of them, and
// any serves the same bytes; one that ends takes only its own listener
// away. If the address is held without SO_REUSEPORT, what answers there is
// used if it serves the fixed issuer's discovery document and key set byte
// for byte, and refused otherwise.
func ServeFixed(ctx context.Context) (*FixedServer, error) {
	lc := net.ListenConfig{Control: reusePort}
	ln, err := lc.Listen(ctx, "tcp", FixedAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		if verr := checkFixed(ctx, FixedURL); verr != nil {
			return nil, fmt.Errorf("the fixed test issuer's address %s is taken, and not by the fixed issuer (%v): stop what listens there", FixedAddr, verr)
		}
		return &FixedServer{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("serve the fixed test issuer on %s: %w", FixedAddr, err)
	}
	discovery, jwks := FixedDiscovery(), FixedJWKS()
	mux := http.NewServeMux()
	serve := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		}
	}
	mux.Handle("GET /.well-known/openid-configuration", serve(discovery))
	mux.Handle("GET /keys", serve(jwks))
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	return &FixedServer{srv: s}, nil
}

// checkFixed tells whether base (FixedURL) serves the fixed issuer.
func checkFixed(ctx context.Context, base string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for path, want := range map[string][]byte{"/.well-known/openid-configuration": FixedDiscovery(), "/keys": FixedJWKS()} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			return fmt.Errorf("GET %s: HTTP %d, not the fixed issuer's document", path, resp.StatusCode)
		}
	}
	return nil
}

// Close stops serving (nothing, when another process serves it).
func (f *FixedServer) Close() error {
	if f == nil || f.srv == nil {
		return nil
	}
	return f.srv.Shutdown(context.Background())
}
