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
	// Fail records a refused log-in of the user name from sources of
	// class c at now, in one UpdateItem whatever the refusal was, so that
	// every refusal costs the same. With f.Digest "" it changes nothing
	// (its condition never holds). Otherwise it counts the wrong password
	// in the window of now and keeps f.Stale, on condition that the class
	// is not locked, its window holds fewer than p.MaxFailures, and no
	// write has remembered f.Digest within p.Window. It returns the
	// window's count after the write: 0 when nothing was counted.
	Fail(ctx context.Context, name string, c Class, f Failure, now time.Time, p Lockout) (int, error)
	// Lock sets class c's lock to lock.Until and lock.Streak, in one
	// UpdateItem, unless a lock that ends later is set: what the wrong
	// password that filled a window does.
	Lock(ctx context.Context, name string, c Class, lock Failures) error
	// Succeed records a right password from class c at now in one
	// conditional UpdateItem that is also the read confirming the log-in:
	// if the class is neither locked nor full under p, it ends the class's
	// row of locks, keeps sources as the user's familiar sources (and key,
	// unless the user has one), and returns the user as it is after it,
	// and true. It returns false when the condition fails: the class
	// filled or locked since the log-in's read, or the user is gone.
	Succeed(ctx context.Context, name string, c Class, sources []Mark, key string, now time.Time, p Lockout) (User, bool, error)
	// ClearFailures forgets a user's failed log-ins in every class, ending
	// any lock and its streak. ENOTFOUND when there is no such user.
	ClearFailures(ctx context.Context, name string) error
	// Rehash replaces the user's password hash old with new, unless it has
	// changed meanwhile (ENOTFOUND then, as when there is no such user).
	Rehash(ctx context.Context, name, old, new string) error
}
