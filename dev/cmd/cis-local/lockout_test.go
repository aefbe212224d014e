package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/internal/config"
)

// These hold the log-in defence (docs/SECURITY.md, "Log-in defence")
// against the real binary as `make run` serves it, whose source of a
// request is its TCP peer: each client below connects from its own
// loopback address. The policy is the default one: 5 wrong passwords
// counted per account, class of source and 15-minute window.

const admin = "administrator@vsphere.local"

// from returns a client whose connections come from the loopback address ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// answer is what a client can tell of a refused log-in.
type answer struct {
	status int
	ctype  string
	body   string
}

// logIn sends one log-in on surface ("api", "rest" or "jsonrpc") from c.
func logIn(t *testing.T, run *localrun.Run, c *http.Client, surface, user, pass string) answer {
	t.Helper()
	var req *http.Request
	switch surface {
	case "api", "rest":
		path := map[string]string{"api": "/api/session", "rest": "/rest/com/vmware/cis/session"}[surface]
		req, _ = http.NewRequest("POST", run.URL+path, nil)
		req.SetBasicAuth(user, pass)
	case "jsonrpc":
		sec, _ := json.Marshal(map[string]string{"schemeId": "com.vmware.vapi.std.security.user_pass", "userName": user, "password": pass})
		body := `{"jsonrpc":"2.0","method":"invoke","id":"0","params":{"serviceId":"com.vmware.cis.session","operationId":"create",` +
			`"input":{"STRUCTURE":{"operation-input":{}}},"ctx":{"appCtx":{},"securityCtx":` + string(sec) + `}}}`
		req, _ = http.NewRequest("POST", run.URL+"/api", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("vapi-service", "com.vmware.cis.session")
		req.Header.Set("vapi-operation", "create")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), b.String()}
}

// loggedIn reports whether the answer of a log-in on surface opened a
// session: 201 on /api, 200 with the id on /rest, an output on JSON-RPC.
func (a answer) loggedIn(surface string) bool {
	switch surface {
	case "jsonrpc":
		return a.status == 200 && strings.Contains(a.body, `"output"`)
	case "rest":
		return a.status == 200 && strings.Contains(a.body, `"value"`)
	}
	return a.status == 201
}

// auditLog collects cis-local's audit lines, as the audit trail keeps them,
// and (at LOG_LEVEL=DEBUG) each request's timing line: its DynamoDB
// requests.
type auditLog struct {
	mu       sync.Mutex
	lines    []map[string]any
	timings  []map[string]any
	failures int // backend failures counted in the metrics
}

func (l *auditLog) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		l.mu.Lock()
		switch {
		case m["log"] == "audit":
			l.lines = append(l.lines, m)
		case m["msg"] == "timing" && m["request_id"] != nil:
			l.timings = append(l.timings, m)
		case m["log"] == "metric" && m["BackendFailure"] != nil:
			l.failures++

		}
		l.mu.Unlock()
	}
	return len(p), nil
}

// events counts the audit lines of kind event.
func (l *auditLog) events(event string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.lines {
		if m["event"] == event {
			n++
		}
	}
	return n
}

// requests returns, for the requests served after the first skip, how
// many made each number of DynamoDB requests (their timing lines), the
// SDK's retries of an attempt that failed (a timeout of an engine starved
// of CPU) left out, and how many retries there were.
func (l *auditLog) requests(skip int) (map[int]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, retries := map[int]int{}, 0
	for _, m := range l.timings[skip:] {
		n, _ := m["dynamodb_requests"].(float64)
		r, _ := m["dynamodb_retries"].(float64)
		out[int(n-r)]++
		retries += int(r)
	}
	return out, retries
}

// served is how many requests have been timed so far.
func (l *auditLog) served() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.timings)
}

