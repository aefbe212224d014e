// Package oidc checks OAuth 2.0 access tokens issued as JWTs by an OpenID
// Connect identity provider, with github.com/coreos/go-oidc (go-jose
// underneath): it implements session.Federation.
//
// The provider is asked as little as possible: its discovery document and
// key set are fetched at the first bearer log-in of a process (not at init,
// so that an identity provider that is down fails no function's init and
// no password log-in or get), then kept for the life of the process, warm
// invocations included. The key set is fetched again only for a key id it
// does not hold (a rotation), at most once a RefreshInterval, or once it
// is KeyMaxAge old. A token under a key id the set lacks is unavailable,
// not refused, while the provider cannot be reached (keySet.lookup).
// Nothing but a log-in ever calls Verify.
//
// It must never import AWS, DynamoDB or HTTP-surface packages.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/session"
)

// Algorithms are the only signature algorithms accepted: never "none",
// never an HMAC (whose secret an attacker could take from the public key).
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Defaults of Config's tunables.
const (
	// DefaultSkew is the clock skew allowed on exp, nbf and iat.
	DefaultSkew = time.Minute
	// DefaultRefreshInterval bounds how often a token under an unknown key
	// id makes the key set be fetched again: a stream of made-up key ids
	// costs the identity provider one request a minute, not one each.
	DefaultRefreshInterval = time.Minute
	// DefaultRetryAfter is how long after a failed fetch from the provider
	// log-ins are answered "unavailable" without asking it again.
	DefaultRetryAfter = 5 * time.Second
	// DefaultKeyMaxAge is how long a fetched key set is trusted without a
	// rotation: a key the provider withdraws stops being accepted by warm
	// processes within a day.
	DefaultKeyMaxAge = 24 * time.Hour
	// DefaultTimeout bounds one request to the provider.
	DefaultTimeout = 5 * time.Second
	// DefaultBudget bounds all a log-in may spend asking the provider
	// (discovery and keys together): well inside the create function's
	// 5-second timeout, so that a provider that hangs is a 503, not a
	// timed-out function.
	DefaultBudget = 2 * time.Second
	// AnswerReserve is the time kept, before the invocation's deadline,
	// to answer the 503 when the provider has not answered.
	AnswerReserve = time.Second
)

// Config is what a deployment says of its identity provider.
type Config struct {
	Issuer        string // the exact iss, and where discovery starts
	Audience      string // the aud a token must carry
	ClientID      string // the aud a back-channel logout token must carry; Audience when ""
	UserClaim     string // the claim naming the user
	GroupsClaim   string // the claim listing the user's groups
	RequiredGroup string // a group the user must be in; "" for none

	Skew            time.Duration // DefaultSkew when zero
	RefreshInterval time.Duration // DefaultRefreshInterval when zero
	RetryAfter      time.Duration // DefaultRetryAfter when zero
	KeyMaxAge       time.Duration // DefaultKeyMaxAge when zero
	// Budget bounds the provider's part of one log-in (DefaultBudget when
	// zero), and never reaches past the caller's deadline less
	// AnswerReserve: derived from the function's timeout.
	Budget time.Duration
	Client *http.Client     // a client with DefaultTimeout when nil
	Now    func() time.Time // time.Now when nil
}

// Verifier checks access tokens. It is safe for concurrent use; make one
// per process and keep it.
type Verifier struct {
	cfg Config

	mu       sync.Mutex
	verifier *gooidc.IDTokenVerifier // nil until discovery has succeeded
	logout   *gooidc.IDTokenVerifier // the same, for logout tokens (aud ClientID)
	keys     *keySet
	failed   time.Time // when discovery last failed
}

// New returns a verifier for cfg. It makes no request: the provider is
// first asked at the first Verify.
func New(cfg Config) *Verifier {
	if cfg.Skew == 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.KeyMaxAge == 0 {
		cfg.KeyMaxAge = DefaultKeyMaxAge
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cfg.Audience
	}
	return &Verifier{cfg: cfg}
}

// Verify returns who a valid token names: its user claim, iss, sub and
// sid. A token that fails a check is a *session.TokenError; a provider that
// cannot be reached is session.EUNAVAILABLE. The token never appears in an
// error.
func (v *Verifier) Verify(ctx context.Context, token string) (session.Identity, error) {
	payload, err := v.verified(ctx, token, false)
	if err != nil {
		return session.Identity{}, err
	}
	user, err := v.claims(payload)
	id := session.Identity{Name: user}
	if err == nil {
		var c struct {
			Iss string `json:"iss"`
			Sub string `json:"sub"`
			SID string `json:"sid"`
		}
		_ = json.Unmarshal(payload, &c) // claims has read it already
		id.Issuer, id.Subject, id.SID = c.Iss, c.Sub, c.SID
	}
	return id, err
}

