package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// limits is the environment of a stack with the given lockout and cap.
func limits(maxFailures int, window time.Duration, maxSessions int) map[string]string {
	return map[string]string{
		config.EnvMaxFailures:   strconv.Itoa(maxFailures),
		config.EnvFailureWindow: window.String(),
		config.EnvLockFor:       window.String(), // a lock lasts a window, from the failure that set it
		config.EnvMaxSessions:   strconv.Itoa(maxSessions),
	}
}

// toWindowStart moves st's clock to the start of the next window of the
// given length: windows follow each other from the Unix epoch, and a test
// of what happens within one starts at its beginning.
func toWindowStart(st *stack, window time.Duration) {
	now := st.clock.Now()
	p := session.Lockout{Window: window}
	st.clock.Advance(p.WindowEnd(now).Sub(now))
}

// cheap are argon2id parameters for users of the race tests, where twenty
// verifications at once must not take the machine's memory and minutes.
var cheap = argon2id.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func addUser(t testing.TB, f dynamotest.Fixture, name, password string, p argon2id.Params) {
	t.Helper()
	hash, err := argon2id.Hash(password, p)
	if err != nil {
		t.Fatal(err)
	}
	u := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}
	if err := u.Add(context.Background(), session.User{Name: name, PasswordHash: hash}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func failuresOf(t testing.TB, f dynamotest.Fixture, name string) session.Failures {
	t.Helper()
	u, err := (&dynamo.Users{DB: f.DB, Table: f.Tables.Users}).User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.Failures
}

// familiarFailuresOf is failuresOf for the sources the user logged in from.
func familiarFailuresOf(t testing.TB, f dynamotest.Fixture, name string) session.Failures {
	t.Helper()
	u, err := (&dynamo.Users{DB: f.DB, Table: f.Tables.Users}).User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.FamiliarFailures
}

// countingPasswords counts password verifications.
type countingPasswords struct {
	session.Passwords
	n    atomic.Int64 // verifications
	real atomic.Int64 // of them, against a stored hash: not the decoy
}

func (c *countingPasswords) count(hash string) {
	c.n.Add(1)
	if hash != c.Passwords.Decoy() {
		c.real.Add(1)
	}
}

func (c *countingPasswords) Verify(hash, password string) (bool, error) {
	c.count(hash)
	return c.Passwords.Verify(hash, password)
}

func (c *countingPasswords) VerifyDigest(hash, password string) (bool, []byte, error) {
	c.count(hash)
	return c.Passwords.(session.Digester).VerifyDigest(hash, password)
}

// loginAll sends n log-ins at once, each its own invocation (as n Lambda
// instances would serve them), and returns the answers.
func (s *stack) loginAll(n int, user, pass string) []response {
	s.t.Helper()
	passes := make([]string, n)
	for i := range passes {
		passes[i] = pass
	}
	return s.loginEach(user, passes)
}

// loginEach is loginAll with one log-in for each of passes.
func (s *stack) loginEach(user string, passes []string) []response {
	s.t.Helper()
	n := len(passes)
	payloads := make([][]byte, n)
	for i, pass := range passes {
		p, err := json.Marshal(v2Event("POST", "/api/session", basic(user, pass), ""))
		if err != nil {
			s.t.Fatal(err)
		}
		payloads[i] = p
	}
	out := make([]response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("lambda-req-race-%d", i)})
			<-start
			raw, err := s.fn.Invoke(ctx, payloads[i])
			if err == nil {
				out[i], err = parseResponse(raw)
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			s.t.Fatalf("concurrent log-in: %v", err)
		}
	}
	return out
}