// causes counts the refused log-ins by cause, once n of them are written.
func (l *auditLog) causes(t *testing.T, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		got := map[string]int{}
		total := 0
		for _, m := range l.lines {
			if m["event"] == "login_refused" {
				got[fmt.Sprint(m["cause"])]++
				total++
			}
		}
		l.mu.Unlock()
		if total >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMakeRunLockoutNeverLocksTheOwnerOutOfTheirSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	run := localrun.Start(t, new(auditLog))
	owner := from("127.0.0.2")
	if a := logIn(t, run, owner, "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner's first log-in: %+v", a)
	}
	// Twenty failures from ten other sources: the unfamiliar sources' class
	// locks after five.
	wrong := map[string]answer{}
	for i := range 20 {
		c := from(fmt.Sprintf("127.0.0.%d", 10+i%10))
		surface := []string{"api", "rest", "jsonrpc"}[i%3]
		a := logIn(t, run, c, surface, admin, fmt.Sprintf("guess-%d", i))
		if a.loggedIn(surface) {
			t.Fatalf("guess %d logged in: %+v", i, a)
		}
		wrong[surface] = a
	}
	for _, surface := range []string{"api", "rest", "jsonrpc"} {
		if a := logIn(t, run, owner, surface, admin, localrun.Password); !a.loggedIn(surface) {
			t.Errorf("%s: the owner from their own source after twenty failures elsewhere: %+v", surface, a)
		}
		// A stranger with the right password: the same answer as a
		// wrong password, on every surface.
		if a := logIn(t, run, from("127.0.0.50"), surface, admin, localrun.Password); a != wrong[surface] {
			t.Errorf("%s: a stranger with the right password got %+v, a wrong password %+v", surface, a, wrong[surface])
		}
	}
	// A stranger who claims the owner's address is still a stranger: the
	// source is the TCP peer, never a header.
	for _, h := range []string{"X-Forwarded-For", "x-forwarded-for", "Forwarded", "X-Real-IP"} {
		req, _ := http.NewRequest("POST", run.URL+"/api/session", nil)
		req.SetBasicAuth(admin, localrun.Password)
		value := "127.0.0.2"
		if h == "Forwarded" {
			value = "for=" + value
		}
		req.Header.Set(h, value)
		resp, err := from("127.0.0.51").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("a stranger sending %s: 127.0.0.2 logged in: %d", h, resp.StatusCode)
		}
	}
}

func TestMakeRunCountsNoMoreWrongPasswordsThanTheLimitHoweverManyAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	audit := new(auditLog)
	run := localrun.Start(t, audit)
	const guesses, limit = 30, 5
	var wg sync.WaitGroup
	answers := make([]answer, guesses)
	start := make(chan struct{})
	for i := range guesses {
		c := from(fmt.Sprintf("127.0.0.%d", 100+i%10))
		wg.Go(func() {
			<-start
			answers[i] = logIn(t, run, c, "api", admin, fmt.Sprintf("guess-%d", i))
		})
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a != answers[0] || a.status != 401 {
			t.Fatalf("guess %d: %+v, want the same 401 as the others, %+v", i, a, answers[0])
		}
	}
	causes := audit.causes(t, guesses)
	counted := causes["wrong_password"]
	t.Logf("audit trail of %d guesses at once: %v", guesses, causes)
	if counted != limit || counted+causes["locked"]+causes["not_counted"] != guesses || audit.events("lockout") != 1 {
		t.Fatalf("audit trail %v, %d lockouts: %d wrong passwords counted of %d guesses, want %d, the rest refused uncounted, one lockout",
			causes, audit.events("lockout"), counted, guesses, limit)
	}
	// The stranger's class is locked now, to the right password too.
	if a := logIn(t, run, from("127.0.0.110"), "api", admin, localrun.Password); a != answers[0] {
		t.Fatalf("the right password from a stranger after the guesses: %+v, want the refusal %+v", a, answers[0])
	}
}

// TestMakeRunAFloodOfOneWrongPasswordCostsAFixedNumberOfRequests: the same
// wrong password sent on 16 connections for six seconds, each from its
// own address, while the owner logs in from their familiar source. Every
// log-in makes the stated DynamoDB requests and no more (a wait, a retry
// or a poll would add requests): a refusal three (GetItem, the Query of
// the cap, one UpdateItem), a success four (and a PutItem); the one wrong
// password that fills a window, four (the lock). The password is counted
// once, so the flood never locks anyone; and the owner logs in throughout.
func TestMakeRunAFloodOfOneWrongPasswordCostsAFixedNumberOfRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	audit := new(auditLog)
	run := localrun.Start(t, audit, "LOG_LEVEL=DEBUG")
	owner := from("127.0.0.20")
	if a := logIn(t, run, owner, "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner's first log-in: %+v", a)
	}
	// Its timing line is written after its answer: wait for it.
	for deadline := time.Now().Add(10 * time.Second); audit.served() < 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	skip := audit.served() // the first log-in (which may also rehash the seeded password)
	// 16 connections: what one in-memory dynalite, sharing 2 cores with
	// every hash and with the other test packages, answers within the
	// SDK's 1 s attempt timeout (at 40 it timed out, and a log-in's third
	// attempt answered 503). Deployed, each log-in has its own function
	// instance; the count of requests per log-in does not depend on it.
	const connections, flood = 16, 6 * time.Second
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	end := time.Now().Add(flood)
	for i := range connections {
		c := from(fmt.Sprintf("127.0.1.%d", 10+i))
		wg.Go(func() {
			for time.Now().Before(end) {
				if a := logIn(t, run, c, "api", admin, "Flood-Guess-1"); a.status != 401 {
					t.Errorf("a flood log-in: %+v, want 401", a)
					return
				}
				mu.Lock()
				sent++
				mu.Unlock()
			}
		})
	}
	owned, longest := 0, time.Duration(0)
	for time.Now().Before(end) {
		began := time.Now()
		if a := logIn(t, run, owner, "api", admin, localrun.Password); !a.loggedIn("api") {
			t.Fatalf("the owner's right password during the flood: %+v", a)
		}
		owned++
		longest = max(longest, time.Since(began)) // reported, never asserted: 16 argon2id hashes share 2 cores
	}
	wg.Wait()
	causes := audit.causes(t, sent)
	for deadline := time.Now().Add(10 * time.Second); audit.served() < skip+sent+owned && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	perLogIn, retries := audit.requests(skip)
	t.Logf("%d wrong log-ins on %d connections in %s, %d of the owner's during it (the longest %s); audit %v; log-ins by their DynamoDB requests: %v (and %d SDK retries)",
		sent, connections, flood, owned, longest.Round(time.Millisecond), causes, perLogIn, retries)
	if causes["wrong_password"] != 1 || causes["wrong_password"]+causes["repeated_password"]+causes["not_counted"] != sent {
		t.Errorf("audit trail %v: want the flood's password counted once, every other flood log-in a repeat or refused uncounted", causes)
	}
	if audit.events("lockout") != 0 {
		t.Errorf("one wrong password locked the class")
	}
	total := 0
	for n, count := range perLogIn {
		total += count
		if n != 3 && n != 4 {
			t.Errorf("%d log-ins made %d DynamoDB requests each, want 3 (a refusal) or 4 (a success)", count, n)
		}
	}
	if total != sent+owned || perLogIn[4] != owned {
		t.Errorf("%d timed log-ins, %d of 4 requests; want %d, the %d successes", total, perLogIn[4], sent+owned, owned)
	}
}

