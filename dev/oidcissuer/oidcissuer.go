// Package oidcissuer is an OpenID Connect issuer for tests and `make run`:
// go-oidc's oidctest server (discovery document and JWKS) on loopback over
// HTTP, with an RS256 and an ES256 key, a count of the requests it serves,
// and a way to mint access tokens; and the fixed test issuer (fixed.go)
// that signed the committed bearer events. It never ships.
package oidcissuer

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/cis-session/cis-session/internal/session"
)

// The key ids of the issuer's two keys.
const (
	KeyRS256 = "rs256-1"
	KeyES256 = "es256-1"
)

// Audience is the aud the tokens it mints carry unless told otherwise.
const Audience = "cis-session"

// Issuer is a running issuer.
type Issuer struct {
	URL string // the issuer: http://127.0.0.1:port

	srv *http.Server
	ln  net.Listener

	mu   sync.Mutex
	keys map[string]crypto.Signer // by key id
	oidc *oidctest.Server

	discovery, jwks atomic.Int64
}

// Start serves an issuer on addr (a loopback address; port 0 for any).
func Start(addr string) (*Issuer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("oidcissuer: %s is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	i := &Issuer{URL: "http://" + ln.Addr().String(), ln: ln, keys: map[string]crypto.Signer{}}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	i.keys[KeyRS256], i.keys[KeyES256] = rk, ek
	i.oidc = &oidctest.Server{Algorithms: []string{gooidc.RS256, gooidc.ES256}}
	i.oidc.SetIssuer(i.URL)
	i.publish()
	i.srv = &http.Server{Handler: i, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = i.srv.Serve(ln) }()
	return i, nil
}

// publish puts every key in the JWKS. Callers hold mu, or own i alone.
func (i *Issuer) publish() {
	var pubs []oidctest.PublicKey
	for kid, k := range i.keys {
		pubs = append(pubs, oidctest.PublicKey{PublicKey: k.Public(), KeyID: kid, Algorithm: alg(k)})
	}
	i.oidc.PublicKeys = pubs
}

func alg(k crypto.Signer) string {
	if _, ok := k.(*ecdsa.PrivateKey); ok {
		return gooidc.ES256
	}
	return gooidc.RS256
}

// Close stops serving.
func (i *Issuer) Close() error { return i.srv.Shutdown(context.Background()) }

// Requests returns how many discovery documents and key sets it has served.
func (i *Issuer) Requests() (discovery, jwks int64) { return i.discovery.Load(), i.jwks.Load() }

// Rotate adds a new RSA key under kid, published at once, and returns it.
func (i *Issuer) Rotate(kid string) (crypto.Signer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[kid] = k
	i.publish()
	return k, nil
}

// Key returns the private key under kid.
func (i *Issuer) Key(kid string) crypto.Signer {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[kid]
}

// Claims are an access token's claims for user, valid for an hour from
// now: iss, aud, sub, iat, nbf, exp, preferred_username, groups.
func (i *Issuer) Claims(user string, groups ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": i.URL, "aud": Audience, "sub": user,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"preferred_username": user, "groups": append([]string{}, groups...),
	}
}