// liveSessions counts the user's live sessions by reading the whole
// sessions table, independently of the index the service counts with.
func liveSessions(t testing.TB, f dynamotest.Fixture, user string, now time.Time, l session.Lifetime) int {
	t.Helper()
	n := 0
	var start map[string]types.AttributeValue
	for {
		out, err := f.DB.Scan(context.Background(), &dynamodb.ScanInput{
			TableName: aws.String(f.Tables.Sessions), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range out.Items {
			if item["user_key"].(*types.AttributeValueMemberS).Value != session.UserKey(user) {
				continue
			}
			ms := func(name string) time.Time {
				v, _ := strconv.ParseInt(item[name].(*types.AttributeValueMemberN).Value, 10, 64)
				return time.UnixMilli(v)
			}
			if l.Live(session.Session{Created: ms("created_ms"), LastAccessed: ms("last_accessed_ms")}, now) {
				n++
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return n
		}
		start = out.LastEvaluatedKey
	}
}

// capBody is vCenter's answer past the cap, word for word.
func capBody(limit, existing int, user string) string {
	return fmt.Sprintf(`{"error_type":"SERVICE_UNAVAILABLE","messages":[{"args":["%d","%d","%s"],`+
		`"default_message":"User session count is limited to %d. Existing session count is %d for user %s",`+
		`"id":"com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached"}]}`,
		limit, existing, user, limit, existing, user)
}

func TestLockout(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		st := newStackWith(t, f, f.DB, limits(3, 10*time.Minute, 0))
		toWindowStart(st, 10*time.Minute)
		// Each wrong password is new: the same one again counts once.
		guesses := 0
		wrong := func() map[string]string {
			guesses++
			return basic(adminName, fmt.Sprintf("not-%s-%d", adminPass, guesses))
		}
		right := basic(adminName, adminPass)
		refused := st.v2("POST", "/api/session", wrong(), "")
		wantError(t, refused, 401, "UNAUTHENTICATED")
		ok := func(what string) {
			t.Helper()
			if r := st.v2("POST", "/api/session", right, ""); r.Status != 201 {
				t.Fatalf("%s: right password = %d %s, want 201", what, r.Status, r.Body)
			}
		}
		locked := func(what string) {
			t.Helper()
			r := st.v2("POST", "/api/session", right, "")
			if r.Status != 401 || r.Body != refused.Body {
				t.Fatalf("%s: right password = %d %s, want the 401 of a wrong password", what, r.Status, r.Body)
			}
		}

		t.Run("ASuccessGivesBackOnlyItsOwnAttempt", func(t *testing.T) {
			// The admin's first success made this source familiar: its
			// class starts empty.
			ok("the first log-in")
			for range 2 {
				st.v2("POST", "/api/session", wrong(), "")
			}
			ok("after two failures")
			ok("again: a right password never counts")
			// Three failures in the window: the success between them
			// forgave none, so whoever shares the owner's class gets no
			// fresh guesses from the owner's log-ins.
			st.v2("POST", "/api/session", wrong(), "")
			locked("after a third failure in the window, a success between")
			st.clock.Advance(10 * time.Minute)
			ok("when the lock has ended") // and ends the row of locks
		})

		t.Run("LockedAccountRefusesTheRightPasswordUntilTheWindowEnds", func(t *testing.T) {
			for range 3 {
				wantError(t, st.v2("POST", "/api/session", wrong(), ""), 401, "UNAUTHENTICATED")
			}
			locked("after three failures")
			st.clock.Advance(10*time.Minute - time.Millisecond)
			locked("a millisecond before the window ends")
			st.clock.Advance(time.Millisecond)
			ok("when the window has ended")
		})

		t.Run("RefusalsDuringTheLockDoNotExtendIt", func(t *testing.T) {
			for range 3 {
				st.v2("POST", "/api/session", wrong(), "")
			}
			st.clock.Advance(9 * time.Minute)
			for range 5 {
				st.v2("POST", "/api/session", wrong(), "")
			}
			// Refused attempts check no stored password, and are not counted.
			// (The admin logged in from this source before: it is familiar.)
			if got := familiarFailuresOf(t, f, adminName); got.Count != 3 {
				t.Fatalf("failures counted = %d, want the 3 checked", got.Count)
			}
			st.clock.Advance(time.Minute)
			ok("ten minutes after the first failure")
		})

		t.Run("OtherUsersAreNotLocked", func(t *testing.T) {
			addUser(t, f, "other@vsphere.local", "other-pass", cheap)
			for range 3 {
				st.v2("POST", "/api/session", wrong(), "")
			}
			locked("admin")
			if r := st.v2("POST", "/api/session", basic("other@vsphere.local", "other-pass"), ""); r.Status != 201 {
				t.Fatalf("another user = %d %s", r.Status, r.Body)
			}
		})

		t.Run("AdminUnlockEndsTheLockAtOnce", func(t *testing.T) {
			locked("still")
			if err := (&dynamo.Users{DB: f.DB, Table: f.Tables.Users}).ClearFailures(context.Background(), adminName); err != nil {
				t.Fatal(err)
			}
			ok("after unlock")
		})
	})
}

// TestEachLockInARowLastsLonger: the lock that follows a lock lasts twice
// as long, up to the cap; a success ends the row.
func TestEachLockInARowLastsLonger(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	env := limits(3, 10*time.Minute, 0)
	env[config.EnvLockFor], env[config.EnvLockMax] = "10m", "25m"
	st := newStackWith(t, f, f.DB, env)
	toWindowStart(st, 10*time.Minute)
	guesses := 0
	fill := func() {
		for range 3 {
			guesses++
			st.v2("POST", "/api/session", basic(adminName, fmt.Sprint("guess-", guesses)), "")
		}
	}
	logsIn := func() bool { return st.v2("POST", "/api/session", basic(adminName, adminPass), "").Status == 201 }
	for i, lock := range []time.Duration{10 * time.Minute, 20 * time.Minute, 25 * time.Minute, 25 * time.Minute} {
		fill()
		st.clock.Advance(lock - time.Millisecond)
		if logsIn() {
			t.Fatalf("lock %d in a row ended before %s", i+1, lock)
		}
		st.clock.Advance(time.Millisecond)
	}
	if !logsIn() {
		t.Fatal("the right password after the last lock ended was refused")
	}
	fill() // the success ended the row: the next lock is the first again
	st.clock.Advance(10 * time.Minute)
	if !logsIn() {
		t.Fatal("the first lock after a success lasted longer than LOGIN_LOCK_DURATION")
	}
}

func TestLockoutCanBeTurnedOff(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	st := newStackWith(t, f, f.DB, limits(0, time.Minute, 0))
	for i := range 6 {
		st.v2("POST", "/api/session", basic(adminName, fmt.Sprint("wrong-password-", i)), "")
	}
	if got := failuresOf(t, f, adminName); got != (session.Failures{}) {
		t.Fatalf("failures counted with the lockout off: %+v", got)
	}
	st.login()
}

// TestRefusedLogInsAreIndistinguishable holds the no-oracle rule: an unknown
// user, a wrong password and a locked account (with the wrong password or
// the right one) get the same status, headers and body, after the same
// work: one password verification and the same DynamoDB requests in the
// same order. The requests of the other paths are specified here too.
func TestRefusedLogInsAreIndistinguishable(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		rec := &dynamotest.Recorder{API: f.DB}
		st := newStackWith(t, f, rec, limits(2, time.Hour, 1))
		pw := &countingPasswords{Passwords: st.svc.Passwords}
		st.svc.Passwords = pw
		addUser(t, f, "locked@vsphere.local", "locked-pass", argon2id.DefaultParams)
		for i := range 2 {
			st.v2("POST", "/api/session", basic("locked@vsphere.local", fmt.Sprint("guess-", i)), "")
		}

		type answer struct {
			status   int
			body     string
			headers  map[string]string
			requests []string
			verifies int64
		}
		try := func(user, pass string) answer {
			rec.Reset()
			pw.n.Store(0)
			r := st.v2("POST", "/api/session", basic(user, pass), "")
			return answer{r.Status, r.Body, r.Headers, rec.Reset(), pw.n.Load()}
		}
		// The user read, the count of live sessions (during the
		// verification), the one write: it counts a new wrong password,
		// and is refused by its condition otherwise.
		refused := []string{"GetItem", "Query", "UpdateItem"}
		cases := []struct {
			name, user, pass string
		}{
			{"UnknownUser", "nobody@vsphere.local", adminPass},
			{"WrongPassword", adminName, "not-" + adminPass},
			{"RepeatedWrongPassword", adminName, "not-" + adminPass},
			{"LockedWrongPassword", "locked@vsphere.local", "guess"},
			{"LockedRightPassword", "locked@vsphere.local", "locked-pass"},
			{"UnknownUserAgain", "nobody@vsphere.local", adminPass},
		}
		want := try(cases[0].user, cases[0].pass)
		if want.status != 401 {
			t.Fatalf("unknown user = %d %s", want.status, want.body)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := try(c.user, c.pass)
				if got.status != want.status || got.body != want.body || fmt.Sprint(got.headers) != fmt.Sprint(want.headers) {
					t.Fatalf("answer %d %v %s differs from the unknown user's %d %v %s",
						got.status, got.headers, got.body, want.status, want.headers, want.body)
				}
				if got.verifies != 1 {
					t.Fatalf("%d password verifications, want 1", got.verifies)
				}
				if !slices.Equal(got.requests, refused) {
					t.Fatalf("DynamoDB requests %v, want %v", got.requests, refused)
				}
			})
		}

		// The other paths, for the record: a success writes the session,
		// and records itself in a write, conditional on the class having
		// room, that returns the user, to confirm it did not change
		// meanwhile; a log-in at the cap reads the candidates' items to
		// count exactly, and writes nothing when none has idled out.
		others := []struct {
			name     string
			requests []string
			status   int
		}{
			{"SuccessAfterAFailure", []string{"GetItem", "Query", "PutItem", "UpdateItem"}, 201},
			{"PastTheCap", []string{"GetItem", "Query", "Query", "BatchGetItem"}, 503},
		}
		// The admin failed once above (WrongPassword).
		for _, c := range others {
			t.Run(c.name, func(t *testing.T) {
				got := try(adminName, adminPass)
				if got.status != c.status || !slices.Equal(got.requests, c.requests) || got.verifies != 1 {
					t.Fatalf("got %d with %v and %d verifications, want %d with %v and 1",
						got.status, got.requests, got.verifies, c.status, c.requests)
				}
			})
		}
		t.Run("Success", func(t *testing.T) {
			addUser(t, f, "fresh@vsphere.local", "fresh-pass", argon2id.DefaultParams)
			got := try("fresh@vsphere.local", "fresh-pass")
			if want := []string{"GetItem", "Query", "PutItem", "UpdateItem"}; got.status != 201 || !slices.Equal(got.requests, want) {
				t.Fatalf("got %d with %v, want 201 with %v", got.status, got.requests, want)
			}
		})
	})
}