// TestMakeRunAClientThatHangsUpBlocksNothing: clients that send a log-in
// and hang up before the answer (the whole request, or half of it), twenty
// at once from the owner's own source: nothing is held for them, and the
// owner logs in from that source at once. A log-in whose client hung up
// runs to its end: its wrong password is counted all the same (hanging up
// buys no free guess), and it is no backend failure.
func TestMakeRunAClientThatHangsUpBlocksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	audit := new(auditLog)
	run := localrun.Start(t, audit)
	const source = "127.0.0.21"
	owner := from(source)
	if a := logIn(t, run, owner, "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner's first log-in: %+v", a)
	}
	addr := strings.TrimPrefix(run.URL, "http://")
	// send writes a log-in on a connection of its own from the owner's
	// source; whole, unless half; and reads the answer's status line
	// unless it hangs up.
	send := func(pass string, half, hangUp bool) string {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer c.Close()
		req := "POST /api/session HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Basic " +
			base64.StdEncoding.EncodeToString([]byte(admin+":"+pass)) + "\r\nContent-Length: 0\r\n"
		if !half {
			req += "\r\n"
		}
		if _, err := c.Write([]byte(req)); err != nil || hangUp {
			return ""
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	// The log-in as the hung-up clients send it, answered.
	if got := send(localrun.Password, false, false); got != "HTTP/1.1 201 Created" {
		t.Fatalf("the raw log-in answered %q, want 201", got)
	}
	const hungUp, wrong = 20, 3 // fewer wrong than the limit: the owner's class stays open
	var wg sync.WaitGroup
	for i := range hungUp {
		wg.Go(func() {
			switch {
			case i < wrong:
				send(fmt.Sprint("hang-up-guess-", i), false, true)
			case i%2 == 0:
				send(localrun.Password, false, true)
			default:
				send(localrun.Password, true, true)
			}
		})
	}
	wg.Wait()
	if a := logIn(t, run, owner, "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner right after %d clients hung up: %+v", hungUp, a)
	}
	causes := audit.causes(t, wrong)
	// Every whole log-in with the right password ran to its session: the
	// owner's three, and the hung-up ones.
	whole := 3
	for i := wrong; i < hungUp; i++ {
		if i%2 == 0 {
			whole++
		}
	}
	for deadline := time.Now().Add(30 * time.Second); audit.events("login") < whole && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after the hang-ups: %d sessions opened, refusals %v", audit.events("login"), causes)
	if n := audit.events("login"); n != whole {
		t.Errorf("%d log-ins opened a session, want %d: every whole one with the right password, hung up or not", n, whole)
	}
	if causes["wrong_password"] != wrong {
		t.Errorf("audit trail %v: want the %d wrong passwords whose clients hung up counted", causes, wrong)
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	if audit.failures != 0 {
		t.Errorf("%d backend failures counted for clients that hung up", audit.failures)
	}
}

func TestMakeRunCountsAStalePasswordOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	audit := new(auditLog)
	run := localrun.Start(t, audit)
	stale := from("127.0.0.30") // a client with an old password saved
	for i := range 10 {
		if a := logIn(t, run, stale, "api", admin, "Old-Pass-0"); a.status != 401 {
			t.Fatalf("retry %d of the old password: %+v", i, a)
		}
	}
	if a := logIn(t, run, from("127.0.0.31"), "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the right password from another source after ten retries of one wrong one: %+v", a)
	}
	if causes := audit.causes(t, 10); causes["wrong_password"] != 1 || causes["repeated_password"] != 9 {
		t.Errorf("audit trail %v, want 1 wrong_password and 9 repeated_password", causes)
	}
}

