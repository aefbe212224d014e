package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// User is an account that may log in.
type User struct {
	Name         string // canonical name@domain, as the session reports it
	PasswordHash string // argon2id PHC string
	// Failures counts the failed log-ins from sources unfamiliar to the
	// account, FamiliarFailures those from its familiar ones: each class
	// has its own window and lock (docs/SECURITY.md, "Log-in defence").
	Failures         Failures
	FamiliarFailures Failures
	// Sources are the familiar sources: keyed digests (SourceDigest) of the
	// addresses the account logged in from, each with its last success;
	// at most MaxSources. Never an address.
	Sources []Mark
	// Stale are the recent wrong passwords, as digests made with the
	// password hash's own salt and cost (never a password), each with when
	// it was last tried; at most MaxStale, each forgotten after a window.
	Stale []Mark
	// SourceKey keys the digests of Sources; "" until the first log-in.
	SourceKey string
	// Revision changes whenever the user's sessions must end: a new
	// password, an operator ending them all, a removal and adding again.
	// A log-in keeps its session only if it is unchanged (Service.Login).
	// Users stored before it existed have "".
	Revision string
}

// FailuresOf returns the user's failures in class c.
func (u User) FailuresOf(c Class) Failures {
	if c == Familiar {
		return u.FamiliarFailures
	}
	return u.Failures
}

// Class is the class of the source of a log-in, as the account knows it.
type Class int

// The classes of sources: each has its own counter and lock, so that
// failures from strangers never lock the owner out of their usual sources.
const (
	Unfamiliar Class = iota // any source the account has not logged in from lately
	Familiar                // a source the account logged in from within Lockout.FamiliarFor
)

// Classes lists every Class.
var Classes = []Class{Unfamiliar, Familiar}

func (c Class) String() string {
	if c == Familiar {
		return "familiar"
	}
	return "unfamiliar"
}

// Failures is a user's log-in failures from one class of sources: the
// wrong passwords counted in the latest window, and the locks that
// followed them.
type Failures struct {
	// Window is the window Count belongs to (Lockout.WindowOf); a count of
	// an earlier window is no longer in force.
	Window int64
	// Count is how many wrong passwords were counted in Window.
	Count int
	// Older is the oldest window of a count still stored before Window's
	// (0: none): what the next count removes, with Window if that is old.
	Older int64
	// Until is when the class's last lock ends (or ended); zero if none.
	Until time.Time
	// Streak is how many locks in a row Until ends: each lasts longer.
	Streak int
}

// Mark is a digest with when it was last seen.
type Mark struct {
	Digest string
	At     time.Time
}

// Bounds on what a user item keeps.
const (
	MaxSources = 8 // familiar sources kept: the most recent
	MaxStale   = 8 // recent wrong passwords kept: the most recent
)

// Lockout is the log-in defence (docs/SECURITY.md): a counter and a lock
// per account and class of source, as Entra ID's smart lockout and
// Keycloak's brute-force detection are. Time is cut into windows of
// Window, counted from the Unix epoch. At most MaxFailures wrong passwords
// are counted per window, each in one conditional write after its check,
// and a right password is let in only while its window is not full (by
// the condition of the write that records it): so however many arrive at
// once, no more than MaxFailures guesses per window can be told apart
// from a refusal. The wrong password that fills a window locks the class
// until the window ends, and at least LockFor, twice as long for each lock
// in a row, up to LockMax. A right password ends its class's row of
// locks, but forgives no wrong password of the window (otherwise each of
// the owner's log-ins would give whoever shares their class fresh
// guesses); an admin's unlock forgives every class. Nothing is reserved
// and nothing waits.
type Lockout struct {
	MaxFailures int           // wrong passwords counted per window; 0 disables the lockout
	Window      time.Duration // the length of a window
	LockFor     time.Duration // the first lock in a row lasts at least this
	LockMax     time.Duration // no lock lasts longer; a lock that ended this long ago breaks the row
	FamiliarFor time.Duration // a source with a log-in this recent is familiar
}

// DefaultLockout counts at most 5 wrong passwords per class in 15 minutes;
// locks last 15 minutes, doubling in a row up to a day; a source is
// familiar for 30 days after a log-in from it.
var DefaultLockout = Lockout{MaxFailures: 5, Window: 15 * time.Minute, LockFor: 15 * time.Minute,
	LockMax: 24 * time.Hour, FamiliarFor: 720 * time.Hour}

// WindowOf is the window now falls in: windows are consecutive, of
// p.Window each, from the Unix epoch, so that every log-in and every
// engine agree on it without a write that starts one.
func (p Lockout) WindowOf(now time.Time) int64 {
	w := p.Window.Milliseconds()
	if w <= 0 {
		return 0
	}
	return now.UnixMilli() / w
}

// WindowEnd is when the window now falls in ends.
func (p Lockout) WindowEnd(now time.Time) time.Time {
	return time.UnixMilli((p.WindowOf(now) + 1) * p.Window.Milliseconds()).UTC()
}

// Counted is how many wrong passwords f holds in the window of now.
func (p Lockout) Counted(f Failures, now time.Time) int {
	if f.Window != p.WindowOf(now) {
		return 0
	}
	return f.Count
}