func TestSessionCap(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		st := newStackWith(t, f, f.DB, limits(5, 15*time.Minute, 3))
		var toks []string
		for range 3 {
			toks = append(toks, st.login())
		}

		t.Run("PastTheCapIsVCentersServiceUnavailable", func(t *testing.T) {
			r := st.v2("POST", "/api/session", basic(adminName, adminPass), "")
			wantError(t, r, 503, "SERVICE_UNAVAILABLE")
			if want := capBody(3, 3, adminName); r.Body != want {
				t.Fatalf("body = %s\nwant   %s", r.Body, want)
			}
			if n := liveSessions(t, f, adminName, st.clock.Now(), st.svc.Lifetime); n != 3 {
				t.Fatalf("%d live sessions after a refused log-in, want 3", n)
			}
		})

		t.Run("OnlyTheRightPasswordLearnsOfTheCap", func(t *testing.T) {
			wantError(t, st.v2("POST", "/api/session", basic(adminName, "wrong-password-1"), ""), 401, "UNAUTHENTICATED")
		})

		t.Run("OtherUsersHaveTheirOwnCap", func(t *testing.T) {
			addUser(t, f, "other@vsphere.local", "other-pass", cheap)
			if r := st.v2("POST", "/api/session", basic("other@vsphere.local", "other-pass"), ""); r.Status != 201 {
				t.Fatalf("another user = %d %s", r.Status, r.Body)
			}
		})

		t.Run("LogOutFreesASlot", func(t *testing.T) {
			if r := st.v2("DELETE", "/api/session", sid(toks[0]), ""); r.Status != 204 {
				t.Fatalf("log out = %d", r.Status)
			}
			toks[0] = st.login()
			wantError(t, st.v2("POST", "/api/session", basic(adminName, adminPass), ""), 503, "SERVICE_UNAVAILABLE")
		})

		t.Run("ExpiredSessionsDoNotCount", func(t *testing.T) {
			st.clock.Advance(20 * time.Minute)
			st.v2("GET", "/api/session", sid(toks[0]), "") // kept alive
			st.clock.Advance(10 * time.Minute)             // the other two idle out
			st.login()
			st.login()
			r := st.v2("POST", "/api/session", basic(adminName, adminPass), "")
			if want := capBody(3, 3, adminName); r.Status != 503 || r.Body != want {
				t.Fatalf("fourth live session: %d %s, want 503 %s", r.Status, r.Body, want)
			}
		})
	})
}

