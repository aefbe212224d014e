// Command cis-local runs the session service on this machine, as `make run`
// does: it starts an in-memory dynalite on a free loopback port (unless
// AWS_ENDPOINT_URL_DYNAMODB already names an engine), creates the tables,
// seeds the local-only user administrator@vsphere.local, and serves the same
// handler the Lambda functions wrap. Ctrl-C stops everything it started.
//
// It also measures, per method, the time it takes to answer and the part of
// it spent waiting for DynamoDB, and logs the totals (a "timing" line) when
// it stops: what `make bench` reports of its load run.
//
// It is the whole API as the deployed stack serves it: every other path
// under /api/ and /rest/ goes through the front door (the authorizer's
// code) and, with UPSTREAM_URL set (http://host[:port][/base]), on to that
// upstream as the stack's HTTP integration forwards it (dev/gateway).
//
// The seeded user and its password (LOCAL_ADMIN_PASSWORD, default Admin!23)
// exist only here: a deployed stack never has them.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// LocalAdmin is the user seeded for local use only.
const LocalAdmin = "administrator@vsphere.local"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	restore := takeTerminal() // Ctrl-C is ours alone: make run ends with our status
	err := run(ctx)
	restore()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cis-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	addr := flag.String("addr", "127.0.0.1:"+cmp.Or(os.Getenv("PORT"), "3000"), "address to serve on (loopback by default)")
	flag.Parse()

	// The port first, before anything is started: a busy one is the most
	// common reason make run cannot start, and its fix is PORT. It is
	// listened on for good only once the service is ready (so that a
	// client that can connect is served at once, and the engine is logged
	// before), and a port taken in between is told the same way.
	probe, err := listen(*addr)
	if err != nil {
		return err
	}
	probe.Close()

	issuer, err := startLocalIssuer()
	if err != nil {
		return err
	}
	if issuer != nil {
		defer issuer.Close()
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))

	// Local engines accept any credentials, but the SDK insists on some.
	setDefault("AWS_REGION", "us-east-1")
	setDefault("AWS_ACCESS_KEY_ID", "local")
	setDefault("AWS_SECRET_ACCESS_KEY", "local")
	var engineDied <-chan struct{} // nil, never ready, for an engine we did not start
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		eng, err := localdynamo.Start(ctx, localdynamo.Dynalite)
		if err != nil {
			return fmt.Errorf("start dynalite (run `npm ci` first, or `make run`): %w", err)
		}
		defer eng.Stop()
		engineDied = eng.Done()
		os.Setenv("AWS_ENDPOINT_URL_DYNAMODB", eng.Endpoint)
		// dynalite does not return the item with a failed condition.
		cfg.ReadOnFailedCondition = true
		log.Info("started dynalite, in memory", "endpoint", eng.Endpoint, "pid", eng.PID())
	}
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	// The local-only user and its well-known password must never reach a
	// real table: only an engine on this machine gets them.
	if engineDied == nil && !loopback(endpoint) {
		return fmt.Errorf("AWS_ENDPOINT_URL_DYNAMODB=%s is not on this machine's loopback: cis-local seeds a user with a well-known password, and does so only into an engine it started or one on 127.0.0.1, ::1 or localhost", endpoint)
	}

	tm := newTiming()
	db, err := dynamo.NewClient(ctx, dynamo.WrapHTTPClient(tm.engineClient))
	if err != nil {
		return err
	}
	if err := dynamo.CreateTables(ctx, db, dynamo.Tables{Sessions: cfg.SessionsTable, Users: cfg.UsersTable}); err != nil {
		return err
	}
	if err := seedAdmin(ctx, &dynamo.Users{DB: db, Table: cfg.UsersTable}, log); err != nil {
		return err
	}

	ln, err := listen(*addr)
	if err != nil {
		return err
	}
	// Forwarded calls carry an assertion signed with a key of make run's
	// own, kept (private, never committed) under build/.
	if cfg.AssertionKeyFile == "" && cfg.AssertionKeySecret == "" {
		cfg.AssertionKeyFile = LocalAssertionKeyFile
	}
	// The assertions' iss: this address as configured, never a client's
	// Host header.
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = "http://" + ln.Addr().String()
	}
	gw, err := local.Gateway(cfg, db, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           tm.handler(gw, log),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(os.Stderr, "\nCIS session service on %s (DynamoDB at %s)\n"+
		"  curl -i -u '%s:<LOCAL_ADMIN_PASSWORD>' -X POST %s/api/session\n"+
		"  curl -i -u '%s:<LOCAL_ADMIN_PASSWORD>' -X POST %s/rest/com/vmware/cis/session\n"+
		"Every other /api/ and /rest/ path, and JSON-RPC for other services: the front door, then %s.\n"+
		"Ctrl-C stops it.\n\n", url, endpoint, LocalAdmin, url, LocalAdmin, url, upstreamText(cfg.Upstream))
	if issuer != nil {
		fmt.Fprintf(os.Stderr, "Federated log-in (docs/FEDERATION.md): a local OpenID Connect issuer on %s\n"+
			"  TOKEN=$(curl -s '%s/token?user=alice@corp.example')   # or: make token\n"+
			"  curl -i -H \"Authorization: Bearer $TOKEN\" -X POST %s/api/session\n\n", issuer.URL, issuer.URL, url)
	}

	// `make admin` in this checkout reaches this engine through this file,
	// for as long as this runner serves.
	issuerURL := ""
	if issuer != nil {
		issuerURL = issuer.URL
	}
	envFile, err := writeLocalEnv(endpoint, cfg, ln, url, issuerURL)
	if err != nil {
		return err
	}
	defer os.Remove(envFile)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var died error
	select {
	case err := <-errc:
		return err
	case <-engineDied:
		died = fmt.Errorf("the dynalite it started (%s) has died; stopping", endpoint)
		log.Error("engine died", "endpoint", endpoint)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	tm.log(log)
	if died != nil {
		return died
	}
	fmt.Fprintln(os.Stderr, "cis-local: stopped")
	return nil
}

// listen listens on addr, and says what to do when the port is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		_, port, _ := net.SplitHostPort(addr)
		next, _ := strconv.Atoi(port)
		return nil, fmt.Errorf("%s is already in use (another make run?): choose another port with PORT, e.g. make run PORT=%d", addr, next+1)
	}
	return ln, err
}

