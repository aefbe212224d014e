package session

import (
	"context"
	"time"
)

// Recorder is told what the service did, for the operator: metrics and the
// audit trail. What it is told never reaches a client, and never holds a
// token or a password. Package cloudwatch implements it as log lines.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// EventKind names what happened.
type EventKind string

// The events the service records.
const (
	EventLogin          EventKind = "login"           // a session was opened
	EventLoginRefused   EventKind = "login_refused"   // a log-in was refused; Cause says why
	EventLockout        EventKind = "lockout"         // a refused log-in locked its account
	EventSessionCap     EventKind = "session_cap"     // a right password was refused for the session cap
	EventLogout         EventKind = "logout"          // a session was ended by its holder
	EventRevoked        EventKind = "revoked"         // sessions were ended by an administrator
	EventBackendFailure EventKind = "backend_failure" // storage failed; the client got 503
	EventAdminChange    EventKind = "admin_change"    // the admin tool changed a user or the tables
	// EventProviderLogout: the identity provider's back-channel logout
	// ended a subject's or a provider session's sessions (Sessions says
	// how many); EventProviderLogoutRefused: its token was refused (Cause).
	EventProviderLogout        EventKind = "provider_logout"
	EventProviderLogoutRefused EventKind = "provider_logout_refused"
	// EventTakeOver: this region took a session (Session) over from its
	// home region (Region), whose replica it could not reach: for that
	// session, two regions' writes may now race (docs/REGIONS.md).
	EventTakeOver EventKind = "session_take_over"
)

// Cause is why a log-in was refused, as the operator sees it. The client is
// told none of it: every cause is the same 401.
type Cause string

// The causes of a refused log-in.
const (
	CauseMalformed     Cause = "malformed"      // no Basic credentials, or a name or password no user can have
	CauseUnknownUser   Cause = "unknown_user"   // no such user
	CauseWrongPassword Cause = "wrong_password" // the user exists; the password does not match
	CauseLocked        Cause = "locked"         // the account is locked out, whatever the password
	CauseBadHash       Cause = "bad_hash"       // the stored hash cannot be read: the operator's problem
	// CauseRepeatedPassword is a wrong password tried again within a
	// window: checked, but counted once.
	CauseRepeatedPassword Cause = "repeated_password"
	// CauseNotCounted is a wrong password whose count storage refused:
	// its class filled, or the same password was counted, between the
	// log-in's read and its write. Refused as a locked class refuses.
	CauseNotCounted Cause = "not_counted"
)

// The causes of a refused bearer (federated) log-in.
const (
	CauseNoFederation  Cause = "no_federation"       // a bearer token, and OIDC_ISSUER is empty
	CauseBadToken      Cause = "bad_token"           // not a JWT, or an algorithm other than RS256/ES256, or a bad signature
	CauseUnknownKey    Cause = "unknown_key"         // signed under a kid the issuer's key set does not hold
	CauseWrongIssuer   Cause = "wrong_issuer"        // iss is not OIDC_ISSUER
	CauseWrongAudience Cause = "wrong_audience"      // aud does not hold OIDC_AUDIENCE
	CauseExpired       Cause = "token_expired"       // exp is past, or absent
	CauseNotYetValid   Cause = "token_not_yet_valid" // nbf or iat is in the future
	CauseNoUserClaim   Cause = "no_user_claim"       // the OIDC_USER_CLAIM claim is absent or not a string
	CauseBadUserClaim  Cause = "bad_user_claim"      // it is no user name: no domain, the local domain, or unacceptable
	CauseNotInGroup    Cause = "not_in_group"        // OIDC_REQUIRED_GROUP is not among the token's groups
)

// The causes of a refused back-channel logout token, beside the bearer
// ones (a bad signature, issuer, audience, expiry).
const (
	CauseNotLogoutToken Cause = "not_logout_token" // no events member, a nonce, no iat or jti, or neither sub nor sid
	CauseReplayed       Cause = "replayed"         // its jti was accepted before
)

// Causes lists every Cause, for tests and dashboards.
var Causes = []Cause{CauseMalformed, CauseUnknownUser, CauseWrongPassword, CauseLocked, CauseBadHash, CauseRepeatedPassword, CauseNotCounted,
	CauseNoFederation, CauseBadToken, CauseUnknownKey, CauseWrongIssuer, CauseWrongAudience, CauseExpired,
	CauseNotYetValid, CauseNoUserClaim, CauseBadUserClaim, CauseNotInGroup,
	CauseNotLogoutToken, CauseReplayed}

// Event is one thing the service (or the admin tool) did. Fields that do
// not apply to its Kind are zero.
type Event struct {
	Kind EventKind
	// User is the user name: as qualified for a known user; for a refused
	// log-in of a name that is no user's (it may be a password typed into
	// the wrong field) only its MaskName. The metrics never keep it.
	User string
	// Class is the class of the log-in's source ("familiar" or
	// "unfamiliar"): EventLogin, EventLoginRefused, EventLockout.
	Class string
	// Cause is why a log-in was refused (EventLoginRefused).
	Cause Cause
	// Session is the first 12 hex digits of the session's token hash, never
	// the token (EventLogin, EventLogout).
	Session string
	// Sessions counts the sessions an event ended (EventRevoked,
	// EventProviderLogout).
	Sessions int
	// Op names the operation that failed (EventBackendFailure), or what the
	// admin tool changed (EventAdminChange: "add-user", "unlock", ...).
	Op string
	// Actor is who made an administrative change (EventRevoked,
	// EventAdminChange): an AWS identity, or a local OS user.
	Actor string
	// Until is when a lockout ends (EventLockout).
	Until time.Time
	// IdP is who vouched for User when it is a federated user: the
	// identity provider's issuer URL (Session.IdP); "" for a local user.
	IdP string
	// Region is the home region a session was taken over from
	// (EventTakeOver).
	Region string
}

type sourceKey struct{}

// WithSource returns ctx carrying the network address a request came from,
// for the audit trail of log-ins.
func WithSource(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

// Source returns the address WithSource put in ctx, or "".
func Source(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// Record tells the service's Recorder of e; without one it does nothing.
// Code that changes sessions outside Login, Get and Logout (revocation)
// calls it, so that every change is counted and audited alike.
func (s *Service) Record(ctx context.Context, e Event) {
	if s.Recorder != nil {
		s.Recorder.Record(ctx, e)
	}
}

// RefuseMalformed records a log-in refused before it reached the service:
// a request without Basic credentials the surface could read.
func (s *Service) RefuseMalformed(ctx context.Context) {
	s.Record(ctx, Event{Kind: EventLoginRefused, Cause: CauseMalformed})
}

// recordFailure records a backend failure of op, when err is one.
func (s *Service) recordFailure(ctx context.Context, op string, err error) {
	if ErrorCode(err) == EUNAVAILABLE {
		s.Record(ctx, Event{Kind: EventBackendFailure, Op: op})
	}
}

// sessionRef is what the log and the audit trail may name a session by.
func sessionRef(h TokenHash) string { return h.String()[:12] }

// TakeOver is the event of a store taking the session h over from its home
// region home, whose replica it could not reach (docs/REGIONS.md): what the
// operator sees of it, never the token.
func TakeOver(home string, h TokenHash) Event {
	return Event{Kind: EventTakeOver, Region: home, Session: sessionRef(h)}
}