func TestSessionCapCanBeTurnedOff(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	rec := &dynamotest.Recorder{API: f.DB}
	st := newStackWith(t, f, rec, limits(5, time.Minute, 0))
	for range 3 {
		st.login()
	}
	for _, op := range rec.Reset() {
		if op == "Query" {
			t.Fatal("sessions counted with the cap off")
		}
	}
}

// TestConcurrentLogInsNearTheCap holds the documented bound: log-ins of one
// user that count sessions at the same moment may each see room for one
// more, so C concurrent log-ins overshoot the cap by at most C-1 (on
// DynamoDB, also by what its index has not yet caught up with); log-ins
// that come one after another never overshoot. (Right passwords never
// count toward the lockout: only the cap is in play here.)
func TestConcurrentLogInsNearTheCap(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		const limit, concurrent = 5, 20
		for _, before := range []int{limit - 2, limit} {
			t.Run(fmt.Sprintf("From%dLive", before), func(t *testing.T) {
				f := dynamotest.Setup(t, srv)
				st := newStackWith(t, f, f.DB, limits(concurrent, 15*time.Minute, limit))
				addUser(t, f, "busy@vsphere.local", "busy-pass", cheap)
				for range before {
					if r := st.v2("POST", "/api/session", basic("busy@vsphere.local", "busy-pass"), ""); r.Status != 201 {
						t.Fatalf("setup log-in = %d %s", r.Status, r.Body)
					}
				}
				created, refused := 0, 0
				for _, r := range st.loginAll(concurrent, "busy@vsphere.local", "busy-pass") {
					switch {
					case r.Status == 201:
						created++
					case r.Status == 503:
						wantError(t, r, 503, "SERVICE_UNAVAILABLE")
						var e vapiError
						_ = json.Unmarshal([]byte(r.Body), &e)
						if e.Messages[0].ID != "com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached" {
							t.Fatalf("503 is not the cap's: %s", r.Body)
						}
						refused++
					default:
						t.Fatalf("concurrent log-in = %d %s", r.Status, r.Body)
					}
				}
				live := liveSessions(t, f, "busy@vsphere.local", st.clock.Now(), st.svc.Lifetime)
				t.Logf("%s: %d live before, %d concurrent log-ins: %d created, %d refused, %d live after (cap %d)",
					srv.Kind, before, concurrent, created, refused, live, limit)
				if live != before+created {
					t.Fatalf("%d live sessions, but %d before and %d created", live, before, created)
				}
				if bound := limit + concurrent - 1; live > bound {
					t.Fatalf("%d live sessions, past the bound cap+concurrency-1 = %d", live, bound)
				}
				if before >= limit && created > 0 {
					t.Fatalf("%d sessions created over a cap already reached", created)
				}
				// Whatever the race let through, the next log-in sees it.
				r := st.v2("POST", "/api/session", basic("busy@vsphere.local", "busy-pass"), "")
				if want := capBody(limit, live, "busy@vsphere.local"); r.Status != 503 || r.Body != want {
					t.Fatalf("log-in after the race = %d %s, want 503 %s", r.Status, r.Body, want)
				}
			})
		}
	})
}

