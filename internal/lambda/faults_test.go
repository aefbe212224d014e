package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/faultproxy"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/dynamo"
)

// functionTimeout is each function's timeout: the budget of one invocation.
const functionTimeout = 3 * time.Second

// proxiedStack is the service over a fault proxy in front of a real
// engine, which counts every storage request; its password checks are
// counted too.
type proxiedStack struct {
	*stack
	fixture   dynamotest.Fixture
	proxy     *faultproxy.Proxy
	passwords *countingPasswords
}

func newProxiedStack(t testing.TB, srv *localdynamo.Server) proxiedStack {
	t.Helper()
	f := dynamotest.Setup(t, srv)
	proxy, err := faultproxy.Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	st := newStackOver(t, f, clientAt(t, proxy.URL))
	pw := &countingPasswords{Passwords: st.svc.Passwords}
	st.svc.Passwords = pw
	return proxiedStack{stack: st, fixture: f, proxy: proxy, passwords: pw}
}

// newFaultStack is a proxied stack whose invocations have the budget of the
// function's timeout.
func newFaultStack(t *testing.T, srv *localdynamo.Server) proxiedStack {
	t.Helper()
	fs := newProxiedStack(t, srv)
	fs.budget = functionTimeout
	return fs
}

// clientAt builds a DynamoDB client exactly as the functions do, pointed at
// endpoint.
func clientAt(t testing.TB, endpoint string) *dynamo.Client {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// info gets a session, which must be live, and returns its Cis.Session.Info.
func (s *stack) info(tok string) map[string]string {
	s.t.Helper()
	r := s.v2("GET", "/api/session", sid(tok), "")
	var info map[string]string
	if r.Status != 200 || json.Unmarshal([]byte(r.Body), &info) != nil {
		s.t.Fatalf("get = %d %s, want 200 and the session's info", r.Status, r.Body)
	}
	return info
}

func TestBackendFaultsAnswerServiceUnavailableInTimeAndLoseNoSession(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		fs := newFaultStack(t, srv)
		type existing struct {
			tok  string
			info map[string]string
		}
		var before []existing
		for range 3 {
			tok := fs.login()
			before = append(before, existing{tok, fs.info(tok)})
		}
		faults := []faultproxy.Fault{
			{Kind: faultproxy.Latency, Delay: 2 * functionTimeout},
			{Kind: faultproxy.Reset},
			{Kind: faultproxy.Refuse},
			{Kind: faultproxy.InternalError},
			{Kind: faultproxy.Throttling},
			{Kind: faultproxy.ThroughputExceeded},
		}
		var unavailableBody string
		for _, fault := range faults {
			t.Run(string(fault.Kind), func(t *testing.T) {
				if err := fs.proxy.Inject(fault); err != nil {
					t.Fatal(err)
				}
				requests := []struct {
					op string
					ev any
				}{
					{"create", v2Event("POST", "/api/session", basic(adminName, adminPass), "")},
					{"get", v2Event("GET", "/api/session", sid(before[0].tok), "")},
					// The proxy never lets a faulted request reach the engine,
					// so this session must outlive the fault like the others.
					{"delete", v2Event("DELETE", "/api/session", sid(before[2].tok), "")},
				}
				for _, req := range requests {
					payload, _ := json.Marshal(req.ev)
					faulted := fs.proxy.Faulted()
					r, err := fs.call(payload)
					if errors.Is(err, errLate) {
						t.Fatalf("%s: no answer within the function's %v budget: the runtime would have killed it", req.op, functionTimeout)
					}
					if err != nil {
						t.Fatalf("%s: %v", req.op, err)
					}
					wantError(t, r, 503, "SERVICE_UNAVAILABLE")
					if unavailableBody == "" {
						unavailableBody = r.Body
					}
					if r.Body != unavailableBody {
						t.Errorf("%s: 503 body %s differs from %s: it tells faults apart", req.op, r.Body, unavailableBody)
					}
					disclosesNothing(t, r, fs.fixture, fs.proxy.URL)
					// Each storage call gives up after a bounded number of
					// attempts (the login fails at its first, the user read).
					// A refused connection never reaches the proxy's handler.
					fs.waitIdle(t)
					attempts := fs.proxy.Faulted() - faulted
					if attempts > dynamo.MaxAttempts || attempts == 0 && fault.Kind != faultproxy.Refuse {
						t.Errorf("%s: %d attempts reached the faulty backend, want 1 to %d", req.op, attempts, dynamo.MaxAttempts)
					}
				}
				if err := fs.proxy.Clear(); err != nil {
					t.Fatal(err)
				}
				for i, b := range before {
					info := fs.info(b.tok)
					if info["created_time"] != b.info["created_time"] || info["user"] != b.info["user"] {
						t.Errorf("session %d after the fault: %v, was %v: created_time and user must not change", i, info, b.info)
					}
					if info["last_accessed_time"] < b.info["last_accessed_time"] {
						t.Errorf("session %d after the fault: last access %s went back from %s", i, info["last_accessed_time"], b.info["last_accessed_time"])
					}
				}
			})
		}
	})
}

// waitIdle waits until the proxy has noticed every client that hung up.
func (fs proxiedStack) waitIdle(t *testing.T) {
	t.Helper()
	for i := 0; fs.proxy.InFlight() > 0; i++ {
		if i == 500 {
			t.Fatalf("the proxy still holds %d requests whose clients gave up", fs.proxy.InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// disclosesNothing fails if an error body names the backend, its address,
// its tables or what went wrong there.
func disclosesNothing(t *testing.T, r response, f dynamotest.Fixture, proxyURL string) {
	t.Helper()
	body := strings.ToLower(r.Body)
	for _, leak := range []string{
		"127.0.0.1", strings.TrimPrefix(proxyURL, "http://"), f.Tables.Sessions, f.Tables.Users,
		"dial", "connect", "refused", "reset", "timeout", "deadline", "throttl", "throughput",
		"dynamodb", "internalserver", "exception", "status code",
	} {
		if strings.Contains(body, strings.ToLower(leak)) {
			t.Errorf("503 body discloses %q: %s", leak, r.Body)
		}
	}
}

func TestSlowBackendWithinTheBudgetIsServed(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		fs := newFaultStack(t, srv)
		// Slower than DynamoDB ever is, and still well within one attempt.
		if err := fs.proxy.Inject(faultproxy.Fault{Kind: faultproxy.Latency, Delay: dynamo.AttemptTimeout / 4}); err != nil {
			t.Fatal(err)
		}
		tok := fs.login()
		fs.info(tok)
		if r := fs.v2("DELETE", "/api/session", sid(tok), ""); r.Status != 204 {
			t.Fatalf("delete over a slow backend = %d %s", r.Status, r.Body)
		}
		if fs.proxy.Faulted() != 0 {
			t.Fatalf("%d requests gave up on a backend slow within the budget", fs.proxy.Faulted())
		}
	})
}
