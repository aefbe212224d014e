// Package session is the domain of the CIS session service: users, sessions,
// tokens, the rules of a session's lifetime, and the error codes every other
// layer maps to the wire.
//
// It must never import AWS, DynamoDB or HTTP packages: storage and transport
// implement or call the interfaces declared here.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// TokenBytes is the entropy of a session token: 128 bits, as vCenter's.
const TokenBytes = 16

// TokenLen is the length of a token's lower-case hex form.
const TokenLen = 2 * TokenBytes

// Token is the secret a client presents in vmware-api-session-id.
// It is never stored and never logged: only its Hash is.
type Token string

// TokenHash is the SHA-256 of a token: the key a session is stored under.
type TokenHash [sha256.Size]byte

// NewToken returns a fresh random token, hex-encoded like vCenter's.
func NewToken() (Token, error) {
	var b [TokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Errorf(EUNAVAILABLE, "read random token: %v", err)
	}
	return Token(hex.EncodeToString(b[:])), nil
}

// ParseToken accepts exactly the tokens this service issues: TokenLen
// hex digits. Anything else cannot name a session, so it is rejected before
// any hashing or storage call.
func ParseToken(s string) (Token, bool) {
	if len(s) != TokenLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return "", false
		}
	}
	// Hex is case-insensitive; the hash is taken over one canonical form.
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'F' {
			b[i] = c + ('a' - 'A')
		}
	}
	return Token(b), true
}

// Hash returns the storage key of t.
func (t Token) Hash() TokenHash { return sha256.Sum256([]byte(t)) }

// String returns the hex form of the hash, safe to log.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// Session is what a client may learn about its own session.
type Session struct {
	User         string    // canonical name@domain of the user who created it
	Created      time.Time // never changes
	LastAccessed time.Time // moves only forward
	// IdP is who vouched for User: "" for the users table (a local user),
	// else the issuer URL of the identity provider of a federated log-in.
	IdP string
}

// Record is a session as stored.
type Record struct {
	Hash TokenHash
	Session
	Origin Origin // what log-in recorded; zero for sessions made before it did
	Calls  int64  // uses since log-in (every touch counts one)
}

// Lifetime holds the rules that end a session.
type Lifetime struct {
	Idle     time.Duration // inactivity after which a session is dead
	Absolute time.Duration // age after which a session is dead, however active
}

// DefaultLifetime is vCenter's idle timeout and a day of absolute lifetime.
var DefaultLifetime = Lifetime{Idle: 30 * time.Minute, Absolute: 24 * time.Hour}

// Live reports whether a session is alive at now under l.
func (l Lifetime) Live(s Session, now time.Time) bool {
	return now.Sub(s.LastAccessed) < l.Idle && now.Sub(s.Created) < l.Absolute
}

// SessionStore keeps sessions. Every method is one storage request in the
// common case.
type SessionStore interface {
	// Create stores a new session; it never overwrites one.
	Create(ctx context.Context, r Record, l Lifetime) error
	// Touch moves a live session's LastAccessed forward to now and returns
	// it. A missing, expired or deleted session is ENOTFOUND, and Touch never
	// brings one back.
	Touch(ctx context.Context, h TokenHash, now time.Time, l Lifetime) (Session, error)
	// Delete removes a live session. A missing or expired one is ENOTFOUND.
	Delete(ctx context.Context, h TokenHash, now time.Time, l Lifetime) error
	// CountLive counts the sessions of the user name (compared
	// case-insensitively) vouched for by idp ("" for a local user:
	// Session.IdP) that are live at now under l. Below enough the
	// answer may include sessions that idled out but are still stored (it
	// is still below enough); at enough or more it is exact (0: always
	// exact). It may lag a moment behind sessions just created.
	CountLive(ctx context.Context, name, idp string, now time.Time, l Lifetime, enough int) (int, error)
}

// DefaultMaxSessionsPerUser is vCenter's historical cap on one user's
// sessions.
const DefaultMaxSessionsPerUser = 550

// UserStore keeps users.
type UserStore interface {
	// User returns the user with the given name (compared case-insensitively);
	// ENOTFOUND when there is none.
	User(ctx context.Context, name string) (User, error)
	// Reserve counts, before its password is checked, one log-in attempt
	// of the user name from sources of class c, in one conditional write:
	// in the window running at now, or in a new one when none is running,
	// and only if the class is not locked and its window holds fewer than
	// p.MaxFailures attempts. It returns the class's window as it is after
	// the count (its Pending includes the attempt), or false when the
	// attempt may not be checked, with the class's Failures as last known
	// (from the refused write where the engine returns the item, else a
	// read when seen did not already show the class locked with nothing in
	// flight, else seen): Lockout.Busy of them tells an attempt that may
	// wait and try again. seen is the
	// class's Failures as read at the start of the log-in (its guess of the
	// state), or nil when that read found no user: then exactly one request
	// is made and the result is ENOTFOUND (unless the user has appeared
	// since); so an unknown user costs what a known one does.
	Reserve(ctx context.Context, name string, c Class, seen *Failures, now time.Time, p Lockout) (Failures, bool, error)
	// Settle records what a checked or refused attempt turned out to be
	// (see Settlement), in one request, whatever it is; a settlement the
	// stored state has moved past (another attempt's success, say) changes
	// nothing and is no error.
	Settle(ctx context.Context, name string, c Class, s Settlement) error
	// Succeed records a right password from class c at now, in one
	// conditional write that is also the read confirming the log-in: it
	// gives back the attempt reserved in window (zero when none was), if
	// that window still runs, ends the class's lock and row of locks,
	// keeps sources as the user's familiar sources (and key, unless the
	// user has one), and returns the user as it is after it. It forgives
	// no other attempt of the window. A second write is made only when
	// the window has ended or been cleared since the reservation. ENOTFOUND
	// when there is no such user.
	Succeed(ctx context.Context, name string, c Class, window Failures, sources []Mark, key string, now time.Time) (User, error)
	// ClearFailures forgets a user's failed log-ins in every class, ending
	// any lock and its streak. ENOTFOUND when there is no such user.
	ClearFailures(ctx context.Context, name string) error
	// Rehash replaces the user's password hash old with new, unless it has
	// changed meanwhile (ENOTFOUND then, as when there is no such user).
	Rehash(ctx context.Context, name, old, new string) error
}
