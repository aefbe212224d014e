package lambda_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cis-session/cis-session/dev/bench"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// The warm-path benchmarks measure what one invocation of a warm function
// costs in process: the API Gateway event in, the response out, the DynamoDB
// request signed, marshalled and sent over loopback, and its answer
// unmarshalled. The engine is a stub that answers every operation with a
// canned response, so that its own time is as near nothing as loopback
// allows; the storage behaviour itself is tested against real engines.
//
// make bench runs them with -benchmem and reports ns/op, B/op and allocs/op.

// cheapParams make the stored hash nearly free to check, so that
// BenchmarkWarm/create measures everything but argon2id, whose cost
// BenchmarkVerify in package argon2id measures on its own.
var cheapParams = argon2id.Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// stubEngineEnv, when set in the environment of this test binary, makes it
// the stub engine instead of running tests: see stubEngine.
const stubEngineEnv = "CIS_BENCH_STUB_ENGINE_PASSWORD_HASH"

// init turns this test binary into the stub engine when stubEngine starts
// it as one: before TestMain, so that no test or engine starts.
func init() {
	if hash, ok := os.LookupEnv(stubEngineEnv); ok {
		serveStubEngine(hash)
		os.Exit(0)
	}
}

// stubEngine starts this test binary again as a stub DynamoDB engine on a
// loopback port, and stops it when tb ends. A process of its own keeps the
// stub's work out of the benchmark's allocations and CPU time.
func stubEngine(tb testing.TB, passwordHash string) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), stubEngineEnv+"="+passwordHash)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close() // the stub exits when its stdin closes
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("stub engine: %v", err)
	}
	return strings.TrimSpace(line)
}

// serveStubEngine answers DynamoDB requests on loopback with canned
// responses — a live session for UpdateItem and DeleteItem, the user for
// GetItem, one live session for the user's Query (the session cap's count),
// an empty success for PutItem, each with X-Amz-Crc32 as DynamoDB
// sends it — and prints its URL, until its stdin closes.
func serveStubEngine(passwordHash string) {
	const usersUpdate = "UpdateItem on the users table"
	now := time.Now().UnixMilli()
	// Sealed as a log-in seals it, for benchToken, with benchKeys: the
	// authorizer verifies it, the get (which holds no key) reads past it.
	hash := session.Token(benchToken).Hash()
	seal := benchKeys(nil).Seal(hash[:], adminName, time.UnixMilli(now))
	sessionItem := fmt.Sprintf(`{"token_hash":{"S":"%064d"},"user":{"S":%q},"user_key":{"S":%q},`+
		`"created_ms":{"N":"%d"},"last_accessed_ms":{"N":"%d"},"expires_at":{"N":"%d"},"seal":{"S":%q}}`,
		0, adminName, strings.ToLower(adminName), now, now, now/1000+1800, seal)
	canned := map[string][]byte{
		"UpdateItem": []byte(`{"Attributes":` + sessionItem + `}`),
		"DeleteItem": []byte(`{"Attributes":` + sessionItem + `}`),
		"GetItem": []byte(fmt.Sprintf(`{"Item":{"user_key":{"S":%q},"name":{"S":%q},"password_hash":{"S":%q},"created_ms":{"N":"%d"},"updated_ms":{"N":"%d"}}}`,
			strings.ToLower(adminName), adminName, passwordHash, now, now)),
		"PutItem": []byte(`{}`),
		"Query":   []byte(`{"Count":1,"ScannedCount":1}`),
		// A log-in's record of its success: an UpdateItem on the users
		// table that returns the user.
		usersUpdate: []byte(fmt.Sprintf(`{"Attributes":{"user_key":{"S":%q},"name":{"S":%q},"password_hash":{"S":%q},"created_ms":{"N":"%d"},"updated_ms":{"N":"%d"}}}`,
			strings.ToLower(adminName), adminName, passwordHash, now, now)),
	}
	crcs := map[string]string{}
	for op, body := range canned {
		crcs[op] = strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "stub engine:", err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	var conns atomic.Int64 // every connection accepted, this count's own included
	srv := &http.Server{ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/connections" {
			fmt.Fprint(w, conns.Load())
			return
		}
		req, _ := io.ReadAll(r.Body)
		target := r.Header.Get("X-Amz-Target")
		op := target[strings.LastIndexByte(target, '.')+1:]
		if op == "UpdateItem" && bytes.Contains(req, []byte(`"TableName":"`+config.DefaultUsersTable+`"`)) {
			op = usersUpdate
		}
		body, ok := canned[op]
		if !ok {
			http.Error(w, "stub: no canned response for "+target, http.StatusNotImplemented)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("X-Amz-Crc32", crcs[op])
		h.Set("X-Amzn-Requestid", "stub")
		_, _ = w.Write(body)
	})
	_ = srv.Serve(ln)
}

