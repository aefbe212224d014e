package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/regionsrun"
	"github.com/cis-session/cis-session/dev/upstreamtest"
	"github.com/cis-session/cis-session/internal/awsenv"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// lag is the run's REPLICATION_LAG, and bound what docs/REGIONS.md states:
// a revocation in one region is refused in every region within lag + 1 s.
const (
	lag   = time.Second
	bound = lag + time.Second
)

// client gives up on an answer after 10 s: a region's front door must
// never hang that long.
var client = &http.Client{Timeout: 10 * time.Second}

type regions struct {
	t    *testing.T
	run  *regionsrun.Run
	scan *logscan.Scanner
}

func (r regions) do(req *http.Request) (int, string) {
	r.t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r regions) logIn(region, user, password string) string {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.run.URL(region)+"/api/session", nil)
	req.SetBasicAuth(user, password)
	status, body := r.do(req)
	if status != 201 {
		r.t.Fatalf("log in as %s in %s: %d %s", user, region, status, body)
	}
	id := strings.Trim(body, "\"\n")
	r.scan.Secret(id)
	return id
}

// tryLogIn logs in and returns the status and body (the session id on 201).
func (r regions) tryLogIn(region, user, password string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.run.URL(region)+"/api/session", nil)
	req.SetBasicAuth(user, password)
	status, body := r.do(req)
	if status == 201 {
		r.scan.Secret(strings.Trim(body, "\"\n"))
	}
	return status, body
}

func (r regions) admin(region string) string {
	return r.logIn(region, "administrator@vsphere.local", regionsrun.Password)
}

func (r regions) get(region, id string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.run.URL(region)+"/api/session", nil)
	req.Header.Set("vmware-api-session-id", id)
	return r.do(req)
}

func (r regions) logOut(region, id string) {
	r.t.Helper()
	req, _ := http.NewRequest("DELETE", r.run.URL(region)+"/api/session", nil)
	req.Header.Set("vmware-api-session-id", id)
	if status, body := r.do(req); status != 204 {
		r.t.Fatalf("log out in %s: %d %s", region, status, body)
	}
}

// answersIn waits until the session answers in region, at most lag + 5 s.
func (r regions) answersIn(region, id string) {
	r.t.Helper()
	for end := time.Now().Add(lag + 5*time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if status, _ := r.get(region, id); status == 200 {
			return
		}
	}
	r.t.Fatalf("the session never answered in %s", region)
}

// touched is one get's outcome, by when it was sent.
type touched struct {
	at     time.Time
	status int
}

