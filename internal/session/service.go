package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a client may send, checked before any hashing or storage
// call so that no input can make the service do expensive work.
const (
	MaxUserLen     = 256  // bytes of a login name, domain included
	MaxPasswordLen = 1024 // bytes of a password
)

// Passwords checks passwords against stored hashes.
type Passwords interface {
	// Verify reports whether password matches hash.
	Verify(hash, password string) (bool, error)
	// Decoy returns a hash that matches no password and costs as much to
	// verify as a real one: checked when the user does not exist, so that
	// an unknown user takes as long as a wrong password.
	Decoy() string
	// NeedsRehash reports whether hash was made at a lower cost than new
	// hashes are: its user logs in faster than an unknown user would, and
	// is easier to crack.
	NeedsRehash(hash string) bool
	// Hash returns a new hash of password at the current cost.
	Hash(password string) (string, error)
}

// Service is the session service: log in, get, log out.
type Service struct {
	Sessions  SessionStore
	Users     UserStore // only log-in reads users
	Passwords Passwords // only log-in checks passwords
	// Federation checks bearer tokens (LoginBearer); nil: federation off,
	// and every bearer log-in is refused as a bad credential.
	Federation Federation
	Policy
	Now      func() time.Time // the clock; time.Now when nil
	Recorder Recorder         // told of log-ins, refusals, log-outs and failures; none when nil
}

