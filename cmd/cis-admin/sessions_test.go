package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/session"
)

// quiet keeps revocations short in tests: the local engines update their
// indexes with the write, so there is no lag to wait out.
const quiet = "-quiet=50ms"

// service is the whole service over a fixture's tables, as `make run` serves
// it, with the admin tool pointed at the same tables.
type service struct {
	t   *testing.T
	f   dynamotest.Fixture
	url string
	svc *session.Service
}

func newService(t *testing.T, srv *localdynamo.Server) *service {
	f := dynamotest.Setup(t, srv)
	t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
	t.Setenv(config.EnvUsersTable, f.Tables.Users)
	cfg := f.Config(t, nil)
	log := slog.New(slog.NewJSONHandler(logscan.Writer(), nil))
	hs := httptest.NewServer(logscan.Recording(local.Handler(cfg, f.DB, log)))
	t.Cleanup(hs.Close)
	return &service{t: t, f: f, url: hs.URL, svc: local.Service(cfg, f.DB)}
}

// adminOK runs the admin tool and fails the test if it fails.
func (s *service) adminOK(stdin string, args ...string) string {
	s.t.Helper()
	out, err := admin(s.t, stdin, append([]string{quiet}, args...)...)
	if err != nil {
		s.t.Fatalf("cis-admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// login logs in on a surface ("api" or "rest") and returns the session id.
func (s *service) login(surface, user, pass string) (string, int) {
	s.t.Helper()
	logscan.Secret(pass)
	path := map[string]string{"api": "/api/session", "rest": "/rest/com/vmware/cis/session"}[surface]
	req, _ := http.NewRequest("POST", s.url+path, nil)
	req.SetBasicAuth(user, pass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		return "", res.StatusCode
	}
	var id string
	if surface == "api" {
		err = json.NewDecoder(res.Body).Decode(&id)
	} else {
		var v struct{ Value string }
		err = json.NewDecoder(res.Body).Decode(&v)
		id = v.Value
	}
	if err != nil || id == "" {
		s.t.Fatalf("log-in on %s: %v, id %q", surface, err, id)
	}
	logscan.Secret(id)
	return id, res.StatusCode
}

// get asks for the session id on a surface and returns the status.
func (s *service) get(surface, id string) int {
	s.t.Helper()
	path := map[string]string{"api": "/api/session", "rest": "/rest/com/vmware/cis/session"}[surface]
	req, _ := http.NewRequest("GET", s.url+path, nil)
	req.Header.Set("vmware-api-session-id", id)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// wantOnEverySurface checks the status a get of every id answers on both
// surfaces.
func (s *service) wantOnEverySurface(ids []string, want int, when string) {
	s.t.Helper()
	for _, id := range ids {
		for _, surface := range []string{"api", "rest"} {
			if got := s.get(surface, id); got != want {
				s.t.Errorf("%s: get on /%s = %d, want %d", when, surface, got, want)
			}
		}
	}
}

func TestChangingAnAccountEndsItsSessionsOnEverySurface(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		s := newService(t, srv)
		cases := []struct {
			name string
			// change changes the account of user, whose password is pw.
			change func(user, pw string) string
			// then checks what the user may do afterwards.
			then func(user, pw string)
		}{
			{"ResetPassword", func(user, _ string) string {
				return s.adminOK("new-Password-2\n", "reset-password", user)
			}, func(user, pw string) {
				if _, st := s.login("api", user, pw); st != 401 {
					t.Errorf("log-in with the old password = %d, want 401", st)
				}
				if id, st := s.login("api", user, "new-Password-2"); st != 201 || s.get("rest", id) != 200 {
					t.Errorf("log-in with the new password = %d", st)
				}
			}},
			{"RemoveUser", func(user, _ string) string {
				return s.adminOK("", "remove-user", user)
			}, func(user, pw string) {
				if _, st := s.login("api", user, pw); st != 401 {
					t.Errorf("log-in of a removed user = %d, want 401", st)
				}
			}},
			{"RemoveUserAndAddAgainUnderTheSameName", func(user, pw string) string {
				out := s.adminOK("", "remove-user", user)
				s.adminOK(pw+"\n", "add-user", strings.ToUpper(user))
				return out
			}, func(user, pw string) {
				if id, st := s.login("rest", user, pw); st != 200 || s.get("api", id) != 200 {
					t.Errorf("log-in of the new user = %d", st)
				}
			}},
			{"EndSessions", func(user, _ string) string {
				return s.adminOK("", "end-sessions", user)
			}, func(user, pw string) {
				if id, st := s.login("api", user, pw); st != 201 || s.get("api", id) != 200 {
					t.Errorf("log-in after end-sessions = %d, want 201: the account itself is unchanged", st)
				}
			}},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				user, pw := "user"+string(rune('a'+i))+"@corp.example", "Pass-word-"+c.name
				s.adminOK(pw+"\n", "add-user", user)
				other := "bystander" + string(rune('a'+i)) + "@corp.example"
				s.adminOK(pw+"\n", "add-user", other)
				var ids []string
				for _, surface := range []string{"api", "rest", "api"} {
					id, st := s.login(surface, user, pw)
					if id == "" {
						t.Fatalf("log-in on %s = %d", surface, st)
					}
					ids = append(ids, id)
				}
				theirs, _ := s.login("api", other, pw)
				s.wantOnEverySurface(ids, 200, "before")

				out := c.change(user, pw)
				if !strings.Contains(out, "3 sessions ended") && !strings.Contains(out, "ended 3 sessions") {
					t.Errorf("the command said %q, want it to report 3 sessions ended", out)
				}
				s.wantOnEverySurface(ids, 401, "after "+c.name)
				s.wantOnEverySurface([]string{theirs}, 200, "another user's session after "+c.name)
				c.then(user, pw)
			})
		}
	})
}