// loopback reports whether endpoint's host is this machine's loopback.
func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LocalEnvFile is where a running cis-local serving on port says how to
// reach its engine and tables, relative to the repository root: `make
// admin` reads it (PORT picks which). Keyed by port, so that two runs in one
// checkout (`make run-regions`, or two `make run`s) never overwrite or
// remove each other's. It exists only while cis-local runs.
// CIS_LOCAL_ENV_FILE names another file (the tests, which run several at
// once).
func LocalEnvFile(port string) string { return "build/cis-local-" + port + ".env" }

// LocalAssertionKeyFile holds the seed of make run's assertion key,
// written on first use (0600): a key of its own, never the stack's.
const LocalAssertionKeyFile = "build/cis-local-assertion-key.json"

// writeLocalEnv writes the LocalEnvFile of the port it serves on and
// returns its path. issuer is the LOCAL_OIDC issuer's URL (`make token`
// asks it), or "" for none.
func writeLocalEnv(endpoint string, cfg config.Config, ln net.Listener, url, issuer string) (string, error) {
	path := os.Getenv("CIS_LOCAL_ENV_FILE")
	if path == "" {
		root, err := localdynamo.RepoRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, LocalEnvFile(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	body := "# Written by cis-local (make run) while it runs; removed when it stops.\n" +
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint + "\n" +
		"AWS_REGION=" + os.Getenv("AWS_REGION") + "\n" +
		// An engine on loopback takes any credentials: never copy real ones here.
		"AWS_ACCESS_KEY_ID=local\n" +
		"AWS_SECRET_ACCESS_KEY=local\n" +
		config.EnvSessionsTable + "=" + cfg.SessionsTable + "\n" +
		config.EnvUsersTable + "=" + cfg.UsersTable + "\n" +
		"CIS_LOCAL_URL=" + url + "\n" +
		// One region of `make run-regions`: the admin tool ends sessions
		// made in the other region there.
		config.EnvRegionName + "=" + cfg.Region + "\n" +
		config.EnvReadOnFailedCondition + "=" + strconv.FormatBool(cfg.ReadOnFailedCondition) + "\n" +
		config.EnvPeerRegions + "=" + cfg.PeerRegions + "\n"
	if issuer != "" {
		body += "LOCAL_OIDC_URL=" + issuer + "\n"
	}
	return path, os.WriteFile(path, []byte(body), 0o600)
}

// seedAdmin adds the local-only administrator, or leaves an existing one
// alone (an engine given by AWS_ENDPOINT_URL_DYNAMODB may already have it).
func seedAdmin(ctx context.Context, users *dynamo.Users, log *slog.Logger) error {
	hash, err := argon2id.Hash(local.AdminPassword(), argon2id.DefaultParams)
	if err != nil {
		return err
	}
	err = users.Add(ctx, session.User{Name: LocalAdmin, PasswordHash: hash}, time.Now())
	switch session.ErrorCode(err) {
	case "":
		log.Info("seeded local-only user", "user", LocalAdmin)
	case session.EINVALID:
		log.Info("local-only user already exists; its password is unchanged", "user", LocalAdmin)
	default:
		return err
	}
	return nil
}

func upstreamText(u *url.URL) string {
	if u == nil {
		return "404 operation_not_found (no UPSTREAM_URL)"
	}
	return u.String()
}

func setDefault(name, value string) {
	if os.Getenv(name) == "" {
		os.Setenv(name, value)
	}
}

// LocalOIDCPort is where LOCAL_OIDC=1 serves its issuer unless
// LOCAL_OIDC_PORT says otherwise: `make token` asks it there.
const LocalOIDCPort = "5556"

// startLocalIssuer starts an OpenID Connect issuer on loopback when
// LOCAL_OIDC is true, and has the service trust it (OIDC_ISSUER and
// OIDC_AUDIENCE, unless already set): for trying federated log-in. Its
// keys are made afresh at each start, and exist only in this process.
func startLocalIssuer() (*oidcissuer.Issuer, error) {
	on, _ := strconv.ParseBool(os.Getenv("LOCAL_OIDC"))
	if !on {
		return nil, nil
	}
	if os.Getenv(config.EnvOIDCIssuer) != "" {
		return nil, fmt.Errorf("LOCAL_OIDC=1 starts an issuer of its own, and %s is set too: unset one", config.EnvOIDCIssuer)
	}
	port := cmp.Or(os.Getenv("LOCAL_OIDC_PORT"), LocalOIDCPort)
	iss, err := oidcissuer.Start("127.0.0.1:" + port)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("LOCAL_OIDC: 127.0.0.1:%s is already in use: choose another port for the issuer with LOCAL_OIDC_PORT", port)
	}
	if err != nil {
		return nil, fmt.Errorf("LOCAL_OIDC: %w", err)
	}
	os.Setenv(config.EnvOIDCIssuer, iss.URL)
	setDefault(config.EnvOIDCAudience, oidcissuer.Audience)
	return iss, nil
}
