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

// Failures counts a user's log-in attempts from one class of sources in
// one window, and the locks that followed them.
type Failures struct {
	// Count is the attempts counted in the window: reserved before their
	// password is checked, given back for a right or a stale password.
	Count int
	// Pending is how many of them are in flight: reserved, not yet
	// settled. It belongs to the window and is forgotten with it, so that
	// an invocation that died between reserving and settling holds its
	// attempt no longer than the window.
	Pending int
	// Settled is how many attempts of the window have settled: a log-in
	// waiting for attempts in flight sees by it that they are moving.
	Settled int
	Since   time.Time // when the window began: its first attempt; zero if none
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

// Lockout is the log-in defence (docs/SECURITY.md): per account and class
// of source, at most MaxFailures passwords are checked in a window. A
// window begins at an attempt when none is running, lasts Window, and is
// then forgotten without any clean-up; the attempt that fills it with a
// wrong password locks the class until the window ends, and at least
// LockFor, twice as long for each lock in a row, up to LockMax. A right
// password gives back its own attempt and ends its class's row of locks,
// but forgives no wrong password of the window (otherwise each of the
// owner's log-ins would give whoever shares their class a fresh set of
// guesses); an admin's unlock forgives every class.
type Lockout struct {
	MaxFailures int           // attempts checked per window; 0 disables the lockout
	Window      time.Duration // how long a window lasts from its first attempt
	LockFor     time.Duration // the first lock in a row lasts at least this
	LockMax     time.Duration // no lock lasts longer; a lock that ended this long ago breaks the row
	FamiliarFor time.Duration // a source with a log-in this recent is familiar
}

// DefaultLockout checks at most 5 passwords per class in 15 minutes; locks
// last 15 minutes, doubling in a row up to a day; a source is familiar for
// 30 days after a log-in from it.
var DefaultLockout = Lockout{MaxFailures: 5, Window: 15 * time.Minute, LockFor: 15 * time.Minute,
	LockMax: 24 * time.Hour, FamiliarFor: 720 * time.Hour}

// Running reports whether f's window is still running at now.
func (p Lockout) Running(f Failures, now time.Time) bool {
	return f.Count > 0 && !f.Since.IsZero() && now.Sub(f.Since) < p.Window
}

// Locked reports whether a class with failures f refuses attempts at now:
// it is locked, or its window is full.
func (p Lockout) Locked(f Failures, now time.Time) bool {
	return p.MaxFailures > 0 && (now.Before(f.Until) || p.Running(f, now) && f.Count >= p.MaxFailures)
}

// Busy reports whether a class with failures f refuses attempts at now
// while attempts are still in flight in its window: some of them may be
// right passwords, which give their attempt back when they settle (and
// lift a lock that a wrong password set by filling the window with them).
// An attempt that finds its class busy waits for them (BusyWait) rather
// than being refused at once; a class locked or full with nothing in
// flight is refused at once.
func (p Lockout) Busy(f Failures, now time.Time) bool {
	return p.Locked(f, now) && f.Pending > 0
}

// Retry reports whether a reservation refused with its class at f is
// worth trying again: the class is busy, or it has room that other
// attempts took between this one's tries.
func (p Lockout) Retry(f Failures, now time.Time) bool {
	return p.Busy(f, now) || !p.Locked(f, now)
}

// BusyWait bounds how long a log-in waits for attempts in flight when its
// class is busy, retrying its reservation with jittered backoff, while none
// of them settles. An attempt holds its reservation for about one argon2id
// verification and two DynamoDB writes: ~100 ms on Lambda at 1769 MB
// (docs/BENCHMARKS.md), and on a two-core machine at load 7 five
// verifications at once took 520 ms. As long as attempts keep settling
// the log-in keeps waiting, up to MaxBusyWait in all; so a burst of any
// size passes Lockout.MaxFailures at a time, and only reservations that
// never settle (their invocations died) make it give up, after BusyWait,
// and only until their window ends.
const BusyWait = 2 * time.Second

// MaxBusyWait bounds a log-in's wait in all; it also ends busyReserve
// before the invocation's deadline (the create function's timeout is 5 s),
// so that a log-in that waited can still check its password and answer.
const MaxBusyWait = 10 * time.Second

// busyReserve is the time a log-in keeps back from its deadline for its
// own password check and writes after a wait.
const busyReserve = time.Second

// busyBackoff is the longest pause between two tries of a busy class:
// each pause is drawn at random below a bound that starts at 10 ms and
// doubles, so that attempts waiting together do not retry in step.
const busyBackoff = 100 * time.Millisecond

// Until returns when a class with failures f, locked at now, takes
// attempts again.
func (p Lockout) Until(f Failures, now time.Time) time.Time {
	u := f.Until
	if p.Running(f, now) && f.Count >= p.MaxFailures && f.Since.Add(p.Window).After(u) {
		u = f.Since.Add(p.Window)
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

// lock is the lock an attempt that filled the window w with a wrong
// password sets, given the class's failures seen before it.
func (p Lockout) lock(seen Failures, w Failures, now time.Time) Failures {
	streak := 1
	if !seen.Until.IsZero() && now.Sub(seen.Until) < p.LockMax {
		streak = seen.Streak + 1
	}
	until := now.Add(p.LockLength(streak))
	if end := w.Since.Add(p.Window); end.After(until) {
		until = end
	}
	return Failures{Count: w.Count, Since: w.Since, Until: until, Streak: streak}
}

// Settlement is what a reserved (or refused) attempt turned out to be.
type Settlement struct {
	// Window is the window the attempt was counted in, as Reserve returned
	// it; zero for an attempt refused without a reservation, whose
	// settlement is a request that changes nothing.
	Window Failures
	// Refund gives the attempt back: its password was a recent wrong one,
	// which counts once.
	Refund bool
	// Lock, when its Until is set, locks the class: the attempt filled its
	// window with a wrong password. The lock is kept only if the window is
	// still that full when the attempt settles: a right password in flight
	// that has given its attempt back since did not fill it.
	Lock Failures
	// Stale, when not nil, replaces the recent wrong passwords.
	Stale []Mark
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
