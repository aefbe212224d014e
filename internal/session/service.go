package session

import (
	"context"
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
}

// Service is the session service: log in, get, log out.
type Service struct {
	Sessions      SessionStore
	Users         UserStore
	Passwords     Passwords
	Lifetime      Lifetime
	DefaultDomain string           // qualifies a login name given without a domain
	Now           func() time.Time // the clock; time.Now when nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// errBadCredentials is the one answer to every failed log-in, whatever the
// cause, so that the answer is no oracle.
func errBadCredentials() error {
	return Errorf(EUNAUTHENTICATED, "Authentication required.")
}

// errNoSession is the one answer for a session that is missing, expired or
// deleted.
func errNoSession() error {
	return Errorf(EUNAUTHENTICATED, "Authentication required.")
}

// QualifyName turns a login name into name@domain: "user" gets the default
// domain, "DOMAIN\user" (the Windows form vCenter also accepts) becomes
// "user@DOMAIN". It reports false for a name that cannot be a user.
func QualifyName(login, defaultDomain string) (string, bool) {
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

// Login checks a user's password and opens a session. Every failure a client
// could cause is the same EUNAUTHENTICATED error.
func (s *Service) Login(ctx context.Context, login, password string) (Token, Session, error) {
	name, ok := QualifyName(login, s.DefaultDomain)
	if !ok || len(password) > MaxPasswordLen {
		return "", Session{}, errBadCredentials()
	}
	u, err := s.Users.User(ctx, name)
	switch ErrorCode(err) {
	case "":
	case ENOTFOUND:
		// Spend the time a real check would, then fail the same way.
		_, _ = s.Passwords.Verify(s.Passwords.Decoy(), password)
		return "", Session{}, errBadCredentials()
	default:
		return "", Session{}, err
	}
	match, err := s.Passwords.Verify(u.PasswordHash, password)
	if err != nil {
		// A stored hash we cannot read is the operator's problem, not the
		// client's: log it, answer as for a bad password.
		return "", Session{}, &Error{Code: EUNAUTHENTICATED, Message: "Authentication required.", Err: err}
	}
	if !match {
		return "", Session{}, errBadCredentials()
	}
	tok, err := NewToken()
	if err != nil {
		return "", Session{}, err
	}
	now := s.now().Truncate(time.Millisecond)
	sess := Session{User: u.Name, Created: now, LastAccessed: now}
	if err := s.Sessions.Create(ctx, Record{Hash: tok.Hash(), Session: sess}, s.Lifetime); err != nil {
		return "", Session{}, err
	}
	return tok, sess, nil
}

// Get returns the session named by a raw session id and counts as its use.
func (s *Service) Get(ctx context.Context, rawID string) (Session, error) {
	tok, ok := ParseToken(rawID)
	if !ok {
		return Session{}, errNoSession()
	}
	sess, err := s.Sessions.Touch(ctx, tok.Hash(), s.now().Truncate(time.Millisecond), s.Lifetime)
	if ErrorCode(err) == ENOTFOUND {
		return Session{}, errNoSession()
	}
	return sess, err
}

// Logout ends the session named by a raw session id.
func (s *Service) Logout(ctx context.Context, rawID string) error {
	tok, ok := ParseToken(rawID)
	if !ok {
		return errNoSession()
	}
	err := s.Sessions.Delete(ctx, tok.Hash(), s.now().Truncate(time.Millisecond), s.Lifetime)
	if ErrorCode(err) == ENOTFOUND {
		return errNoSession()
	}
	return err
}