// atOnce sends one log-in per password in passwords, all at the same
// instant, each from the client its index gives, and returns the answers in
// the same order.
func atOnce(t *testing.T, run *localrun.Run, client func(i int) *http.Client, passwords []string) []answer {
	t.Helper()
	var wg sync.WaitGroup
	answers := make([]answer, len(passwords))
	start := make(chan struct{})
	for i, pass := range passwords {
		c := client(i)
		wg.Go(func() {
			<-start
			answers[i] = logIn(t, run, c, "api", admin, pass)
		})
	}
	close(start)
	wg.Wait()
	return answers
}

func TestMakeRunLogsInEveryRightPasswordSentAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	run := localrun.Start(t, new(auditLog))
	// Twenty log-ins of one service account at once from one new source:
	// Ansible with forks=20, a thread pool, a CI fan-out. A right password
	// is never counted: none refuses another, and none waits.
	const n = 20
	c := from("127.0.0.40")
	passwords := make([]string, n)
	for i := range passwords {
		passwords[i] = localrun.Password
	}
	for i, a := range atOnce(t, run, func(int) *http.Client { return c }, passwords) {
		if !a.loggedIn("api") {
			t.Errorf("log-in %d of %d at once with the right password: %+v", i, n, a)
		}
	}
}

func TestMakeRunCountsNoMoreWrongPasswordsThanTheLimitAmongRightOnesAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	audit := new(auditLog)
	run := localrun.Start(t, audit)
	// The owner's source, familiar before the burst, so that every attempt
	// below counts in one class: an attacker on the owner's own network.
	c := from("127.0.0.41")
	if a := logIn(t, run, c, "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner's first log-in: %+v", a)
	}
	const right, wrong, limit = 10, 30, 5
	passwords := make([]string, 0, right+wrong)
	for i := range right + wrong {
		if i%4 == 0 {
			passwords = append(passwords, localrun.Password)
		} else {
			passwords = append(passwords, fmt.Sprintf("guess-%d", i))
		}
	}
	answers := atOnce(t, run, func(int) *http.Client { return c }, passwords)
	loggedIn, refusedRight := 0, 0
	var refusal answer
	for i, a := range answers {
		switch {
		case a.loggedIn("api") && passwords[i] != localrun.Password:
			t.Fatalf("guess %d logged in: %+v", i, a)
		case a.loggedIn("api"):
			loggedIn++
			continue
		case passwords[i] == localrun.Password:
			refusedRight++
		}
		if refusal == (answer{}) {
			refusal = a
		}
		if a != refusal || a.status != 401 {
			t.Fatalf("attempt %d: %+v, want the same 401 as every refusal, %+v", i, a, refusal)
		}
	}
	causes := audit.causes(t, wrong+refusedRight)
	counted := causes["wrong_password"]
	t.Logf("%d right and %d wrong at once: %d logged in; audit trail of the refusals %v", right, wrong, loggedIn, causes)
	if counted != limit || counted+causes["locked"]+causes["not_counted"] != wrong+refusedRight {
		t.Fatalf("audit trail %v: %d wrong passwords counted, want %d, every other refusal uncounted", causes, counted, limit)
	}
	// A right password is refused only once wrong ones have filled the
	// window: never because of other right ones.
	if loggedIn+refusedRight != right || refusedRight > 0 && counted < limit {
		t.Fatalf("%d of %d right passwords logged in with %d wrong counted: a right one was refused by a window wrong ones had not filled",
			loggedIn, right, counted)
	}
}

func TestMakeRunAUserItemOfTheReservingVersionBlocksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	run := localrun.Start(t, new(auditLog))
	vars := run.Settings(t)
	// Written straight into the engine, as issue 17's defence left an
	// item: five attempts reserved by invocations that died before
	// settling, a full window of the unfamiliar class.
	_, err := run.DB(t).UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:        aws.String(vars[config.EnvUsersTable]),
		Key:              map[string]types.AttributeValue{"user_key": &types.AttributeValueMemberS{Value: admin}},
		UpdateExpression: aws.String("SET failed_count = :n, pending_count = :n, failed_since_ms = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": &types.AttributeValueMemberN{Value: "5"},
			":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Read as nothing counted: the owner, from a source new to the
	// account, logs in at once.
	if a := logIn(t, run, from("127.0.0.42"), "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner with an item of the reserving version: %+v", a)
	}
}
