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
}

// Record is a session as stored.
type Record struct {
	Hash TokenHash
	Session
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
	// case-insensitively) that are live at now under l. Below enough the
	// answer may include sessions that idled out but are still stored (it
	// is still below enough); at enough or more it is exact (0: always
	// exact). It may lag a moment behind sessions just created.
	CountLive(ctx context.Context, name string, now time.Time, l Lifetime, enough int) (int, error)
}

// DefaultMaxSessionsPerUser is vCenter's historical cap on one user's
// sessions.
const DefaultMaxSessionsPerUser = 550

// User is an account that may log in.
type User struct {
	Name         string   // canonical name@domain, as the session reports it
	PasswordHash string   // argon2id PHC string
	Failures     Failures // failed log-ins counted against the account
	// Revision changes whenever the user's sessions must end: a new
	// password, an operator ending them all, a removal and adding again.
	// A log-in keeps its session only if it is unchanged (Service.Login).
	// Users stored before it existed have "".
	Revision string
}

// Failures counts a user's failed log-ins in one window.
type Failures struct {
	Count int
	Since time.Time // when the window began: its first failure; zero if none
}

// Lockout is the brute-force policy: MaxFailures failed log-ins in a window
// lock the account until the window ends. A window begins at a failure
// when none is running, lasts Window, and is then forgotten without any
// clean-up. A successful log-in or an admin's unlock ends it early.
type Lockout struct {
	MaxFailures int           // failures that lock the account; 0 disables the lockout
	Window      time.Duration // how long a window lasts from its first failure
}

// DefaultLockout locks an account after 5 failed log-ins in 15 minutes.
var DefaultLockout = Lockout{MaxFailures: 5, Window: 15 * time.Minute}

// Running reports whether f's window is still running at now.
func (p Lockout) Running(f Failures, now time.Time) bool {
	return f.Count > 0 && !f.Since.IsZero() && now.Sub(f.Since) < p.Window
}

// Locked reports whether an account with failures f is locked at now.
func (p Lockout) Locked(f Failures, now time.Time) bool {
	return p.MaxFailures > 0 && p.Running(f, now) && f.Count >= p.MaxFailures
}

// Until returns when f's window ends, and with it any lock.
func (p Lockout) Until(f Failures) time.Time { return f.Since.Add(p.Window) }

// UserStore keeps users.
type UserStore interface {
	// User returns the user with the given name (compared case-insensitively);
	// ENOTFOUND when there is none.
	User(ctx context.Context, name string) (User, error)
	// CountFailure counts a failed log-in of the user name at now: in the
	// window running then, or in a new one when none is running (a window
	// runs for window from its first failure). seen is the user's Failures
	// as read at the start of the log-in, or nil when that read found no
	// user: then exactly one request is made, it counts nothing unless the
	// user has appeared since, and the result is ENOTFOUND; so an unknown
	// user costs what a known one does.
	CountFailure(ctx context.Context, name string, seen *Failures, now time.Time, window time.Duration) error
	// ClearFailures forgets a user's failed log-ins, ending any lock.
	// ENOTFOUND when there is no such user.
	ClearFailures(ctx context.Context, name string) error
	// Rehash replaces the user's password hash old with new, unless it has
	// changed meanwhile (ENOTFOUND then, as when there is no such user).
	Rehash(ctx context.Context, name, old, new string) error
}