// verified returns the claims of a token whose signature, iss, aud and exp
// go-oidc has checked, against the access tokens' audience, or the logout
// tokens' (ClientID) when logout is true.
func (v *Verifier) verified(ctx context.Context, token string, logout bool) ([]byte, error) {
	ctx, cancel := v.budget(ctx)
	defer cancel()
	iv, err := v.discover(ctx)
	if err != nil {
		return nil, err
	}
	aud := v.cfg.Audience
	if logout {
		iv, aud = v.logout, v.cfg.ClientID
	}
	slot := &verified{}
	_, err = iv.Verify(context.WithValue(ctx, slotKey{}, slot), token)
	switch {
	case slot.err != nil:
		return nil, slot.err // the key set's own verdict: typed
	case err != nil:
		return nil, refused(v.classify(slot.payload, aud), err)
	}
	return slot.payload, nil
}

// budget is the context the provider is asked within: not the caller's
// cancellation (one client giving up must not leave every other log-in
// answered "unavailable" for RetryAfter), but a deadline of Budget from
// now, or the caller's deadline less AnswerReserve if sooner (a Lambda
// invocation's deadline is its function's timeout).
func (v *Verifier) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(v.cfg.Budget)
	if d, ok := ctx.Deadline(); ok && d.Add(-AnswerReserve).Before(deadline) {
		deadline = d.Add(-AnswerReserve)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// discover returns the token verifier, asking the provider for its
// discovery document the first time (and again after a failure, at most
// once a RetryAfter).
func (v *Verifier) discover(ctx context.Context) (*gooidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	if now := v.cfg.Now(); !v.failed.IsZero() && now.Sub(v.failed) < v.cfg.RetryAfter {
		return nil, session.Unavailable("oidc discovery", errors.New("failed moments ago; not asking again yet"))
	}
	// Within the log-in's budget (Verify), and each request DefaultTimeout
	// at most.
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, v.cfg.Client), v.cfg.Issuer)
	if err != nil {
		v.failed = v.cfg.Now()
		return nil, session.Unavailable("oidc discovery", err)
	}
	var doc struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil || doc.JWKS == "" {
		v.failed = v.cfg.Now()
		return nil, session.Unavailable("oidc discovery", fmt.Errorf("no jwks_uri in the discovery document (%v)", err))
	}
	v.keys = &keySet{url: doc.JWKS, cfg: &v.cfg}
	algs := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		algs[i] = string(a)
	}
	verifier := func(aud string) *gooidc.IDTokenVerifier {
		return gooidc.NewVerifier(v.cfg.Issuer, v.keys, &gooidc.Config{
			ClientID:             aud,
			SupportedSigningAlgs: algs,
			// go-oidc allows no skew on exp: a clock Skew behind allows it.
			Now: func() time.Time { return v.cfg.Now().Add(-v.cfg.Skew) },
		})
	}
	v.verifier, v.logout = verifier(v.cfg.Audience), verifier(v.cfg.ClientID)
	return v.verifier, nil
}

// claims checks what go-oidc leaves to us: nbf and iat within Skew (go-oidc
// allows five minutes on nbf, none on iat), the user claim, the group.
func (v *Verifier) claims(payload []byte) (string, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", refused(session.CauseBadToken, err)
	}
	latest := v.cfg.Now().Add(v.cfg.Skew).Unix()
	for _, name := range []string{"nbf", "iat"} {
		if t, ok := numeric(c[name]); ok && t > float64(latest) {
			return "", refused(session.CauseNotYetValid, fmt.Errorf("%s is %.0f, later than now and the skew allow", name, t))
		}
	}
	var user string
	if raw, ok := c[v.cfg.UserClaim]; !ok || json.Unmarshal(raw, &user) != nil || user == "" {
		return "", refused(session.CauseNoUserClaim, fmt.Errorf("no string claim %q", v.cfg.UserClaim))
	}
	if v.cfg.RequiredGroup != "" && !slices.Contains(groups(c[v.cfg.GroupsClaim]), v.cfg.RequiredGroup) {
		return user, refused(session.CauseNotInGroup, fmt.Errorf("%q does not list %q", v.cfg.GroupsClaim, v.cfg.RequiredGroup))
	}
	return user, nil
}