// Locked reports whether a class with failures f refuses attempts at now:
// it is locked, or its window is full.
func (p Lockout) Locked(f Failures, now time.Time) bool {
	return p.MaxFailures > 0 && (now.Before(f.Until) || p.Counted(f, now) >= p.MaxFailures)
}

// Until returns when a class with failures f, locked at now, takes
// attempts again.
func (p Lockout) Until(f Failures, now time.Time) time.Time {
	u := f.Until
	if p.Counted(f, now) >= p.MaxFailures && p.WindowEnd(now).After(u) {
		u = p.WindowEnd(now)
	}
	return u
}

// LockLength is how long the streak-th lock in a row lasts (streak ≥ 1).
func (p Lockout) LockLength(streak int) time.Duration {
	d := p.LockFor
	for i := 1; i < streak && d < p.LockMax; i++ {
		d *= 2
	}
	return min(d, p.LockMax)
}

// lock is the lock a wrong password that filled its window at now sets,
// given the class's failures seen before it: it lasts LockLength of its
// place in the row, and at least to the window's end.
func (p Lockout) lock(seen Failures, now time.Time) Failures {
	streak := 1
	if !seen.Until.IsZero() && now.Sub(seen.Until) < p.LockMax {
		streak = seen.Streak + 1
	}
	until := now.Add(p.LockLength(streak))
	if end := p.WindowEnd(now); end.After(until) {
		until = end
	}
	return Failures{Until: until, Streak: streak}
}

// Failure is what a refused log-in asks the store to count
// (UserStore.Fail): a wrong password not tried in the window before, or
// nothing (Digest ""): an unknown user, a locked class, a repeat.
type Failure struct {
	// Digest is the wrong password's digest (Service.verify); counted
	// only if no write has remembered it within the window.
	Digest string
	// Stale replaces the recent wrong passwords: Digest among them.
	Stale []Mark
	// Earlier are the windows of the class's counts as the log-in read
	// them (Failures.Window and Older): those before the last window go.
	// The last window's stays, so that a log-in that began in it and
	// writes late still meets its count.
	Earlier []int64
}

// SourcePrefix is the part of an address that names a source: an IPv4
// address, or an IPv6 address's /64 (one subscriber's network); "" for
// what is not an address.
func SourcePrefix(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// SourceDigest is the keyed digest a familiar source is kept as: 64 bits
// of HMAC-SHA256 of its prefix under the user's key; "" for no source.
func SourceDigest(key, addr string) string {
	prefix := SourcePrefix(addr)
	if prefix == "" || key == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(prefix))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// NewSourceKey returns a fresh random key for a user's source digests.
func NewSourceKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Errorf(EUNAVAILABLE, "read random key: %v", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// classOf is the class of the source addr for user u at now.
func (p Lockout) classOf(u User, addr string, now time.Time) Class {
	d := SourceDigest(u.SourceKey, addr)
	if d == "" {
		return Unfamiliar
	}
	for _, m := range u.Sources {
		if m.Digest == d && now.Sub(m.At) < p.FamiliarFor {
			return Familiar
		}
	}
	return Unfamiliar
}

// remember returns marks with d marked at now, those older than life
// dropped, and at most max of the newest kept.
func remember(marks []Mark, d string, now time.Time, life time.Duration, max int) []Mark {
	out := []Mark{{Digest: d, At: now}}
	for _, m := range marks {
		if m.Digest != d && now.Sub(m.At) < life {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b Mark) int { return b.At.Compare(a.At) })
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// seenWithin reports whether marks hold d, marked less than life before now.
func seenWithin(marks []Mark, d string, now time.Time, life time.Duration) bool {
	for _, m := range marks {
		if m.Digest == d && now.Sub(m.At) < life {
			return true
		}
	}
	return false
}

// Digester is a Passwords that can also tell a password it checked by a
// digest as costly to reverse as the stored hash (the argon2id key derived
// with the hash's own salt and cost), at no extra cost.
type Digester interface {
	VerifyDigest(hash, password string) (match bool, digest []byte, err error)
}

// verify checks password against hash, and returns the digest a wrong one
// is remembered by (Stale).
func (s *Service) verify(hash, password string) (bool, string, error) {
	if d, ok := s.Passwords.(Digester); ok {
		match, digest, err := d.VerifyDigest(hash, password)
		sum := sha256.Sum256(digest)
		return match, hex.EncodeToString(sum[:8]), err
	}
	match, err := s.Passwords.Verify(hash, password)
	m := hmac.New(sha256.New, []byte(hash))
	m.Write([]byte(password))
	return match, hex.EncodeToString(m.Sum(nil)[:8]), err
}

// MaskName is a login name that names no user (or may be a password typed
// in its place) as logs, metrics and the audit trail may keep it: its
// length and 16 bits of its SHA-256, enough to see one name tried again
// and again, never enough to read it back (a dictionary of passwords leaves
// tens of thousands of candidates for each).
func MaskName(login string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(login)))
	return "~" + strconv.Itoa(len(login)) + ":" + hex.EncodeToString(sum[:2])
}
