package session

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These specify the service's decisions about errors: what code each
// outcome carries, and that the domain carries facts, never wire text.
// The stores are tested against real engines in the dynamo package.

// stubSessions answers every call with err, and counts count live sessions.
type stubSessions struct {
	err   error
	count int
}

func (s stubSessions) Create(context.Context, Record, Lifetime) error { return s.err }
func (s stubSessions) Touch(context.Context, TokenHash, time.Time, Lifetime) (Session, error) {
	return Session{}, s.err
}
func (s stubSessions) Delete(context.Context, TokenHash, time.Time, Lifetime) error { return s.err }
func (s stubSessions) CountLive(context.Context, string, string, time.Time, Lifetime, int) (int, error) {
	return s.count, nil
}

// stubUsers holds one user.
type stubUsers struct{ user User }

func (u stubUsers) User(_ context.Context, name string) (User, error) {
	if UserKey(name) != UserKey(u.user.Name) {
		return User{}, Errorf(ENOTFOUND, "no user")
	}
	return u.user, nil
}
func (stubUsers) Fail(context.Context, string, Class, Failure, time.Time, Lockout) (int, error) {
	return 0, nil
}
func (stubUsers) Lock(context.Context, string, Class, Failures) error { return nil }
func (u stubUsers) Succeed(ctx context.Context, name string, _ Class, _ []Mark, _ string, _ time.Time, _ Lockout) (User, bool, error) {
	user, err := u.User(ctx, name)
	return user, err == nil, err
}
func (stubUsers) ClearFailures(context.Context, string) error          { return nil }
func (stubUsers) Rehash(context.Context, string, string, string) error { return nil }

// plainPasswords "hashes" a password by prefixing it: enough to decide a match.
type plainPasswords struct{}

func (plainPasswords) Verify(hash, password string) (bool, error) {
	return hash == "hash:"+password, nil
}
func (plainPasswords) Decoy() string                        { return "decoy" }
func (plainPasswords) NeedsRehash(string) bool              { return false }
func (plainPasswords) Hash(password string) (string, error) { return "hash:" + password, nil }

const testPassword = "correct horse"

func newTestService(sessions stubSessions, maxSessions int) *Service {
	return &Service{
		Sessions:  sessions,
		Users:     stubUsers{User{Name: "Alice@corp.example", PasswordHash: "hash:" + testPassword}},
		Passwords: plainPasswords{},
		Policy:    Policy{Lifetime: DefaultLifetime, DefaultDomain: "corp.example", MaxSessionsPerUser: maxSessions},
	}
}

func TestAnIDThatNamesNoLiveSessionIsUnauthenticated(t *testing.T) {
	issued, _ := NewToken()
	backend := Unavailable("touch session", errors.New("connection refused"))
	cases := []struct {
		name  string
		rawID string
		store error
		want  string
	}{
		{"NoID", "", nil, EUNAUTHENTICATED},
		{"MalformedID", "not-a-token", nil, EUNAUTHENTICATED},
		{"StoreHasNoSuchSession", string(issued), Errorf(ENOTFOUND, "no session"), EUNAUTHENTICATED},
		{"StoreFailsIsUnavailable", string(issued), backend, EUNAVAILABLE},
		{"Live", string(issued), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := newTestService(stubSessions{err: c.store}, 0)
			_, getErr := svc.Get(context.Background(), c.rawID)
			logoutErr := svc.Logout(context.Background(), c.rawID)
			for op, err := range map[string]error{"Get": getErr, "Logout": logoutErr} {
				if ErrorCode(err) != c.want {
					t.Errorf("%s: %v, want code %q", op, err, c.want)
				}
				if c.store != nil && !errors.Is(err, c.store) {
					t.Errorf("%s: %v lost its cause %v, which the operator's log needs", op, err, c.store)
				}
				if c.rawID != "" && err != nil && strings.Contains(err.Error(), c.rawID) {
					t.Errorf("%s: the error %q carries the session id", op, err)
				}
			}
		})
	}
}

// changingUsers is a user whose revision moves on after it is first read:
// a password reset landing while a log-in is under way.
type changingUsers struct {
	stubUsers
	reads *int
}

func (u changingUsers) User(ctx context.Context, name string) (User, error) {
	user, err := u.stubUsers.User(ctx, name)
	*u.reads++
	user.Revision = strconv.Itoa(*u.reads)
	return user, err
}

func TestRefusedLogInsAreOneCodeWithTheirCauseForTheLog(t *testing.T) {
	cases := []struct {
		name, login, password, cause string
		accountChanges               bool
	}{
		{"UnknownUser", "bob", testPassword, "no such user", false},
		{"WrongPassword", "alice", "wrong", "wrong password", false},
		{"UnacceptableName", "", testPassword, "unacceptable", false},
		{"AccountChangedDuringTheLogIn", "alice", testPassword, "changed during the log-in", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := newTestService(stubSessions{}, 0)
			if c.accountChanges {
				svc.Users = changingUsers{svc.Users.(stubUsers), new(int)}
			}
			_, _, err := svc.Login(context.Background(), c.login, c.password)
			if ErrorCode(err) != EUNAUTHENTICATED || !strings.Contains(err.Error(), c.cause) {
				t.Fatalf("Login = %v, want %s carrying %q", err, EUNAUTHENTICATED, c.cause)
			}
			if strings.Contains(err.Error(), "Authentication required") {
				t.Errorf("Login = %v: vAPI's wording belongs to the HTTP surface", err)
			}
		})
	}
}

func TestLogInAtTheCapCarriesTheFacts(t *testing.T) {
	cases := []struct {
		name     string
		max      int
		existing int
		want     *SessionLimitError
	}{
		{"BelowTheCap", 3, 2, nil},
		{"AtTheCap", 3, 3, &SessionLimitError{Limit: 3, Existing: 3, User: "Alice@corp.example"}},
		{"PastTheCap", 3, 5, &SessionLimitError{Limit: 3, Existing: 5, User: "Alice@corp.example"}},
		{"NoCap", 0, 5, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := newTestService(stubSessions{count: c.existing}, c.max).Login(context.Background(), "ALICE", testPassword)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Login = %v, want a session", err)
				}
				return
			}
			var got *SessionLimitError
			if ErrorCode(err) != ELIMIT || !errors.As(err, &got) || *got != *c.want {
				t.Fatalf("Login = %v (%+v), want %s carrying %+v", err, got, ELIMIT, *c.want)
			}
		})
	}
}