// classify says why go-oidc refused a token whose signature was good
// (payload: its claims), or that it was malformed (payload nil).
func (v *Verifier) classify(payload []byte, audience string) session.Cause {
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp json.RawMessage `json:"exp"`
	}
	if payload == nil || json.Unmarshal(payload, &c) != nil {
		return session.CauseBadToken
	}
	var auds []string
	if json.Unmarshal(c.Aud, &auds) != nil {
		var one string
		_ = json.Unmarshal(c.Aud, &one)
		auds = []string{one}
	}
	switch exp, ok := numeric(c.Exp); {
	case c.Iss != v.cfg.Issuer:
		return session.CauseWrongIssuer
	case !slices.Contains(auds, audience):
		return session.CauseWrongAudience
	case !ok || exp < float64(v.cfg.Now().Add(-v.cfg.Skew).Unix()):
		return session.CauseExpired
	}
	return session.CauseNotYetValid // go-oidc's last check is nbf
}

func refused(c session.Cause, err error) error { return &session.TokenError{Cause: c, Err: err} }

// numeric reads a JWT NumericDate.
func numeric(raw json.RawMessage) (float64, bool) {
	var f float64
	if raw == nil || json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return f, true
}

// groups reads a groups claim: a list of strings, or one string.
func groups(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	return nil
}

// slotKey carries a *verified through go-oidc's Verify to the key set: what
// the key set found, which go-oidc's errors (%v-wrapped) cannot carry.
type slotKey struct{}

type verified struct {
	payload []byte // the signed claims, once the signature is good
	err     error  // the key set's typed refusal, or unavailability
}

// keySet is the provider's keys, fetched from jwks_uri and kept. It stands
// in for go-oidc's RemoteKeySet, which fetches again on every signature it
// cannot verify (a forged token under a known key id included), with no
// bound on how often.
type keySet struct {
	url string
	cfg *Config

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	loaded  time.Time // when keys were fetched; zero: never
	fetched time.Time // when a fetch was last tried
	lastErr error     // how it failed, if it did
}

// VerifySignature implements go-oidc's KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	slot, _ := ctx.Value(slotKey{}).(*verified)
	if slot == nil {
		slot = &verified{}
	}
	payload, err := k.verify(ctx, jwt)
	slot.payload, slot.err = payload, err
	return payload, err
}

func (k *keySet) verify(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, Algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, refused(session.CauseBadToken, fmt.Errorf("not a JWS with one %v signature", Algorithms))
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, err := k.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	for _, key := range keys {
		if payload, err := jws.Verify(&key); err == nil {
			return payload, nil
		}
	}
	return nil, refused(session.CauseBadToken, fmt.Errorf("signature does not verify under key %q", kid))
}

// lookup returns the keys that may have signed a token under kid (every
// key when kid is empty), fetching the set first when it is missing, too
// old, or lacks kid and has not been fetched for a RefreshInterval.
//
// A kid the set lacks is refused as unknown (a 401) only when the set was
// fetched successfully within the last RefreshInterval: then the provider
// has just said it has no such key. Otherwise the provider could not be
// asked (the fetch failed, or one failed less than a RetryAfter ago), and
// the token may be a good one signed after a rotation: unavailable (a
// 503), so that its holder retries rather than drops it. Which of the two
// it is depends on the provider's reachability and this process's fetches
// alone, never on the token beyond its kid being absent from the held set
// (kids are public: the provider's JWKS lists them): its signature and
// claims are not looked at before either answer.
func (k *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.cfg.Now()
	match := func() []jose.JSONWebKey {
		var m []jose.JSONWebKey
		for _, key := range k.keys {
			if kid == "" || key.KeyID == kid {
				m = append(m, key)
			}
		}
		return m
	}
	found := match()
	stale := k.loaded.IsZero() || now.Sub(k.loaded) >= k.cfg.KeyMaxAge
	if len(found) > 0 && !stale {
		return found, nil
	}
	wait := k.cfg.RefreshInterval
	if k.lastErr != nil {
		wait = k.cfg.RetryAfter
	}
	if k.fetched.IsZero() || now.Sub(k.fetched) >= wait {
		k.fetched = now
		k.lastErr = k.fetch(ctx)
		if k.lastErr == nil {
			k.loaded = now
		}
		found = match()
	}
	switch {
	case k.loaded.IsZero():
		return nil, session.Unavailable("oidc keys", fmt.Errorf("no key set fetched yet: %w", k.lastErr))
	case len(found) > 0:
		return found, nil
	case now.Sub(k.loaded) < k.cfg.RefreshInterval:
		return nil, refused(session.CauseUnknownKey, fmt.Errorf("no key %q in the issuer's key set, fetched %s ago", kid, now.Sub(k.loaded)))
	}
	return nil, session.Unavailable("oidc keys", fmt.Errorf("no key %q in the key set held, and it cannot be fetched again: %w", kid, k.lastErr))
}