// touchEvery gets the session in region every few milliseconds until the
// returned stop is called, which returns what each answered.
func (r regions) touchEvery(region, id string) (stop func() []touched) {
	var mu sync.Mutex
	var got []touched
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			at := time.Now()
			req, _ := http.NewRequest("GET", r.run.URL(region)+"/api/session", nil)
			req.Header.Set("vmware-api-session-id", id)
			status := 0
			if resp, err := client.Do(req); err == nil {
				status = resp.StatusCode
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			got = append(got, touched{at, status})
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() []touched {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// final checks that every touch sent bound after the revocation was
// refused, that none answered anything but 200 or 401, and that once one
// was refused none answered 200 again.
func final(t *testing.T, where string, revoked time.Time, got []touched) {
	t.Helper()
	refused := false
	for _, g := range got {
		switch {
		case g.status != 200 && g.status != 401:
			t.Errorf("%s: a touch answered %d", where, g.status)
		case g.status == 401:
			refused = true
		case refused:
			t.Errorf("%s: a touch sent %v after the revocation answered 200 after an earlier one was refused", where, g.at.Sub(revoked))
		case g.at.After(revoked.Add(bound)):
			t.Errorf("%s: a touch sent %v after the revocation answered 200 (bound %v)", where, g.at.Sub(revoked), bound)
		}
	}
	if len(got) < 10 || !refused {
		t.Errorf("%s: %d touches, refused: %v; want a touch every few milliseconds, refused", where, len(got), refused)
	}
}

// requests sums the DynamoDB requests region's service has made.
func (r regions) requests(region string) int {
	n := 0
	for _, c := range r.run.Status(r.t).Requests[region] {
		n += c
	}
	return n
}

// TestTwoRegions runs `make run-regions`' binary with a lag of 1 s and
// holds it to issue 22's "Done when", one run for all, the stopped engine
// last.
func TestTwoRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	up := &upstreamtest.Upstream{}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	scan := logscan.New()
	scan.Secret(regionsrun.Password)
	taken := &lineLog{}
	var logs io.Writer = io.MultiWriter(scan.Writer(), taken)
	if f := os.Getenv("CIS_REGIONS_TEST_LOG"); f != "" {
		// A copy of everything the regions log, for a reader.
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		logs = io.MultiWriter(logs, out)
	}
	run := regionsrun.Start(t, logs, lag, "UPSTREAM_URL="+upstream.URL)

	t.Run("ASessionMadeInOneRegionAnswersInTheOtherAfterTheLagOnEverySurface", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		id := r.admin("a")
		sent := time.Now()
		if status, _ := r.get("b", id); status != 401 && time.Since(sent) < lag {
			t.Errorf("b answered %d before the lag", status)
		}
		r.answersIn("b", id)
		b := run.URL("b")
		status, body := r.get("b", id)
		if status != 200 || !strings.Contains(body, `"user":"administrator@vsphere.local"`) {
			t.Errorf("/api get in b: %d %s", status, body)
		}
		req, _ := http.NewRequest("POST", b+"/rest/com/vmware/cis/session?~action=get", nil)
		req.Header.Set("vmware-api-session-id", id)
		if status, body := r.do(req); status != 200 || !strings.Contains(body, `{"value":{"user":"administrator@vsphere.local"`) {
			t.Errorf("/rest get in b: %d %s", status, body)
		}
		rpc := `{"jsonrpc":"2.0","method":"invoke","id":"1","params":{"serviceId":"com.vmware.cis.session","operationId":"get",` +
			`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},` +
			`"securityCtx":{"schemeId":"com.vmware.vapi.std.security.session_id","sessionId":"` + id + `"}}}}`
		req, _ = http.NewRequest("POST", b+"/api", strings.NewReader(rpc))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("vapi-service", "com.vmware.cis.session")
		req.Header.Set("vapi-operation", "get")
		if status, body := r.do(req); status != 200 || !strings.Contains(body, `"com.vmware.cis.session.info":{"user":"administrator@vsphere.local"`) {
			t.Errorf("JSON-RPC get in b: %d %s", status, body)
		}
		req, _ = http.NewRequest("GET", b+"/api/vcenter/vm", nil)
		req.Header.Set("vmware-api-session-id", id)
		if status, body := r.do(req); status != 200 || body != `{"value":"from upstream"}` {
			t.Errorf("a protected call in b: %d %s", status, body)
		}
		if calls := up.Taken(); len(calls) != 1 || calls[0].Header.Get("vmware-cis-user") != "administrator@vsphere.local" {
			t.Errorf("the upstream got %+v, want one call as the user", calls)
		}
		// Both regions sign with the same keys.
		_, jwksA := r.do(mustRequest("GET", run.URL("a")+"/.well-known/jwks.json"))
		_, jwksB := r.do(mustRequest("GET", b+"/.well-known/jwks.json"))
		if jwksA != jwksB || !strings.Contains(jwksA, `"kid"`) {
			t.Errorf("JWKS differ: a %s, b %s", jwksA, jwksB)
		}
	})

	t.Run("AGetIsOneDynamoDBRequestInItsRegionForAClientThatStays", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		id := r.admin("a")
		r.answersIn("b", id)
		run.Settle(t)
		a0, b0 := r.requests("a"), r.requests("b")
		for range 10 {
			if status, body := r.get("a", id); status != 200 {
				t.Fatalf("get in a: %d %s", status, body)
			}
		}
		a1, b1 := r.requests("a"), r.requests("b")
		if a1-a0 != 10 || b1 != b0 {
			t.Errorf("10 gets in a of a session made in a: %d DynamoDB requests in a, %d in b; want 10 and 0", a1-a0, b1-b0)
		}
		// A client that moved pays, per get, its new region's refused touch
		// and re-read (dynalite returns no item with a refusal; DynamoDB
		// does, and there it is one) and one touch at the home.
		for range 10 {
			if status, body := r.get("b", id); status != 200 {
				t.Fatalf("get in b: %d %s", status, body)
			}
		}
		a2, b2 := r.requests("a"), r.requests("b")
		if a2-a1 != 10 || b2-b1 != 20 {
			t.Errorf("10 gets in b of a session made in a: %d requests in a, %d in b; want 10 and 20", a2-a1, b2-b1)
		}
	})

	t.Run("ALogOutInOneRegionWhileTheOtherIsTouchedIsRefusedInBothAndNeverAnswersAgain", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		id := r.admin("a")
		r.answersIn("b", id)
		stop := r.touchEvery("b", id)
		time.Sleep(100 * time.Millisecond)
		r.logOut("a", id)
		revoked := time.Now()
		time.Sleep(bound + time.Second)
		final(t, "b", revoked, stop())
		run.Settle(t)
		for _, region := range []string{"a", "b"} {
			if status, body := r.get(region, id); status != 401 {
				t.Errorf("get in %s after replication settled: %d %s", region, status, body)
			}
		}
	})

	t.Run("ALogOutDuringAPauseWithTheOtherTouchingThroughoutStaysFinalAfterResume", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		id := r.admin("b")
		r.answersIn("a", id)
		run.Settle(t)
		run.Control(t, "pause")
		stop := r.touchEvery("a", id)
		time.Sleep(100 * time.Millisecond)
		r.logOut("b", id)
		revoked := time.Now()
		time.Sleep(2 * lag)
		run.Control(t, "resume")
		run.Settle(t)
		time.Sleep(200 * time.Millisecond)
		final(t, "a", revoked, stop())
		for _, region := range []string{"a", "b"} {
			if status, body := r.get(region, id); status != 401 {
				t.Errorf("get in %s after resume: %d %s", region, status, body)
			}
		}
		if s := run.Status(t); s.Paused || s.Pending != 0 {
			t.Errorf("status after resume %+v", s)
		}
	})

	t.Run("APasswordResetInOneRegionEndsTheSessionsInTheOther", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		const user, first, second = "mover@vsphere.local", "Mover-Pass-1", "Mover-Pass-2"
		scan.Secret(first)
		scan.Secret(second)
		r.cisAdmin("a", first+"\n", "add-user", user)
		run.Settle(t)
		id := r.logIn("b", user, first)
		r.answersIn("a", id)
		stopA, stopB := r.touchEvery("a", id), r.touchEvery("b", id)
		reset := r.adminCmd("a", second+"\n", "reset-password", user)
		written := r.passwordChanged("a", user)
		began := time.Now()
		if out, err := reset.CombinedOutput(); err != nil {
			t.Fatalf("cis-admin reset-password in a: %v\n%s", err, out)
		}
		took := time.Since(began)
		// The bound runs from the revocation, the new password's write in
		// a, not from the command's start: it hashes the password first,
		// which on a loaded machine takes what it takes.
		revoked := written()
		time.Sleep(time.Until(revoked.Add(bound)))
		final(t, "a", revoked, stopA())
		final(t, "b", revoked, stopB())
		t.Logf("reset-password in a took %v (it sweeps the index until -quiet has passed)", took)
		run.Settle(t)
		req, _ := http.NewRequest("POST", run.URL("b")+"/api/session", nil)
		req.SetBasicAuth(user, second)
		if status, body := r.do(req); status != 201 {
			t.Errorf("log in in b with the new password: %d %s", status, body)
		}
	})

	t.Run("APasswordResetInOneRegionIsNotUndoneByLogInsInTheOtherDuringAPause", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		const user, old, fresh = "racer@vsphere.local", "Racer-Pass-1", "Racer-Pass-2"
		scan.Secret(old)
		scan.Secret(fresh)
		r.cisAdmin("a", old+"\n", "add-user", user)
		run.Settle(t)
		made := []string{r.logIn("b", user, old)} // before the pause
		run.Control(t, "pause")
		// The reset's sweep must outlast the pause and the replication
		// that follows it (docs/REGIONS.md): -quiet 8s, the pause 3 s.
		cmd := r.adminCmd("a", fresh+"\n", "-quiet", "8s", "reset-password", user)
		reset := make(chan error, 1)
		var out []byte
		go func() {
			var err error
			out, err = cmd.CombinedOutput()
			reset <- err
		}()
		// b has not heard of the reset: right log-ins with the old
		// password are let in, wrong ones counted, in b's items only.
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
			made = append(made, r.logIn("b", user, old))
			if len(made)%3 == 0 {
				if status, _ := r.tryLogIn("b", user, "Wrong-"+strconv.Itoa(len(made))); status != 401 {
					t.Errorf("a wrong password in b: %d, want 401", status)
				}
			}
		}
		run.Control(t, "resume")
		if err := <-reset; err != nil {
			t.Fatalf("reset-password in a: %v\n%s", err, out)
		}
		run.Settle(t)
		time.Sleep(lag) // anything written while the queue drained
		run.Settle(t)
		for _, region := range []string{"a", "b"} {
			if status, body := r.tryLogIn(region, user, fresh); status != 201 {
				t.Errorf("the new password in %s: %d %s", region, status, body)
			}
			if status, body := r.tryLogIn(region, user, old); status != 401 {
				t.Errorf("the old password in %s: %d %s, want 401", region, status, body)
			}
			for i, id := range made {
				if status, body := r.get(region, id); status != 401 {
					t.Errorf("session %d made in b with the old password, in %s after the reset: %d %s", i, region, status, body)
				}
			}
		}
		t.Logf("%d sessions made in b with the old password, each ended", len(made))
	})

	t.Run("GuessesAcrossTwoRegionsInOneWindowAreBoundedAsStated", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		const max = 5 // LOGIN_MAX_FAILURES' default, which the run keeps
		const right = "Guessed-Pass-1"
		scan.Secret(right)
		// Replicating: the regions' counts add up to one region's bound.
		r.cisAdmin("a", right+"\n", "add-user", "guessed@vsphere.local")
		run.Settle(t)
		for i := range max {
			region := []string{"a", "b"}[i%2]
			if status, _ := r.tryLogIn(region, "guessed@vsphere.local", "Guess-"+strconv.Itoa(i)); status != 401 {
				t.Fatalf("guess %d in %s: %d", i, region, status)
			}
			run.Settle(t)
		}
		for _, region := range []string{"a", "b"} {
			if status, _ := r.tryLogIn(region, "guessed@vsphere.local", right); status != 401 {
				t.Errorf("%d guesses across both regions, then the right password in %s: %d, want 401 (one region's bound: %d)", max, region, status, max)
			}
		}
		// Replication paused: each region its own bound, no more.
		r.cisAdmin("a", right+"\n", "add-user", "parted@vsphere.local")
		run.Settle(t)
		run.Control(t, "pause")
		for _, region := range []string{"a", "b"} {
			for i := range max {
				if status, _ := r.tryLogIn(region, "parted@vsphere.local", region+"-Guess-"+strconv.Itoa(i)); status != 401 {
					t.Fatalf("guess %d in %s: %d", i, region, status)
				}
			}
			if status, _ := r.tryLogIn(region, "parted@vsphere.local", right); status != 401 {
				t.Errorf("%d guesses in %s, then the right password there: %d, want 401", max, region, status)
			}
		}
		run.Control(t, "resume")
		run.Settle(t)
		for _, region := range []string{"a", "b"} {
			if status, _ := r.tryLogIn(region, "parted@vsphere.local", right); status != 401 {
				t.Errorf("after resume, the right password in %s: %d, want 401", region, status)
			}
		}
	})

	t.Run("AUserRemovedAndAddedAgainInheritsNoRegionsLock", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		const max = 5 // LOGIN_MAX_FAILURES' default, which the run keeps
		const right = "Again-Pass-1"
		scan.Secret(right)
		r.cisAdmin("a", right+"\n", "add-user", "again@vsphere.local")
		run.Settle(t)
		for i := range max {
			if status, _ := r.tryLogIn("b", "again@vsphere.local", "Guess-"+strconv.Itoa(i)); status != 401 {
				t.Fatalf("guess %d in b: %d", i, status)
			}
		}
		run.Settle(t)
		if status, _ := r.tryLogIn("a", "again@vsphere.local", right); status != 401 {
			t.Fatalf("the right password in a after b's lock replicated: %d, want 401", status)
		}
		r.cisAdmin("a", "", "remove-user", "again@vsphere.local")
		run.Settle(t)
		r.cisAdmin("a", right+"\n", "add-user", "again@vsphere.local")
		run.Settle(t)
		for _, region := range []string{"a", "b"} {
			if status, body := r.tryLogIn(region, "again@vsphere.local", right); status != 201 {
				t.Errorf("the user added again, in %s: %d %s, want 201 (nothing of the old user's lock)", region, status, body)
			}
		}
	})

	// Last: it stops b's engine.
	t.Run("AStoppedEngineInOneRegionLeavesTheOtherServing", func(t *testing.T) {
		r := regions{t: t, run: run, scan: scan}
		madeInB := r.admin("b")
		r.answersIn("a", madeInB)
		madeInA := r.admin("a")
		pid := run.EnginePID("b")
		if pid <= 0 {
			t.Fatal("no REGION_B_ENGINE_PID")
		}
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("b's engine did not stop")
			}
		}
		status, body := r.get("b", madeInB)
		if status != 503 || !strings.Contains(body, `"error_type":"SERVICE_UNAVAILABLE"`) {
			t.Errorf("get in b with its engine stopped: %d %s, want the vAPI 503", status, body)
		}
		req, _ := http.NewRequest("POST", run.URL("b")+"/api/session", nil)
		req.SetBasicAuth("administrator@vsphere.local", regionsrun.Password)
		if status, body := r.do(req); status != 503 {
			t.Errorf("log in in b with its engine stopped: %d %s, want 503", status, body)
		}
		if status, body := r.get("a", madeInA); status != 200 {
			t.Errorf("a's own session in a: %d %s", status, body)
		}
		for i := range 2 {
			if status, body := r.get("a", madeInB); status != 200 {
				t.Errorf("a session made in b, seen by a, in a (get %d): %d %s", i, status, body)
			}
		}
		// a took it over: counted once, its line naming b and the
		// session's reference (the token never: the scan below).
		tok, _ := session.ParseToken(madeInB)
		ref := `"session":"` + tok.Hash().String()[:12] + `"`
		if got := taken.with(`"SessionTakeOver":1`, `"home_region":"b"`, ref); got != 1 {
			t.Errorf("%d SessionTakeOver lines naming b and %s after two gets in a, want 1", got, ref)
		}
		r.admin("a")
	})

	for _, leak := range scan.Leaks() {
		t.Errorf("a region logged a secret: %s", leak)
	}
}