func TestListAndEndOneSession(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		s := newService(t, srv)
		const pw = "Pass-word-list"
		s.adminOK(pw+"\n", "add-user", "carol@corp.example")
		a, _ := s.login("api", "carol@corp.example", pw)
		b, _ := s.login("rest", "CAROL@corp.example", pw)

		out := s.adminOK("", "list-sessions", "carol@corp.example")
		for _, id := range []string{a, b} {
			if strings.Contains(strings.ToLower(out), strings.ToLower(id)) {
				t.Fatalf("list-sessions printed a session id:\n%s", out)
			}
		}
		hashA := session.Token(a).Hash().String()
		hashB := session.Token(b).Hash().String()
		for _, h := range []string{hashA, hashB} {
			if !strings.Contains(out, h[:session.HashPrefixLen]) {
				t.Fatalf("list-sessions does not name session %s:\n%s", h[:session.HashPrefixLen], out)
			}
		}
		if !strings.Contains(out, "HASH") || !strings.Contains(out, "IDLE EXPIRY") || !strings.Contains(out, "2 sessions, 2 live") {
			t.Fatalf("list-sessions output lacks its header or summary:\n%s", out)
		}

		// A prefix of no session, an unknown user, a malformed prefix.
		unknown := "0"
		for strings.HasPrefix(hashA, unknown) || strings.HasPrefix(hashB, unknown) {
			unknown = string(rune(unknown[0] + 1))
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"end-sessions", "carol@corp.example", unknown}, "has no session whose hash starts with " + unknown},
			{[]string{"end-sessions", "carol@corp.example", "xyz"}, "hex digits only"},
			{[]string{"end-sessions", "nobody@corp.example", hashA[:8]}, "no user"},
			{[]string{"list-sessions", "nobody@corp.example"}, "no user"},
			{[]string{"end-sessions", "nobody@corp.example"}, "no user"},
			{[]string{"list-sessions", "carol@corp.example", "extra"}, "exactly one NAME"},
		} {
			if out, err := admin(t, "", append([]string{quiet}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("cis-admin %v = %q, %v; want an error saying %q", c.args, out, err, c.want)
			}
		}
		s.wantOnEverySurface([]string{a, b}, 200, "after refused commands")

		out = s.adminOK("", "end-sessions", "carol@corp.example", strings.ToUpper(hashA[:6]))
		if !strings.Contains(out, "ended session "+hashA[:session.HashPrefixLen]) {
			t.Errorf("end-sessions with a prefix said %q", out)
		}
		s.wantOnEverySurface([]string{a}, 401, "the ended session")
		s.wantOnEverySurface([]string{b}, 200, "the other session")
		if out := s.adminOK("", "list-sessions", "carol@corp.example"); strings.Contains(out, hashA[:session.HashPrefixLen]) || !strings.Contains(out, "1 session, 1 live") {
			t.Errorf("list-sessions after ending one:\n%s", out)
		}
	})
}