// TestConcurrentWrongGuessesCountNoMoreThanTheLimit: guesses sent at once
// are each answered, the same 401, at once (nothing waits); of different
// wrong passwords no more than the limit are counted, and the account's
// class is locked after, to the right password too; one wrong password
// sent at once counts once.
func TestConcurrentWrongGuessesCountNoMoreThanTheLimit(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		dynamotest.RequireAtomicWrites(t, srv)
		f := dynamotest.Setup(t, srv)
		st := newStackWith(t, f, f.DB, limits(5, 15*time.Minute, 0))
		toWindowStart(st, 15*time.Minute)
		const concurrent = 20
		for _, c := range []struct {
			name, user string
			guess      func(i int) string
			counted    int
		}{
			{"DifferentGuesses", "target@vsphere.local", func(i int) string { return fmt.Sprint("guess-", i) }, 5},
			{"OneGuess", "repeat@vsphere.local", func(int) string { return "guess" }, 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				addUser(t, f, c.user, "target-pass", cheap)
				passes := make([]string, concurrent)
				for i := range passes {
					passes[i] = c.guess(i)
				}
				rs := st.loginEach(c.user, passes)
				for _, r := range rs {
					if r.Status != 401 || r.Body != rs[0].Body {
						t.Fatalf("concurrent guess = %d %s, want the same 401 as the others", r.Status, r.Body)
					}
				}
				if got := failuresOf(t, f, c.user); got.Count != c.counted {
					t.Fatalf("%d wrong passwords counted after %d concurrent guesses, want %d", got.Count, concurrent, c.counted)
				}
				r := st.v2("POST", "/api/session", basic(c.user, "target-pass"), "")
				if locked := c.counted == 5; (r.Status == 401) != locked {
					t.Fatalf("right password after the guesses = %d, want it refused only when the class is locked (%v)", r.Status, locked)
				}
			})
		}
	})
}

