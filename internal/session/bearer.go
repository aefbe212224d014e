package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Federation checks OAuth 2.0 access tokens issued by the organisation's
// identity provider (package oidc implements it with OpenID Connect). It
// is the identity provider that knows the user: a federated log-in reads
// no users table.
type Federation interface {
	// Verify returns who a valid token names: its user claim (as the
	// identity provider wrote it; Name, set also on a refusal when the
	// token had one), its issuer, sub and sid. A token that fails any
	// check is a *TokenError, whose Cause says which, for the operator
	// only; an issuer that cannot be reached is EUNAVAILABLE.
	Verify(ctx context.Context, token string) (Identity, error)
	// Issuer is the identity provider's issuer URL: who vouches for the
	// users it names (Session.IdP), never the same identity as a local
	// user of the same name.
	Issuer() string
}

// Identity is who an access token names.
type Identity struct {
	Name    string // the user claim
	Issuer  string // iss
	Subject string // sub
	SID     string // sid, the provider session; "" when the token has none
}

// TokenError is why an access token was refused: for the audit trail,
// never for the client.
type TokenError struct {
	Cause Cause
	Err   error // the verifier's detail; never holds the token
}

func (e *TokenError) Error() string { return string(e.Cause) + ": " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

// MaxBearerLen bounds an access token, checked before any parsing: Entra
// ID's and Okta's carry a few kilobytes of claims; 8 KiB is twice that, and
// within what API Gateway passes in a header.
const MaxBearerLen = 8 << 10

// FederatedName checks the user name a token's claim gives: a name a
// session can hold, in the one canonical form of every user name
// (QualifyName's rules: no whitespace, control, format or invisible
// character, no trailing dot), with a domain of its own, and not in
// localDomain. A federated name is never qualified with the local
// domain: "administrator" from an identity provider must not become the
// local administrator@vsphere.local, whose sessions and upstream rights it
// would share (docs/FEDERATION.md).
func FederatedName(claim, localDomain string) (string, bool) {
	if !strings.Contains(claim, "@") || strings.Contains(claim, `\`) {
		return "", false
	}
	name, ok := QualifyName(claim, localDomain)
	if !ok {
		return "", false
	}
	_, dom, _ := strings.Cut(name, "@")
	if strings.EqualFold(dom, localDomain) {
		return "", false
	}
	return name, true
}

// Federated reports whether bearer log-ins can succeed.
func (s *Service) Federated() bool { return s.Federation != nil }

// LoginBearer opens a session for the user an access token names.
//
// Everything after the token check is as for a password log-in: the same
// table, lifetimes and per-user cap, the same session. Every refusal is
// the same EUNAUTHENTICATED as a wrong password (no oracle), its cause
// recorded for the operator (never the token); an identity provider that
// cannot be reached is EUNAVAILABLE, as a table that cannot be is.
//
// Revocation: the identity provider refuses new tokens to a user it has
// disabled; a session already open lives until its idle or absolute
// expiry, or until `cis-admin end-sessions` ends it.
func (s *Service) LoginBearer(ctx context.Context, token string) (Token, Session, error) {
	var op string // what failed, when something did: "oidc" (the provider) or "login" (storage)
	tok, sess, err := s.loginBearer(ctx, token, &op)
	s.recordFailure(ctx, op, err)
	return tok, sess, err
}

func (s *Service) loginBearer(ctx context.Context, token string, op *string) (Token, Session, error) {
	*op = "oidc"
	refuse := func(cause Cause, user string, why error) error {
		s.Record(ctx, Event{Kind: EventLoginRefused, Cause: cause, User: user})
		return errBadCredentials(&TokenError{Cause: cause, Err: why})
	}
	if s.Federation == nil {
		return "", Session{}, refuse(CauseNoFederation, "", errors.New("a bearer token, and no identity provider is configured"))
	}
	if token == "" || len(token) > MaxBearerLen {
		return "", Session{}, refuse(CauseMalformed, "", fmt.Errorf("bearer token empty or longer than %d bytes", MaxBearerLen))
	}
	id, err := s.Federation.Verify(ctx, token)
	claim := id.Name
	var te *TokenError
	switch {
	case errors.As(err, &te):
		return "", Session{}, refuse(te.Cause, MaskName(claim), te.Err)
	case err != nil:
		return "", Session{}, err
	}
	*op = "login"
	name, ok := FederatedName(claim, s.DefaultDomain)
	if !ok {
		return "", Session{}, refuse(CauseBadUserClaim, MaskName(claim), errors.New("the user claim is no name@domain outside the local domain"))
	}
	idp := s.Federation.Issuer()
	now := s.now().Truncate(time.Millisecond)
	n := 0
	if s.MaxSessionsPerUser > 0 {
		// The federated user's own sessions: a local user of the same
		// name is another identity, with a cap of its own.
		if n, err = s.Sessions.CountLive(ctx, name, idp, now, s.Lifetime, s.MaxSessionsPerUser); err != nil {
			return "", Session{}, err
		}
	}
	if s.MaxSessionsPerUser > 0 && n >= s.MaxSessionsPerUser {
		s.Record(ctx, Event{Kind: EventSessionCap, User: name, IdP: idp})
		return "", Session{}, errTooManySessions(s.MaxSessionsPerUser, n, name)
	}
	tok, err := NewToken()
	if err != nil {
		return "", Session{}, err
	}
	sess := Session{User: name, Created: now, LastAccessed: now, IdP: idp}
	origin := originOf(ctx, MethodToken)
	origin.Provider, origin.Subject, origin.SID = id.Issuer, id.Subject, id.SID
	if err := s.Sessions.Create(ctx, Record{Hash: tok.Hash(), Session: sess, Origin: origin}, s.Lifetime); err != nil {
		return "", Session{}, err
	}
	s.Record(ctx, Event{Kind: EventLogin, User: name, IdP: idp, Session: sessionRef(tok.Hash())})
	return tok, sess, nil
}