// lineLog keeps the lines the regions log, for a test to count.
type lineLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// with counts the lines holding every one of parts.
func (l *lineLog) with(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			n++
		}
	}
	return n
}

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// cisAdmin runs the admin tool against region's engine, with its settings
// file (what `make admin REGION=...` reads) as its environment.
func (r regions) cisAdmin(region, stdin string, args ...string) {
	r.t.Helper()
	if out, err := r.adminCmd(region, stdin, args...).CombinedOutput(); err != nil {
		r.t.Fatalf("cis-admin %v in %s: %v\n%s", args, region, err, out)
	}
}

// passwordChanged watches region's engine from now on and returns a func
// that yields when user's password hash there first differed from now's.
func (r regions) passwordChanged(region, user string) func() time.Time {
	r.t.Helper()
	env := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_ENDPOINT_URL_DYNAMODB": r.run.Env["REGION_"+strings.ToUpper(region)+"_ENGINE"]}
	cfg, err := awsenv.Config(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "AWS_ENDPOINT_URL_DYNAMODB")
	if err != nil {
		r.t.Fatal(err)
	}
	users := &dynamo.Users{DB: dynamo.NewClientFromConfig(cfg), Table: config.DefaultUsersTable}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	before, err := users.User(ctx, user)
	if err != nil {
		cancel()
		r.t.Fatal(err)
	}
	changed := make(chan time.Time, 1)
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			if u, err := users.User(ctx, user); err == nil && u.PasswordHash != before.PasswordHash {
				changed <- time.Now()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(changed)
	}()
	return func() time.Time {
		r.t.Helper()
		at, ok := <-changed
		if !ok {
			r.t.Fatalf("%s's password never changed in %s's engine", user, region)
		}
		return at
	}
}

// adminCmd is the admin tool, built, ready to run against region.
func (r regions) adminCmd(region, stdin string, args ...string) *exec.Cmd {
	r.t.Helper()
	root, err := localdynamo.RepoRoot()
	if err != nil {
		r.t.Fatal(err)
	}
	bin := filepath.Join(r.t.TempDir(), "cis-admin")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd/cis-admin")).CombinedOutput(); err != nil {
		r.t.Fatalf("build cis-admin: %v\n%s", err, out)
	}
	f, err := os.Open(r.run.EnvFiles[region])
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			cmd.Env = append(cmd.Env, line)
		}
	}
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}