// A user whose password was hashed at a lower cost than new hashes (before
// the parameters were raised) would log in faster than an unknown user is
// refused: an oracle. The first successful log-in brings the hash up to cost.
func TestLogInRehashesAPasswordHashedAtALowerCost(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		st := newStack(t, f)
		const name, pass = "old-hash@vsphere.local", "old-hash-password-1"
		weak := argon2id.Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
		if !argon2id.NeedsRehash(mustHash(t, pass, weak), argon2id.DefaultParams) {
			t.Skip("the default parameters are no stronger than the old ones")
		}
		users := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}
		if err := users.Add(context.Background(), session.User{Name: name, PasswordHash: mustHash(t, pass, weak)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		stored := func() string {
			u, err := users.User(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			return u.PasswordHash
		}
		before := stored()

		wantError(t, st.v2("POST", "/api/session", basic(name, "wrong-password-1"), ""), 401, "UNAUTHENTICATED")
		if stored() != before {
			t.Fatal("a refused log-in changed the stored hash")
		}
		if r := st.v2("POST", "/api/session", basic(name, pass), ""); r.Status != 201 {
			t.Fatalf("log-in with the old hash: %d %s", r.Status, r.Body)
		}
		after := stored()
		if after == before || argon2id.NeedsRehash(after, argon2id.DefaultParams) {
			t.Fatalf("hash after log-in %q, want one at the default cost", after)
		}
		if ok, err := argon2id.Verify(after, pass); !ok || err != nil {
			t.Fatalf("the new hash does not verify the password: %v", err)
		}
		if r := st.v2("POST", "/api/session", basic(name, pass), ""); r.Status != 201 {
			t.Fatalf("log-in with the new hash: %d %s", r.Status, r.Body)
		}
		if stored() != after {
			t.Fatal("a hash at the current cost was replaced again")
		}
	})
}

func mustHash(t *testing.T, password string, p argon2id.Params) string {
	t.Helper()
	h, err := argon2id.Hash(password, p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
