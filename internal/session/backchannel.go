package session

import (
	"context"
	"errors"
	"time"
)

// LogoutToken is what a verified back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0) says: which provider session or subject ended.
type LogoutToken struct {
	Issuer  string
	Subject string    // sub; "" when the token names only a sid
	SID     string    // sid; "" when it names only a subject
	JTI     string    // its unique id: accepted once
	Expires time.Time // exp: how long its jti must be remembered
}

// LogoutVerifier checks back-channel logout tokens (package oidc, with the
// same key cache as bearer log-ins). A token that fails a check is a
// *TokenError; a provider that cannot be reached is EUNAVAILABLE.
type LogoutVerifier interface {
	VerifyLogout(ctx context.Context, token string) (LogoutToken, error)
}

// LogoutTokenStore remembers the logout tokens accepted.
type LogoutTokenStore interface {
	// First records issuer's jti until until and reports whether it was
	// not recorded before, in one conditional write.
	First(ctx context.Context, issuer, jti string, until time.Time) (bool, error)
	// Forget removes the record of issuer's jti.
	Forget(ctx context.Context, issuer, jti string) error
}

// ProviderSessionStores finds the sessions made from a provider's tokens:
// every session of a subject key (sid ""), or those of one provider session.
type ProviderSessionStores func(sid string) UserSessionStore

// SubjectKeyFunc is the key a store finds a provider's subject by.
type SubjectKeyFunc func(issuer, sub string) string

// Backchannel ends the sessions an identity provider's back-channel
// logout token names, on every surface (a session is one item, whichever
// surface made it or uses it).
type Backchannel struct {
	Verifier LogoutVerifier
	Tokens   LogoutTokenStore
	// Sessions is the store of a provider session's (sid) or a subject's
	// sessions, keyed by SubjectKey; swept as a Revocation sweeps a user's,
	// Quiet the index lag it allows for.
	Sessions   ProviderSessionStores
	SubjectKey SubjectKeyFunc
	Quiet      time.Duration
	Recorder   Recorder
}

// ErrNoSubject refuses a logout token with a sid and no sub: sessions are
// found by subject (every provider whose set-up docs/FEDERATION.md gives
// sends both).
var ErrNoSubject = errors.New("a logout token without sub: sessions are found by subject")

// Logout verifies a logout token, accepts its jti once, and ends every
// session of its subject (of its provider session, when it names a sid),
// returning how many it ended. A token refused for any reason is EINVALID,
// its cause (a *TokenError) for the operator only, and ends nothing; a
// storage failure is EUNAVAILABLE, and forgets the jti so that the
// provider's retry is not refused as a replay.
func (b *Backchannel) Logout(ctx context.Context, token string) (int, error) {
	refuse := func(cause Cause, why error) (int, error) {
		b.record(ctx, Event{Kind: EventProviderLogoutRefused, Cause: cause})
		return 0, &Error{Code: EINVALID, Message: "logout token refused", Err: &TokenError{Cause: cause, Err: why}}
	}
	if token == "" || len(token) > MaxBearerLen {
		return refuse(CauseMalformed, errors.New("logout token empty or too long"))
	}
	lt, err := b.Verifier.VerifyLogout(ctx, token)
	var te *TokenError
	switch {
	case errors.As(err, &te):
		return refuse(te.Cause, te.Err)
	case err != nil:
		b.recordFailure(ctx, err)
		return 0, err
	case lt.Subject == "":
		return refuse(CauseNoSubject, ErrNoSubject)
	}
	first, err := b.Tokens.First(ctx, lt.Issuer, lt.JTI, lt.Expires)
	switch {
	case err != nil:
		b.recordFailure(ctx, err)
		return 0, err
	case !first:
		return refuse(CauseReplayed, errors.New("jti seen before"))
	}
	r := Revocation{Store: b.Sessions(lt.SID), Quiet: b.Quiet}
	ended, err := r.EndAll(ctx, b.SubjectKey(lt.Issuer, lt.Subject), lt.Issuer)
	if err != nil {
		_ = b.Tokens.Forget(context.WithoutCancel(ctx), lt.Issuer, lt.JTI)
		b.recordFailure(ctx, err)
		return ended, err
	}
	b.record(ctx, Event{Kind: EventProviderLogout, User: lt.Subject, Sessions: ended})
	return ended, nil
}

func (b *Backchannel) record(ctx context.Context, e Event) {
	if b.Recorder != nil {
		b.Recorder.Record(ctx, e)
	}
}

func (b *Backchannel) recordFailure(ctx context.Context, err error) {
	if ErrorCode(err) == EUNAVAILABLE {
		b.record(ctx, Event{Kind: EventBackendFailure, Op: "backchannel-logout"})
	}
}