// stubConnections asks the stub at url how many connections it has
// accepted, this question's own included.
func stubConnections(tb testing.TB, url string) int64 {
	tb.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url + "/connections")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		tb.Fatalf("stub connections: %q", b)
	}
	return n
}

// warmFunction is a function's handler as Main builds it, over the stub,
// the count of bytes it logs, and the stub's URL.
func warmFunction(b testing.TB, ops ...httpapi.Operation) (invoker, *countingWriter, string) {
	b.Helper()
	hash, err := argon2id.Hash(adminPass, cheapParams)
	if err != nil {
		b.Fatal(err)
	}
	engine := stubEngine(b, hash)
	b.Setenv("AWS_ENDPOINT_URL_DYNAMODB", engine)
	b.Setenv("AWS_REGION", "us-east-1")
	b.Setenv("AWS_ACCESS_KEY_ID", "bench")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "bench")
	b.Setenv("AWS_SESSION_TOKEN", "bench")
	cfg, err := config.Parse(func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	// The collector as Main sets it, for the memory get and delete have.
	lambda.TuneGC(func(k string) (string, bool) {
		if k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
			return "512", true
		}
		return os.LookupEnv(k)
	})
	// Logs are formatted as in production, counted, and dropped.
	logs := &countingWriter{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	svc := local.Service(cfg, db)
	// argon2id is measured on its own: here the stored hash, the decoy and
	// the cost new hashes are held to are all the cheap one, so that a
	// log-in neither hashes at full cost nor upgrades the stored hash.
	svc.Passwords = argon2id.Hasher{Params: cheapParams}
	if slices.Contains(ops, httpapi.OpAuthorize) {
		// As functions/authorize wires it: every Allow verifies the
		// session's seal and signs the upstream's assertion, in memory.
		ks := benchKeys(b)
		svc.Sessions.(*dynamo.Sessions).Seals = ks
		s, err := assertion.NewSigner(ks, "https://vc.example.com", cfg.AssertionLifetime)
		if err != nil {
			b.Fatal(err)
		}
		a := &httpapi.Assertions{Signer: s, Absolute: cfg.Lifetime.Absolute}
		return lambda.NewAuthorizer(httpapi.NewFrontDoor(svc, log).WithAssertions(a), log), logs, engine
	}
	return lambda.NewHandler(httpapi.New(svc, log, ops...), log), logs, engine
}

// benchToken is the session id the warm calls present.
const benchToken = "0123456789abcdef0123456789abcdef"

// benchKeys is the key set of the benchmarks' assertions and seals: from a
// fixed seed, so that the stub engine (another process) seals its session
// as the function under measurement verifies it.
func benchKeys(tb testing.TB) *assertion.KeySet {
	ks, err := assertion.NewKeySet(assertion.Seeds{Current: []byte(strings.Repeat("bench seed ", 4))})
	if err != nil {
		if tb == nil {
			panic(err)
		}
		tb.Fatal(err)
	}
	return ks
}

// warmFloor is the get's yardstick (bench.Floor) as dev/bench/floor builds
// it, over the engine warmFunction pointed the SDK at, served by
// aws-lambda-go as lambda.Start serves it: the typed event decoded and the
// response encoded by the library.
func warmFloor(b testing.TB) awslambda.Handler {
	b.Helper()
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	f := &bench.Floor{Sessions: &dynamo.Sessions{DB: db, Table: config.DefaultSessionsTable}, Lifetime: session.DefaultLifetime}
	return awslambda.NewHandler(f.Get)
}

// answered reports whether out is the answer a warm call must get: the
// status, or for the authorizer an Allow.
func answered(out []byte, op httpapi.Operation, status int) bool {
	if op == httpapi.OpAuthorize {
		var r events.APIGatewayCustomAuthorizerResponse
		return json.Unmarshal(out, &r) == nil && len(r.PolicyDocument.Statement) == 1 && r.PolicyDocument.Statement[0].Effect == "Allow"
	}
	var r struct {
		StatusCode int `json:"statusCode"`
	}
	return json.Unmarshal(out, &r) == nil && r.StatusCode == status
}

// invoker is a function's Lambda handler: a proxy handler or the authorizer.
type invoker interface {
	Invoke(context.Context, []byte) ([]byte, error)
}

// authorizerEvent is a REST API REQUEST authorizer event presenting token.
func authorizerEvent(token string) []byte {
	b, _ := json.Marshal(events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/api/vcenter/vm",
		Resource: "/api/{proxy+}", Path: "/api/vcenter/vm", HTTPMethod: "GET",
		Headers:           map[string]string{httpapi.HeaderSessionID: token, "user-agent": "govmomi/0.52.0"},
		MultiValueHeaders: map[string][]string{httpapi.HeaderSessionID: {token}, "user-agent": {"govmomi/0.52.0"}},
		RequestContext:    events.APIGatewayCustomAuthorizerRequestTypeRequestContext{Path: "/v1/api/vcenter/vm", Stage: "v1", RequestID: "bench", HTTPMethod: "GET", APIID: "abc123"},
	})
	return b
}