// LogoutClaims are a back-channel logout token's claims (OpenID Connect
// Back-Channel Logout 1.0, section 2.4) for sub and sid ("" leaves either
// out), valid for two minutes from now: iss, aud, iat, exp, a fresh jti,
// and the events member. Sign them with Token, as the provider does.
func (i *Issuer) LogoutClaims(sub, sid string) map[string]any {
	now := time.Now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := map[string]any{
		"iss": i.URL, "aud": Audience, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti":    b64(jti[:]),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// Token signs claims with the issuer's key kid.
func (i *Issuer) Token(kid string, claims map[string]any) string {
	k := i.Key(kid)
	if k == nil {
		panic("oidcissuer: no key " + kid)
	}
	return Sign(k, kid, alg(k), claims)
}

// Sign signs claims with any key under any kid and algorithm go-jose
// signs with (an HMAC's key is its secret): what forged tokens are made of.
func Sign(key any, kid, alg string, claims map[string]any) string {
	b, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return oidctest.SignIDToken(key, kid, alg, string(b))
}

// Unsigned is a token with "alg": "none", which go-jose will not make.
func Unsigned(kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "kid": kid, "typ": "JWT"})
	b, _ := json.Marshal(claims)
	return b64(h) + "." + b64(b) + "."
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// PublicPEM is the public key under kid as PEM: the secret an
// HMAC-confusion attack signs with (alg HS256, "verified" with the key the
// verifier holds).
func (i *Issuer) PublicPEM(kid string) []byte {
	der, err := x509.MarshalPKIXPublicKey(i.Key(kid).Public())
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ServeHTTP serves discovery (/.well-known/openid-configuration), the key
// set (/keys), GET /token?user=NAME[&group=G...][&alg=ES256][&sid=SID]: a
// fresh access token for NAME (sub NAME; sid SID, the provider session),
// for trying federated log-in by hand, and GET
// /logout-token?sub=SUB[&sid=SID]: a fresh back-channel logout token, as
// the provider posts it when that session or subject ends. For tests of
// the logout's refusals, /logout-token also takes aud=, exp= (seconds from
// now, negative for past), nonce= and events=0 (no events member).
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		i.discovery.Add(1)
	case "/keys":
		i.jwks.Add(1)
	case "/token":
		user := r.URL.Query().Get("user")
		if user == "" || r.Method != http.MethodGet {
			http.Error(w, "GET /token?user=NAME@DOMAIN[&group=GROUP][&alg=ES256]", http.StatusBadRequest)
			return
		}
		kid := KeyRS256
		if strings.EqualFold(r.URL.Query().Get("alg"), gooidc.ES256) {
			kid = KeyES256
		}
		var groups []string
		for _, g := range r.URL.Query()["group"] {
			if g != "" {
				groups = append(groups, g)
			}
		}
		c := i.Claims(user, groups...)
		c["aud"] = cmp.Or(r.URL.Query().Get("aud"), Audience)
		if sid := r.URL.Query().Get("sid"); sid != "" {
			c["sid"] = sid
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, i.Token(kid, c))
		return
	case "/logout-token":
		q := r.URL.Query()
		if q.Get("sub") == "" && q.Get("sid") == "" || r.Method != http.MethodGet {
			http.Error(w, "GET /logout-token?sub=SUB[&sid=SID][&aud=AUD][&exp=SECONDS][&nonce=N][&events=0]", http.StatusBadRequest)
			return
		}
		c := i.LogoutClaims(q.Get("sub"), q.Get("sid"))
		if aud := q.Get("aud"); aud != "" {
			c["aud"] = aud
		}
		if exp, err := strconv.Atoi(q.Get("exp")); err == nil {
			c["exp"] = time.Now().Unix() + int64(exp)
		}
		if nonce := q.Get("nonce"); nonce != "" {
			c["nonce"] = nonce
		}
		if q.Get("events") == "0" {
			delete(c, "events")
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, i.Token(KeyRS256, c))
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.oidc.ServeHTTP(w, r)
}

// Forgery is a token that must be refused, and why.
type Forgery struct {
	Name  string
	Token string
	Cause session.Cause
}

// Forgeries are every token an attacker (or an unfit user) might present
// for user, each refused for its Cause by a verifier that trusts i for
// Audience and requires group: expired, wrong audience or issuer, alg
// none, HMAC keyed with the public key, a foreign key under a known kid,
// not yet valid, an unknown kid, no group, no user claim, and more.
func (i *Issuer) Forgeries(user, group string, skew time.Duration) []Forgery {
	with := func(k string, v any) map[string]any {
		c := i.Claims(user, group)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	foreignRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	foreignEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	rs, es := KeyRS256, KeyES256
	good := i.Token(es, with("x", 1))
	other := i.Token(es, with("preferred_username", "root@"+strings.SplitN(user+"@", "@", 3)[1]))
	pa, pb := strings.Split(good, "."), strings.Split(other, ".")
	return []Forgery{
		{"expired", i.Token(rs, with("exp", now.Add(-2*skew).Unix())), session.CauseExpired},
		{"no exp", i.Token(rs, with("exp", nil)), session.CauseExpired},
		{"wrong audience", i.Token(rs, with("aud", "another-app")), session.CauseWrongAudience},
		{"no audience", i.Token(rs, with("aud", nil)), session.CauseWrongAudience},
		{"wrong issuer", i.Token(rs, with("iss", "http://127.0.0.1:1")), session.CauseWrongIssuer},
		{"issuer with a trailing slash", i.Token(rs, with("iss", i.URL+"/")), session.CauseWrongIssuer},
		{"alg none", Unsigned(rs, with("x", 1)), session.CauseBadToken},
		{"HMAC keyed with the RSA public key", Sign(i.PublicPEM(rs), rs, "HS256", with("x", 1)), session.CauseBadToken},
		{"HMAC keyed with the EC public key", Sign(i.PublicPEM(es), es, "HS256", with("x", 1)), session.CauseBadToken},
		{"foreign RSA key under a known kid", Sign(foreignRSA, rs, "RS256", with("x", 1)), session.CauseBadToken},
		{"foreign EC key under a known kid", Sign(foreignEC, es, "ES256", with("x", 1)), session.CauseBadToken},
		{"RS384", Sign(i.Key(rs), rs, "RS384", with("x", 1)), session.CauseBadToken},
		{"claims swapped under a good signature", pa[0] + "." + pb[1] + "." + pa[2], session.CauseBadToken},
		{"not a JWT", "eyJhbGciOiJSUzI1NiJ9.e30", session.CauseBadToken},
		{"not yet valid (nbf)", i.Token(rs, with("nbf", now.Add(2*skew).Unix())), session.CauseNotYetValid},
		{"issued in the future (iat)", i.Token(rs, with("iat", now.Add(2*skew).Unix())), session.CauseNotYetValid},
		{"unknown kid", Sign(foreignRSA, "made-up", "RS256", with("x", 1)), session.CauseUnknownKey},
		{"missing group", i.Token(rs, with("groups", []string{"staff"})), session.CauseNotInGroup},
		{"no groups claim", i.Token(rs, with("groups", nil)), session.CauseNotInGroup},
		{"missing user claim", i.Token(rs, with("preferred_username", nil)), session.CauseNoUserClaim},
		{"user claim not a string", i.Token(rs, with("preferred_username", []string{user})), session.CauseNoUserClaim},
	}
}
