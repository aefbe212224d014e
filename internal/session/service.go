package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
// write that settles the log-in returns the user: its revision), so that
// revoking the user's sessions cannot miss one whose token a client holds
// (docs/SESSIONS.md).
//
// The lockout (docs/SECURITY.md, "Log-in defence") is kept by reserving
// every attempt before its password is checked, in one conditional write
// per account and class of source, and settling it after: however many
// attempts arrive at once, no more than Lockout.MaxFailures wrong
// passwords are checked per window. A class refusing while attempts are
// still in flight makes the log-in wait for them (reserve), so that right
// passwords sent at once never refuse each other. Every failure a client
// could cause — unknown user, wrong password, locked class — is the same
// EUNAUTHENTICATED error after the same work: one read of the user, one
// reservation (refused by its condition for an unknown user or a locked
// class; more only while other attempts are in flight), one password
// verification (against the decoy when no password may be checked) with
// the count of the user's live sessions alongside, and one write that
// settles the attempt (refused by its condition when there is nothing to
// settle). Only a correct password learns of the session cap (ELIMIT).
//
// Each outcome is recorded (Recorder): the log-in, or its refusal with the
// cause the client is not told, a lockout it caused, or a backend failure.
// A name that is no user's is recorded only as MaskName.
func (s *Service) Login(ctx context.Context, login, password string) (Token, Session, error) {
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

	// The attempt is counted before its password is checked.
	lockout := s.Lockout.MaxFailures > 0
	reserved, window := known, Failures{}
	if lockout {
		var guess *Failures
		if known {
			guess = &seen
		}
		window, reserved, err = s.reserve(ctx, name, class, guess, now)
		switch ErrorCode(err) {
		case "":
		case ENOTFOUND:
			reserved = false
		default:
			return "", Session{}, err
		}
		if !reserved && window != (Failures{}) {
			seen = window // what the refusal is reported against
		}
	}
	hash := s.Passwords.Decoy()
	if known && reserved {
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
	case !reserved:
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
		var st Settlement
		if known && reserved {
			st.Window = window
			switch {
			case cause == CauseWrongPassword && seenWithin(u.Stale, digest, now, s.Lockout.Window):
				// The same wrong password again (a client with an old
				// one saved): it was counted once already.
				st.Refund, cause = true, CauseRepeatedPassword
			case cause == CauseWrongPassword:
				st.Stale = remember(u.Stale, digest, now, s.Lockout.Window, MaxStale)
				if window.Count >= s.Lockout.MaxFailures {
					st.Lock = s.Lockout.lock(seen, window, now)
				}
			}
		}
		if lockout {
			if err := s.Users.Settle(ctx, name, class, st); err != nil && ErrorCode(err) != ENOTFOUND {
				return "", Session{}, err
			}
		}
		user := name
		if !known {
			user = MaskName(login)
		}
		s.Record(ctx, Event{Kind: EventLoginRefused, Cause: cause, User: user, Class: class.String()})
		if !st.Lock.Until.IsZero() {
			s.Record(ctx, Event{Kind: EventLockout, User: u.Name, Until: st.Lock.Until, Class: class.String()})
		}
		return "", Session{}, errBadCredentials(refused)
	}

	if s.MaxSessionsPerUser > 0 && sessions.n >= s.MaxSessionsPerUser {
		// A right password is no failure: its attempt is given back.
		if lockout {
			if err := s.Users.Settle(ctx, name, class, Settlement{Window: window, Refund: true}); err != nil && ErrorCode(err) != ENOTFOUND {
				return "", Session{}, err
			}
		}
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
	// The success gives back its attempt and ends its class's row of
	// locks; the write returns the user, whose revision confirms the
	// session.
	after, err := s.Users.Succeed(ctx, name, class, window, sources, key, now)
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

// reserve reserves a log-in attempt (UserStore.Reserve). A class that is
// busy — refusing while attempts are still in flight, some of which may be
// right passwords that will give theirs back — or that had room but lost
// it to other attempts between this one's tries, is tried again with
// jittered backoff as long as attempts keep settling (none for BusyWait
// ends the wait), up to MaxBusyWait in all and busyReserve before ctx's
// deadline, so that right passwords sent at once are never refused
// because of each other. A class that is locked, or full of attempts
// already settled, is refused at once, as before: the wait never happens
// unless other attempts of the same account and class are in flight at
// that moment. When the wait ends, or ctx does, the attempt is refused as
// locked.
func (s *Service) reserve(ctx context.Context, name string, class Class, seen *Failures, now time.Time) (Failures, bool, error) {
	window, ok, err := s.Users.Reserve(ctx, name, class, seen, now, s.Lockout)
	if ok || err != nil || !s.Lockout.Retry(window, now) {
		return window, ok, err
	}
	start := time.Now()
	end := start.Add(MaxBusyWait)
	if d, ok := ctx.Deadline(); ok && d.Add(-busyReserve).Before(end) {
		end = d.Add(-busyReserve)
	}
	stalled := start.Add(BusyWait) // when the wait ends unless an attempt settles
	pause := 10 * time.Millisecond
	for s.Lockout.Retry(window, now) {
		d := rand.N(pause) + time.Millisecond
		if at := time.Now().Add(d); at.After(end) || at.After(stalled) {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return window, false, nil
		case <-t.C:
		}
		pause = min(2*pause, busyBackoff)
		last := window
		window, ok, err = s.Users.Reserve(ctx, name, class, &last, now, s.Lockout)
		if ok || err != nil {
			return window, ok, err
		}
		if window.Settled != last.Settled || !window.Since.Equal(last.Since) {
			stalled = time.Now().Add(BusyWait)
		}
	}
	return window, false, nil
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
