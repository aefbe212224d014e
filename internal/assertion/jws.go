package assertion

// The JOSE subset the service writes: ES256 compact JWS (RFC 7515, RFC 7518
// section 3.4) and P-256 public JWKs (RFC 7517) with their RFC 7638
// thumbprints. Hand-written with the standard library because go-jose (and
// pbkdf2, which its PBES2 pulls in) put 405 KB and their initialisers into
// the front door's binary, whose every cold start is held to a floor that
// links neither (docs/BENCHMARKS.md, "The front door's cold start, its last
// packages out"); the subset is some 70 lines. Verifying stays go-jose's,
// in the tests and at the upstream.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// jwk is a P-256 public key as published, its members in the order the
// JWK Set has always had them (go-jose's).
type jwk struct {
	Use string `json:"use"`
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// coordinates are a P-256 public key's x and y, each 32 bytes big-endian
// (RFC 7518 section 6.2.1.2: the full size of a coordinate, leading zeros
// kept), base64url.
func coordinates(pub *ecdsa.PublicKey) (x, y string, err error) {
	b, err := pub.Bytes() // 0x04 || x || y
	if err != nil {
		return "", "", err
	}
	if pub.Curve != elliptic.P256() || len(b) != 65 {
		return "", "", errors.New("not a P-256 public key")
	}
	return base64.RawURLEncoding.EncodeToString(b[1:33]), base64.RawURLEncoding.EncodeToString(b[33:]), nil
}

// publicJWK is the public part of the key of id as a JWK.
func publicJWK(id string, pub *ecdsa.PublicKey) (jwk, error) {
	x, y, err := coordinates(pub)
	return jwk{Use: "sig", Kty: "EC", Kid: id, Crv: "P-256", Alg: "ES256", X: x, Y: y}, err
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a P-256 public key,
// base64url: the hash of its required members in lexical order, without
// whitespace.
func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	x, y, err := coordinates(pub)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return base64.RawURLEncoding.EncodeToString(h[:]), nil
}

// jwsHeader is the protected header of an assertion signed with the key
// of kid, base64url.
func jwsHeader(kid string) (string, error) {
	b, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{"ES256", kid, "JWT"})
	return base64.RawURLEncoding.EncodeToString(b), err
}

// signES256 is the compact JWS of payload under header (base64url): the
// signature ECDSA P-256 over SHA-256 of the signing input, r and s each 32
// bytes big-endian (RFC 7518 section 3.4), not ASN.1.
func signES256(header string, key *ecdsa.PrivateKey, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	b := make([]byte, 0, len(header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(64))
	b = append(b, header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	digest := sha256.Sum256(b)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	b = append(b, '.')
	b = enc.AppendEncode(b, sig[:])
	return string(b), nil
}
