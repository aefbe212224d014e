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

// ProviderSessionStores finds the sessions made from a provider's tokens
// that a logout token names: those of the provider session sid of the
// subject sub at issuer. With sid "", every session of the subject; with sub
// "", every session of the provider session, whatever its subject; never
// both "". It returns the store to sweep and the key its ListUser and End
// take as the "name".
type ProviderSessionStores func(issuer, sub, sid string) (store UserSessionStore, key string)

// Backchannel ends the sessions an identity provider's back-channel
// logout token names, on every surface (a session is one item, whichever
// surface made it or uses it).
type Backchannel struct {
	Verifier LogoutVerifier
	Tokens   LogoutTokenStore
	// Sessions finds the sessions a token names, swept as a Revocation
	// sweeps a user's, Quiet the index lag it allows for.
	Sessions ProviderSessionStores
	Quiet    time.Duration
	Recorder Recorder
}

// Logout verifies a logout token, accepts its jti once, and ends every
// session of its subject (of its provider session, when it names a sid),
// returning how many it ended; one that names only a sid ends that provider
// session's sessions, whatever their subject. A token refused for any reason is EINVALID,
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
	case lt.Subject == "" && lt.SID == "": // the verifier refuses it; never sweep everything
		return refuse(CauseNotLogoutToken, errors.New("neither sub nor sid"))
	}
	first, err := b.Tokens.First(ctx, lt.Issuer, lt.JTI, lt.Expires)
	switch {
	case err != nil:
		b.recordFailure(ctx, err)
		return 0, err
	case !first:
		return refuse(CauseReplayed, errors.New("jti seen before"))
	}
	store, key := b.Sessions(lt.Issuer, lt.Subject, lt.SID)
	ended, err := Revocation{Store: store, Quiet: b.Quiet}.EndAll(ctx, key, lt.Issuer)
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