// countingWriter counts what is written to it: the bytes CloudWatch Logs
// would ingest.
type countingWriter struct{ n atomic.Int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// gatewayEventV2 is an HTTP API (payload 2.0) event as an HTTP API sends
// it, headers and all, already in the JSON form the function receives. The
// deployed stack is a REST API, which sends gatewayEventV1's (get-v1).
func gatewayEventV2(method string, headers map[string]string) []byte {
	h := map[string]string{
		"accept":            "application/json",
		"accept-encoding":   "gzip",
		"content-length":    "0",
		"host":              "abc123.execute-api.us-east-1.amazonaws.com",
		"user-agent":        "govmomi/0.52.0 (go1.24; linux; amd64)",
		"vapi-ctx-opid":     "op-1234",
		"x-amzn-trace-id":   "Root=1-67891233-abcdef012345678912345678",
		"x-forwarded-for":   "192.0.2.1",
		"x-forwarded-port":  "443",
		"x-forwarded-proto": "https",
	}
	for k, v := range headers {
		h[k] = v
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " /api/session", RawPath: "/api/session", Headers: h,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "abc123", DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			DomainPrefix: "abc123", RequestID: "JKJaXmPLvHcESHA=", RouteKey: method + " /api/session",
			Stage: "$default", Time: "16/Jul/2026:07:18:48 +0000", TimeEpoch: 1784186328517,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: "/api/session", Protocol: "HTTP/1.1", SourceIP: "192.0.2.1",
				UserAgent: "govmomi/0.52.0 (go1.24; linux; amd64)",
			},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

// gatewayEventV1 is the same request as a REST API (payload 1.0) event.
func gatewayEventV1(method string, headers map[string]string) []byte {
	var v2 events.APIGatewayV2HTTPRequest
	_ = json.Unmarshal(gatewayEventV2(method, headers), &v2)
	mv := map[string][]string{}
	for k, v := range v2.Headers {
		mv[k] = []string{v}
	}
	ev := events.APIGatewayProxyRequest{
		Resource: "/api/session", Path: "/api/session", HTTPMethod: method,
		Headers: v2.Headers, MultiValueHeaders: mv,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID: "123456789012", APIID: "abc123", RequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
			Stage: "prod", HTTPMethod: method, ResourcePath: "/api/session", Protocol: "HTTP/1.1",
			DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			Identity:   events.APIGatewayRequestIdentity{SourceIP: "192.0.2.1", UserAgent: "govmomi/0.52.0"},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

func BenchmarkWarm(b *testing.B) {
	token := benchToken
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(adminName+":"+adminPass))
	getEvent := gatewayEventV2("GET", map[string]string{httpapi.HeaderSessionID: token})
	cases := []struct {
		name   string
		op     httpapi.Operation
		event  []byte
		status int
	}{
		{"create", httpapi.OpCreate, gatewayEventV2("POST", map[string]string{"authorization": auth}), 201},
		{"get", httpapi.OpGet, getEvent, 200},
		{"delete", httpapi.OpDelete, gatewayEventV2("DELETE", map[string]string{httpapi.HeaderSessionID: token}), 204},
		{"get-v1", httpapi.OpGet, gatewayEventV1("GET", map[string]string{httpapi.HeaderSessionID: token}), 200},
		{"floor", "", getEvent, 200}, // the get's yardstick: bench.Floor
		// The front door: an authorizer request, answered Allow, with its
		// keys as deployed (the seal checked, the assertion signed).
		{"authorize", httpapi.OpAuthorize, authorizerEvent(token), 200},
		// Its yardstick: bench.AuthorizerFloor.
		{"authorize-floor", httpapi.OpAuthorize, authorizerEvent(token), 200},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			get, logs, engine := warmFunction(b, c.op)
			// Served as lambda.Start serves it, as the floor is.
			fn := awslambda.NewHandler(get)
			switch c.name {
			case "floor":
				fn = warmFloor(b)
			case "authorize-floor":
				fn = warmAuthorizerFloor(b)
			}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
			check := func() {
				out, err := fn.Invoke(ctx, c.event)
				if err != nil {
					b.Fatal(err)
				}
				if !answered(out, c.op, c.status) {
					b.Fatalf("response %s, want status %d", out, c.status)
				}
			}
			check() // and warm up the connection
			b.ReportAllocs()
			conns := stubConnections(b, engine)
			cpu, logged := cpuTime(), logs.n.Load()
			n := 0
			for b.Loop() {
				if _, err := fn.Invoke(ctx, c.event); err != nil {
					b.Fatal(err)
				}
				n++
			}
			// What Lambda bills at a fraction of a vCPU: the time on a CPU,
			// without the wait for the engine.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(logs.n.Load()-logged)/float64(n), "log-B/op")
			// New connections to the engine: a warm function should have none.
			b.ReportMetric(float64(stubConnections(b, engine)-conns-1)/float64(n), "conns/op")
			check()
		})
	}
	// The get over its floor, in turns: one of each per iteration, which
	// goes first alternating, so that what the machine's other work takes
	// falls on both alike. The answer to compare is the ratio.
	b.Run("get-over-floor", func(b *testing.B) {
		fn, _, _ := warmFunction(b, httpapi.OpGet)
		get, floor := awslambda.NewHandler(fn), warmFloor(b)
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
		// Both answer the same bytes.
		if g, f := invokeRaw(b, get, ctx, getEvent), invokeRaw(b, floor, ctx, getEvent); g != f {
			b.Fatalf("get answered %s\nthe floor %s", g, f)
		}
		var spent [2]time.Duration // get, floor
		sides := [2]awslambda.Handler{get, floor}
		n := 0
		for b.Loop() {
			for k := range 2 {
				side := (n + k) % 2
				cpu := cpuTime()
				if _, err := sides[side].Invoke(ctx, getEvent); err != nil {
					b.Fatal(err)
				}
				spent[side] += cpuTime() - cpu
			}
			n++
		}
		b.ReportMetric(float64(spent[0])/float64(n), "get-cpu-ns/op")
		b.ReportMetric(float64(spent[1])/float64(n), "floor-cpu-ns/op")
		b.ReportMetric(float64(spent[0])/float64(spent[1]), "get/floor-cpu")
	})
	// The authorizer, keys as deployed, over its floor, in turns likewise.
	b.Run("authorize-over-floor", func(b *testing.B) {
		fn, _, _ := warmFunction(b, httpapi.OpAuthorize)
		door, floor := awslambda.NewHandler(fn), warmAuthorizerFloor(b)
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
		event := authorizerEvent(token)
		for _, side := range []awslambda.Handler{door, floor} {
			if out := invokeRaw(b, side, ctx, event); !answered([]byte(out), httpapi.OpAuthorize, 200) {
				b.Fatalf("answered %s, want Allow", out)
			}
		}
		var spent [2]time.Duration // authorizer, floor
		sides := [2]awslambda.Handler{door, floor}
		n := 0
		for b.Loop() {
			for k := range 2 {
				side := (n + k) % 2
				cpu := cpuTime()
				if _, err := sides[side].Invoke(ctx, event); err != nil {
					b.Fatal(err)
				}
				spent[side] += cpuTime() - cpu
			}
			n++
		}
		b.ReportMetric(float64(spent[0])/float64(n), "authorize-cpu-ns/op")
		b.ReportMetric(float64(spent[1])/float64(n), "floor-cpu-ns/op")
		b.ReportMetric(float64(spent[0])/float64(spent[1]), "authorize/floor-cpu")
	})
}

// warmAuthorizerFloor is the front door's yardstick (bench.AuthorizerFloor)
// as dev/bench/authorizer-floor builds it, over the engine warmFunction
// pointed the SDK at.
func warmAuthorizerFloor(b testing.TB) awslambda.Handler {
	b.Helper()
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	f := &bench.AuthorizerFloor{Sessions: &dynamo.Sessions{DB: db, Table: config.DefaultSessionsTable}, Lifetime: session.DefaultLifetime}
	return awslambda.NewHandler(f.Authorize)
}

// The floor is a yardstick only while it answers a get as the get does.
func TestFloorAnswersTheGetsBytes(t *testing.T) {
	fn, _, _ := warmFunction(t, httpapi.OpGet)
	get, floor := awslambda.NewHandler(fn), warmFloor(t)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	event := gatewayEventV2("GET", map[string]string{httpapi.HeaderSessionID: strings.Repeat("0123456789abcdef", 2)})
	g, f := invokeRaw(t, get, ctx, event), invokeRaw(t, floor, ctx, event)
	if g != f {
		t.Fatalf("get answered %s\nthe floor %s", g, f)
	}
	if !strings.Contains(g, `"statusCode":200`) {
		t.Fatalf("get answered %s, want a 200", g)
	}
}

// invokeRaw invokes fn with event and returns its answer.
func invokeRaw(b testing.TB, fn awslambda.Handler, ctx context.Context, event []byte) string {
	b.Helper()
	out, err := fn.Invoke(ctx, event)
	if err != nil {
		b.Fatal(err)
	}
	return string(out)
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