// fetch replaces the keys with the provider's current set, skipping keys
// of a type go-jose does not know (as go-oidc does) and keys meant for
// encryption.
func (k *keySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("get keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get keys: %s", resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("decode keys: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if key.UnmarshalJSON(raw) != nil || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
			continue
		}
		keys = append(keys, key)
	}
	k.keys = keys
	return nil
}

// BackchannelLogoutEvent is the member of a logout token's events claim
// that makes it one (OpenID Connect Back-Channel Logout 1.0, section 2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// VerifyLogout checks a back-channel logout token as section 2.6 of the
// specification says: signed by a key of the provider's (the same cache as
// Verify's), iss, aud (ClientID), exp, iat (within Skew), a jti, the
// events member, no nonce (so that no ID token passes for one), and a sub
// or a sid. A token that fails a check is a *session.TokenError.
func (v *Verifier) VerifyLogout(ctx context.Context, token string) (session.LogoutToken, error) {
	payload, err := v.verified(ctx, token, true)
	if err != nil {
		return session.LogoutToken{}, err
	}
	var c struct {
		Iss    string                     `json:"iss"`
		Sub    *string                    `json:"sub"`
		SID    *string                    `json:"sid"`
		JTI    string                     `json:"jti"`
		Exp    json.RawMessage            `json:"exp"`
		Iat    json.RawMessage            `json:"iat"`
		Nonce  json.RawMessage            `json:"nonce"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return session.LogoutToken{}, refused(session.CauseBadToken, err)
	}
	notLogout := func(why string) (session.LogoutToken, error) {
		return session.LogoutToken{}, refused(session.CauseNotLogoutToken, errors.New(why))
	}
	iat, hasIat := numeric(c.Iat)
	exp, _ := numeric(c.Exp) // go-oidc has checked it
	var event map[string]json.RawMessage
	switch {
	case c.Nonce != nil:
		return notLogout("a nonce: an ID token, not a logout token")
	case c.Events == nil || json.Unmarshal(c.Events[BackchannelLogoutEvent], &event) != nil || event == nil:
		return notLogout("no " + BackchannelLogoutEvent + " object in events")
	case c.JTI == "":
		return notLogout("no jti")
	case !hasIat:
		return notLogout("no iat")
	case iat > float64(v.cfg.Now().Add(v.cfg.Skew).Unix()):
		return session.LogoutToken{}, refused(session.CauseNotYetValid, fmt.Errorf("iat is %.0f, later than now and the skew allow", iat))
	case (c.Sub == nil || *c.Sub == "") && (c.SID == nil || *c.SID == ""):
		return notLogout("neither sub nor sid")
	}
	lt := session.LogoutToken{Issuer: c.Iss, JTI: c.JTI, Expires: time.Unix(int64(exp), 0)}
	if c.Sub != nil {
		lt.Subject = *c.Sub
	}
	if c.SID != nil {
		lt.SID = *c.SID
	}
	return lt, nil
}

// Federation is the verifier the settings describe, or nil (federation off)
// when they name no issuer.
func Federation(o config.OIDC) session.Federation {
	if o.Issuer == "" {
		return nil
	}
	return New(Config{Issuer: o.Issuer, Audience: o.Audience, UserClaim: o.UserClaim,
		GroupsClaim: o.GroupsClaim, RequiredGroup: o.RequiredGroup, ClientID: o.ClientID})
}

// Logouts is the verifier of back-channel logout tokens the settings
// describe, or nil when they name no issuer. A process that serves both
// log-ins and logouts (make run) may use one Verifier for both.
func Logouts(o config.OIDC) session.LogoutVerifier {
	if o.Issuer == "" {
		return nil
	}
	return Federation(o).(*Verifier)
}