// TestLogInsRacingARevocationKeepNoSession: log-ins with the old password
// run while the password is reset. Whatever the interleaving, no session a
// client received outlives the command: a log-in either wrote its session
// before the change (the sweep finds it) or sees the change when it
// confirms, and deletes its session without handing out the token.
func TestLogInsRacingARevocationKeepNoSession(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		s := newService(t, srv)
		const user, pw = "racer@corp.example", "Pass-word-race"
		s.adminOK(pw+"\n", "add-user", user)
		ctx := context.Background()

		var mu sync.Mutex
		var issued []session.Token
		refused := 0
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					tok, _, err := s.svc.Login(ctx, user, pw)
					mu.Lock()
					if err == nil {
						issued = append(issued, tok)
					} else if session.ErrorCode(err) == session.EUNAUTHENTICATED {
						refused++
					} else {
						t.Errorf("log-in: %v", err)
					}
					mu.Unlock()
				}
			}()
		}
		// Progress, not time, moves the race on: on a loaded machine (the race
		// detector, moto) one argon2id log-in can take longer than any fixed
		// pause. The reset comes once a log-in has succeeded; the log-ins stop
		// once one has been refused after it. Each wait is bounded.
		seen := func(what func() bool) {
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				mu.Lock()
				ok := what()
				mu.Unlock()
				if ok {
					return
				}
			}
		}
		seen(func() bool { return len(issued) > 0 })
		s.adminOK("Pass-word-new\n", "reset-password", user)
		seen(func() bool { return refused > 0 })
		close(stop)
		wg.Wait()

		if len(issued) == 0 || refused == 0 {
			t.Fatalf("%d log-ins succeeded and %d were refused: the race did not run both sides", len(issued), refused)
		}
		alive := 0
		for _, tok := range issued {
			if _, err := s.svc.Get(ctx, string(tok)); err == nil {
				alive++
			}
		}
		if alive > 0 {
			t.Fatalf("%d of %d sessions issued around the reset still authorize", alive, len(issued))
		}
		t.Logf("%d sessions issued before the reset, all ended; %d log-ins refused", len(issued), refused)
	})
}

// usersChangedAfterRead runs change once, right after the first read of a
// user: the account changes between a log-in's check of the password and
// its write of the session.
type usersChangedAfterRead struct {
	session.UserStore
	once   sync.Once
	change func()
}

func (u *usersChangedAfterRead) User(ctx context.Context, name string) (session.User, error) {
	usr, err := u.UserStore.User(ctx, name)
	u.once.Do(u.change)
	return usr, err
}

// TestALogInThatCheckedTheOldPasswordKeepsNoSession is the worst
// interleaving, made certain: the reset and its whole sweep run after the
// log-in has checked the old password and before it writes its session, so
// the sweep cannot find it. The log-in's confirmation must: it sees the new
// revision, deletes its session and refuses.
func TestALogInThatCheckedTheOldPasswordKeepsNoSession(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		s := newService(t, srv)
		ctx := context.Background()
		for _, c := range []struct {
			name   string
			stdin  string
			change []string
		}{
			{"ResetPassword", "Pass-word-new\n", []string{"reset-password"}},
			{"RemoveUser", "", []string{"remove-user"}},
			{"EndSessions", "", []string{"end-sessions"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				user, pw := strings.ToLower(c.name)+"@corp.example", "Pass-word-old"
				s.adminOK(pw+"\n", "add-user", user)
				svc := *s.svc
				svc.Users = &usersChangedAfterRead{UserStore: s.svc.Users, change: func() {
					s.adminOK(c.stdin, append(c.change, user)...)
				}}
				tok, _, err := svc.Login(ctx, user, pw)
				if session.ErrorCode(err) != session.EUNAUTHENTICATED {
					t.Fatalf("log-in across the change = %v, %v; want it refused", tok != "", err)
				}
				left, err := s.svc.Sessions.(session.UserSessionStore).ListUser(ctx, user, "")
				if err != nil || len(left) != 0 {
					t.Fatalf("sessions left = %d, %v; want none", len(left), err)
				}
			})
		}
	})
}
