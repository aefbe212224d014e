package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/localrun"
	"github.com/cis-session/cis-session/internal/awsenv"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
)

// These hold the log-in defence (docs/SECURITY.md, "Log-in defence")
// against the real binary as `make run` serves it, whose source of a
// request is its TCP peer: each client below connects from its own
// loopback address. The policy is the default one: 5 passwords checked per
// account, class of source and 15 minutes.

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

// auditLog collects cis-local's audit lines, as the audit trail keeps them.
type auditLog struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *auditLog) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["log"] == "audit" {
			l.mu.Lock()
			l.lines = append(l.lines, m)
			l.mu.Unlock()
		}
	}
	return len(p), nil
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

func TestMakeRunChecksNoMorePasswordsThanTheLimitHoweverManyAtOnce(t *testing.T) {
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
	checked := causes["wrong_password"] + causes["repeated_password"]
	t.Logf("audit trail of %d guesses at once: %v", guesses, causes)
	if checked > limit || checked+causes["locked"] != guesses {
		t.Fatalf("audit trail %v: %d passwords checked of %d guesses, want at most %d, the rest locked", causes, checked, guesses, limit)
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
	// Ansible with forks=20, a thread pool, a CI fan-out. At most 5 are
	// checked at a time; the others wait for them rather than fail.
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

func TestMakeRunChecksNoMoreWrongPasswordsThanTheLimitAmongRightOnesAtOnce(t *testing.T) {
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
	checked := causes["wrong_password"] + causes["repeated_password"]
	t.Logf("%d right and %d wrong at once: %d logged in; audit trail of the refusals %v", right, wrong, loggedIn, causes)
	if checked > limit || checked+causes["locked"] != wrong+refusedRight {
		t.Fatalf("audit trail %v: %d wrong passwords checked, want at most %d, every other refusal locked", causes, checked, limit)
	}
	// A right password is refused only once wrong ones have filled the
	// window: never because of other right ones.
	if loggedIn+refusedRight != right || refusedRight > 0 && checked < limit {
		t.Fatalf("%d of %d right passwords logged in with %d wrong checked: a right one was refused by a window wrong ones had not filled",
			loggedIn, right, checked)
	}
}

func TestMakeRunAReservationLeftByACrashLocksTheOwnerNoLongerThanItsWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const window = 6 * time.Second // longer than the wait for reservations that never settle (session.BusyWait)
	run := localrun.Start(t, new(auditLog), "LOGIN_FAILURE_WINDOW="+window.String())
	// cis-local writes the file just after it starts listening.
	env, err := os.ReadFile(run.EnvFile)
	for deadline := time.Now().Add(30 * time.Second); os.IsNotExist(err) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		env, err = os.ReadFile(run.EnvFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			vars[k] = v
		}
	}
	cfg, err := awsenv.Config(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, "AWS_ENDPOINT_URL_DYNAMODB")
	if err != nil {
		t.Fatal(err)
	}
	// Written straight into the engine: five attempts reserved by
	// invocations that died before settling fill the unfamiliar class.
	since := time.Now()
	_, err = dynamo.NewClientFromConfig(cfg).UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:        aws.String(vars[config.EnvUsersTable]),
		Key:              map[string]types.AttributeValue{"user_key": &types.AttributeValueMemberS{Value: admin}},
		UpdateExpression: aws.String("SET failed_count = :n, pending_count = :n, failed_since_ms = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": &types.AttributeValueMemberN{Value: "5"},
			":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(since.UnixMilli(), 10)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The owner, from a source new to the account: refused (after waiting
	// BusyWait in vain for those attempts to settle) while the window runs...
	owner := from("127.0.0.42")
	if a := logIn(t, run, owner, "api", admin, localrun.Password); a.status != 401 {
		t.Fatalf("within the window the dead reservations fill: %+v, want 401", a)
	}
	// ...and logged in once it has ended: nothing pending outlives it.
	time.Sleep(time.Until(since.Add(window)))
	if a := logIn(t, run, owner, "api", admin, localrun.Password); !a.loggedIn("api") {
		t.Fatalf("the owner after the window of the dead reservations: %+v", a)
	}
}