// Policy is the rules a deployment chooses: how long sessions live, how
// log-ins are qualified, limited and locked out.
type Policy struct {
	Lifetime      Lifetime
	DefaultDomain string // qualifies a login name given without a domain
	// Lockout is the brute-force policy; the zero value disables it.
	Lockout Lockout
	// MaxSessionsPerUser caps a user's live sessions; 0 for no cap.
	MaxSessionsPerUser int
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// errBadCredentials is the one code of every failed log-in, whatever the
// cause, so that the answer is no oracle; cause is for the log.
func errBadCredentials(cause error) error {
	return &Error{Code: EUNAUTHENTICATED, Message: "log-in refused", Err: cause}
}

// errNoSession is the one code for a session id that is missing, malformed,
// or names no live session: to a client, each is "log in again".
func errNoSession(cause error) error {
	return &Error{Code: EUNAUTHENTICATED, Message: "no live session", Err: cause}
}

// QualifyName turns a login name into name@domain: "user" gets the default
// domain, "DOMAIN\user" (the Windows form vCenter also accepts) becomes
// "user@DOMAIN". It reports false for a name that cannot be a user: one
// not in the canonical form (canonicalName) among them.
func QualifyName(login, defaultDomain string) (string, bool) {
	name, ok := qualify(login, defaultDomain)
	return name, ok && canonicalName(name)
}

// qualify is QualifyName without the canonical form.
func qualify(login, defaultDomain string) (string, bool) {
	if login == "" || len(login) > MaxUserLen || !utf8.ValidString(login) {
		return "", false
	}
	for _, r := range login {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	if dom, user, ok := strings.Cut(login, `\`); ok {
		if strings.ContainsAny(user, `\@`) {
			return "", false
		}
		login = user + "@" + dom
	} else if !strings.Contains(login, "@") {
		login = login + "@" + defaultDomain
	}
	name, dom, _ := strings.Cut(login, "@")
	if name == "" || dom == "" || strings.Contains(dom, "@") || len(login) > MaxUserLen {
		return "", false
	}
	return login, true
}

// UserKey is the form a user name is looked up by: user names are
// case-insensitive, as in vCenter's identity sources.
func UserKey(name string) string { return strings.ToLower(name) }

// Login checks a user's password and opens a session. The source of the
// log-in is the address in ctx (WithSource).
//
// A session is kept only if the user is unchanged after it is written (the
// write that records the log-in returns the user: its revision), so that
// revoking the user's sessions cannot miss one whose token a client holds
// (docs/SESSIONS.md).
//
// The lockout (docs/SECURITY.md, "Log-in defence") is a counter and a lock
// per account and class of source, kept by conditional writes after the
// password is checked: a wrong password is counted only while its window
// has room, and a right one is let in only while it has room, so however
// many attempts arrive at once no more than Lockout.MaxFailures guesses
// per window are told apart from a refusal. Nothing is reserved and
// nothing waits: a log-in makes a fixed number of storage requests,
// whatever else is happening. Every failure a client could cause (unknown
// user, wrong password, locked class) is the same EUNAUTHENTICATED error
// after the same work: one read of the user, one password verification
// (against the decoy when no password may be checked) with the count of
// the user's live sessions alongside, and one write (Fail), which counts
// a new wrong password and changes nothing otherwise. Only the wrong
// password that fills its window makes a second write, the lock. Only a
// correct password learns of the session cap (ELIMIT).
//
// Each outcome is recorded (Recorder): the log-in, or its refusal with the
// cause the client is not told, a lockout it caused, or a backend failure.
// A name that is no user's is recorded only as MaskName.
func (s *Service) Login(ctx context.Context, login, password string) (Token, Session, error) {
	// A log-in runs to its end once begun: a client that hangs up mid-way
	// leaves no write undone (a wrong password it sent is counted all the
	// same) and is no backend failure. The invocation's deadline, if any,
	// still bounds it.
	deadline, bounded := ctx.Deadline()
	ctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if bounded {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	tok, sess, err := s.login(ctx, login, password)
	s.recordFailure(ctx, "login", err)
	return tok, sess, err
}

func (s *Service) login(ctx context.Context, login, password string) (Token, Session, error) {
	name, ok := QualifyName(login, s.DefaultDomain)
	if !ok || len(password) > MaxPasswordLen {
		s.Record(ctx, Event{Kind: EventLoginRefused, Cause: CauseMalformed, User: MaskName(login)})
		return "", Session{}, errBadCredentials(errors.New("login name or password unacceptable"))
	}
	now := s.now().Truncate(time.Millisecond)
	known := false
	u, err := s.Users.User(ctx, name)
	switch ErrorCode(err) {
	case "":
		known = true
	case ENOTFOUND:
	default:
		return "", Session{}, err
	}
	source := Source(ctx)
	class := Unfamiliar
	if known {
		class = s.Lockout.classOf(u, source, now)
	}
	seen := u.FailuresOf(class)
	locked := known && s.Lockout.Locked(seen, now)
	hash := s.Passwords.Decoy()
	if known && !locked {
		hash = u.PasswordHash
	}

	// The count costs no time of its own: it runs during the verification.
	type counted struct {
		n   int
		err error
	}
	live := make(chan counted, 1)
	go func() {
		n, err := s.countLive(ctx, name, now)
		live <- counted{n, err}
	}()
	match, digest, verr := s.verify(hash, password)
	sessions := <-live
	if sessions.err != nil {
		// Whatever the password: a failure here must not tell a right
		// password from a wrong one.
		return "", Session{}, sessions.err
	}

	var refused error
	var cause Cause
	switch {
	case !known:
		refused, cause = errors.New("no such user"), CauseUnknownUser
	case locked:
		refused, cause = fmt.Errorf("%s sources locked out until %s", class,
			s.Lockout.Until(seen, now).Format(time.RFC3339)), CauseLocked
	case verr != nil:
		// A stored hash we cannot read is the operator's problem, not the
		// client's: log it, answer as for a bad password.
		refused, cause = fmt.Errorf("stored password hash: %w", verr), CauseBadHash
	case !match:
		refused, cause = errors.New("wrong password"), CauseWrongPassword
	}
	if refused != nil {
		return "", Session{}, s.refuse(ctx, login, name, u, known, class, seen, cause, refused, digest, now)
	}

	if s.MaxSessionsPerUser > 0 && sessions.n >= s.MaxSessionsPerUser {
		s.Record(ctx, Event{Kind: EventSessionCap, User: u.Name})
		return "", Session{}, errTooManySessions(s.MaxSessionsPerUser, sessions.n, u.Name)
	}
	tok, err := NewToken()
	if err != nil {
		return "", Session{}, err
	}
	key := u.SourceKey
	if key == "" {
		if key, err = NewSourceKey(); err != nil {
			return "", Session{}, err
		}
	}
	sources := u.Sources
	if d := SourceDigest(key, source); d != "" {
		sources = remember(u.Sources, d, now, s.Lockout.FamiliarFor, MaxSources)
	}
	sess := Session{User: u.Name, Created: now, LastAccessed: now}
	if err := s.Sessions.Create(ctx, Record{Hash: tok.Hash(), Session: sess, Origin: originOf(ctx, MethodPassword)}, s.Lifetime); err != nil {
		return "", Session{}, err
	}
	// The success ends its class's row of locks, only while the class has
	// room: a right password checked while wrong ones filled the window is
	// refused as they are. The write returns the user, whose revision
	// confirms the session.
	after, ok, err := s.Users.Succeed(ctx, name, class, sources, key, now, s.Lockout)
	if err == nil && !ok {
		err = Errorf(ENOTFOUND, "%s sources of %s locked out, or the user removed, during the log-in", class, u.Name)
		s.Record(ctx, Event{Kind: EventLoginRefused, Cause: CauseLocked, User: name, Class: class.String()})
	}
	if err := s.keep(ctx, after, err, u, tok.Hash(), now); err != nil {
		return "", Session{}, err
	}
	s.Record(ctx, Event{Kind: EventLogin, User: u.Name, Session: sessionRef(tok.Hash()), Class: class.String()})
	if s.Passwords.NeedsRehash(u.PasswordHash) {
		// Only now is the password known: bring its hash up to the cost of
		// new ones, so that this user's log-ins take as long as an unknown
		// user's. Best effort: a failure leaves the old hash, and the next
		// log-in tries again.
		if h, err := s.Passwords.Hash(password); err == nil {
			_ = s.Users.Rehash(ctx, name, u.PasswordHash, h)
		}
	}
	return tok, sess, nil
}

// refuse records a refused log-in in the one write every refusal makes
// (UserStore.Fail), which counts a wrong password not tried in the window
// before, and locks the class when that count fills the window.
func (s *Service) refuse(ctx context.Context, login, name string, u User, known bool, class Class, seen Failures,
	cause Cause, refused error, digest string, now time.Time) error {
	var f Failure
	if cause == CauseWrongPassword {
		if seenWithin(u.Stale, digest, now, s.Lockout.Window) {
			// The same wrong password again (a client with an old one
			// saved): it was counted once already.
			cause = CauseRepeatedPassword
		} else {
			f = Failure{Digest: digest, Stale: remember(u.Stale, digest, now, s.Lockout.Window, MaxStale), Earlier: []int64{seen.Window, seen.Older}}
		}
	}
	var lock Failures
	if s.Lockout.MaxFailures > 0 {
		n, err := s.Users.Fail(ctx, name, class, f, now, s.Lockout)
		if err != nil {
			return err
		}
		if f.Digest != "" && n == 0 {
			// Not counted: the window filled, or the same password was
			// counted, between this log-in's read and its write.
			cause = CauseNotCounted
		}
		// The count that fills the window locks it: this store's (n), or,
		// where the store sums several regions' counts into seen (docs/
		// REGIONS.md), the sum with this one. In one region n is never
		// below that sum, so the second test adds nothing there.
		if n >= s.Lockout.MaxFailures || (n > 0 && s.Lockout.Counted(seen, now)+1 >= s.Lockout.MaxFailures) {
			lock = s.Lockout.lock(seen, now)
			if err := s.Users.Lock(ctx, name, class, lock); err != nil {
				return err
			}
		}
	}
	user := name
	if !known {
		user = MaskName(login)
	}
	s.Record(ctx, Event{Kind: EventLoginRefused, Cause: cause, User: user, Class: class.String()})
	if !lock.Until.IsZero() {
		s.Record(ctx, Event{Kind: EventLockout, User: u.Name, Until: lock.Until, Class: class.String()})
	}
	return errBadCredentials(refused)
}

// countLive counts the local user's live sessions when there is a cap to
// check.
func (s *Service) countLive(ctx context.Context, name string, now time.Time) (int, error) {
	if s.MaxSessionsPerUser <= 0 {
		return 0, nil
	}
	return s.Sessions.CountLive(ctx, name, "", now, s.Lifetime, s.MaxSessionsPerUser)
}

// errTooManySessions refuses a log-in past the per-user cap.
func errTooManySessions(limit, existing int, user string) error {
	return &Error{Code: ELIMIT, Err: &SessionLimitError{Limit: limit, Existing: existing, User: user}}
}

// errMalformedID is why an id that is absent or not of the issued form
// names no session; the id itself is a secret and never goes in an error.
var errMalformedID = errors.New("session id absent or malformed")

// Get returns the session named by a raw session id and counts as its use.
func (s *Service) Get(ctx context.Context, rawID string) (Session, error) {
	tok, ok := ParseToken(rawID)
	if !ok {
		return Session{}, errNoSession(errMalformedID)
	}
	sess, err := s.Sessions.Touch(ctx, tok.Hash(), s.now().Truncate(time.Millisecond), s.Lifetime)
	if ErrorCode(err) == ENOTFOUND {
		return Session{}, errNoSession(err)
	}
	s.recordFailure(ctx, "get", err)
	return sess, err
}

// Logout ends the session named by a raw session id.
func (s *Service) Logout(ctx context.Context, rawID string) error {
	tok, ok := ParseToken(rawID)
	if !ok {
		return errNoSession(errMalformedID)
	}
	err := s.Sessions.Delete(ctx, tok.Hash(), s.now().Truncate(time.Millisecond), s.Lifetime)
	if ErrorCode(err) == ENOTFOUND {
		return errNoSession(err)
	}
	if err == nil {
		s.Record(ctx, Event{Kind: EventLogout, Session: sessionRef(tok.Hash())})
	}
	s.recordFailure(ctx, "logout", err)
	return err
}
