// Command cis-invoke is `sam local invoke` without Docker or the SAM CLI,
// as `make invoke EVENT=events/<name>.json` runs it:
//
//  1. it picks the function API Gateway would send the event to (from the
//     event's route, by internal/stack);
//  2. builds that function's bootstrap for this machine with the target
//     `sam build` runs (make build-<LogicalId>), into build/local/<function>;
//  3. starts an in-memory dynalite (unless AWS_ENDPOINT_URL_DYNAMODB names a
//     local engine) and creates the tables;
//  4. seeds the LOCAL-ONLY fixture user and session as the event's outcome
//     file (events/<name>.expected.json) asks, so that e.g. get-ok.json finds
//     its session; and when the outcome asks for federation
//     ("given": {"federation": "on"}, the bearer log-in events), serves the
//     fixed TEST-ONLY issuer (dev/oidcissuer's FixedURL) that signed the
//     event's token and gives the function OIDC_ISSUER and OIDC_AUDIENCE
//     for it;
//  5. runs the bootstrap under the Lambda Runtime Interface Emulator, sends
//     the event to /2015-03-31/functions/function/invocations, prints the
//     response on stdout (the emulator's and the function's log lines go to
//     stderr), and checks it against the expected outcome when there is one
//     (for a log-in that names its user, the new session's user too);
//  6. stops everything it started.
//
// It exits 1 when a response differs from its expected outcome.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cis-session/cis-session/dev/fixtures"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/dev/rie"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
)

const usage = `usage: cis-invoke [-rie PATH] [-quiet] EVENT.json...

Invokes the function each event is routed to, as API Gateway would, running
its real bootstrap under the AWS Lambda Runtime Interface Emulator against a
local DynamoDB engine. Prefer: make invoke EVENT=events/<name>.json
`

var errMismatch = errors.New("response differs from the expected outcome")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, errMismatch) {
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cis-invoke:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cis-invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	emulator := fs.String("rie", "", "the aws-lambda-rie executable (default $"+rie.PathEnv+", else .tools/bin/aws-lambda-rie)")
	quiet := fs.Bool("quiet", false, "do not copy the emulator's and the function's output to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no event")
	}
	if *emulator != "" {
		os.Setenv(rie.PathEnv, *emulator)
	}
	rieBin, err := rie.Path()
	if err != nil {
		return err
	}
	root, err := localdynamo.RepoRoot()
	if err != nil {
		return err
	}
	logs := stderr
	if *quiet {
		logs = io.Discard
	}

	// Read every event first: a typo fails before anything starts.
	type item struct {
		ev      fixtures.Event
		outcome bool
	}
	var items []item
	for _, p := range fs.Args() {
		ev, err := fixtures.ReadEvent(p)
		if err != nil {
			return err
		}
		exp, err := fixtures.ReadExpected(fixtures.OutcomePath(p))
		outcome := err == nil
		if err != nil {
			if _, serr := os.Stat(fixtures.OutcomePath(p)); serr == nil {
				return err // there, but broken
			}
			// An event of your own: give it the fixture user and a live
			// fixture session, and check nothing.
			exp = fixtures.Expected{Given: fixtures.Given{Session: fixtures.SessionLive}}
		}
		ev.Expected = exp
		items = append(items, item{ev, outcome})
	}

	cfg, err := config.Load()
	if err != nil {
		return err
	}
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if endpoint == "" {
		eng, err := localdynamo.Start(ctx, localdynamo.Dynalite)
		if err != nil {
			return fmt.Errorf("start dynalite (run `npm ci`, or use `make invoke`): %w", err)
		}
		defer eng.Stop()
		endpoint = eng.Endpoint
		// dynalite does not return the item with a failed condition.
		cfg.ReadOnFailedCondition = true
		fmt.Fprintf(stderr, "cis-invoke: started dynalite at %s (in memory; stopped at exit)\n", endpoint)
	}
	if err := fixtures.CheckLocalEndpoint(endpoint); err != nil {
		return err
	}
	// The SDK client of this process (for the tables and the seeding) talks
	// to the same engine, with dummy credentials.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
	} {
		os.Setenv(k, v)
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return err
	}
	tables := dynamo.Tables{Sessions: cfg.SessionsTable, Users: cfg.UsersTable}
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		return err
	}

	var evs []fixtures.Event
	for _, it := range items {
		evs = append(evs, it.ev)
	}
	if fixtures.NeedsIssuer(evs...) {
		iss, err := oidcissuer.ServeFixed(ctx)
		if err != nil {
			return err
		}
		defer iss.Close()
		fmt.Fprintf(stderr, "cis-invoke: serving the fixed test issuer at %s (its keys are public: test only)\n", oidcissuer.FixedURL)
	}
	sessions := &dynamo.Sessions{DB: db, Table: tables.Sessions}

	mismatches := 0
	for _, it := range items {
		ev := it.ev
		fmt.Fprintf(stderr, "cis-invoke: %s -> function %s (%s)\n", ev.Path, ev.Function.Dir, ev.Function.LogicalID())
		bootstrap, err := rie.Build(ctx, ev.Function, filepath.Join(root, "build", "local", ev.Function.Dir))
		if err != nil {
			return err
		}
		if err := fixtures.Seed(ctx, endpoint, db, tables, cfg.Lifetime, ev.Expected.Given, time.Now()); err != nil {
			return err
		}
		out, err := invoke(ctx, rie.Options{
			RIE:       rieBin,
			Bootstrap: bootstrap,
			Env: append(rie.FunctionEnv(ev.Function, endpoint, rie.Tables{Sessions: tables.Sessions, Users: tables.Users}, cfg.ReadOnFailedCondition, os.Getenv(config.EnvLogLevel)),
				ev.Expected.Given.Env(ev.Function)...),
			Output: logs,
		}, ev.Payload)
		if err != nil {
			return err
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, out, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(out)
		}
		fmt.Fprintln(stdout, pretty.String())
		if !it.outcome {
			fmt.Fprintf(stderr, "cis-invoke: %s: no expected outcome beside it; nothing checked\n", ev.Path)
			continue
		}
		resp, err := fixtures.ParseFunctionResponse(ev.Function, out)
		if err == nil {
			err = ev.Expected.Check(resp)
		}
		if err == nil {
			err = ev.Expected.CheckSessionUser(ctx, sessions, resp)
		}
		if err != nil {
			mismatches++
			fmt.Fprintf(stderr, "cis-invoke: %s: NOT as expected (%s): %v\n", ev.Path, fixtures.OutcomePath(ev.Path), err)
			continue
		}
		if u := ev.Expected.Body.User; u != "" {
			fmt.Fprintf(stderr, "cis-invoke: %s: as expected (%d, %s, a session of %s)\n", ev.Path, ev.Expected.Status, ev.Expected.Body.Shape, u)
			continue
		}
		fmt.Fprintf(stderr, "cis-invoke: %s: as expected (%d, %s)\n", ev.Path, ev.Expected.Status, ev.Expected.Body.Shape)
	}
	if mismatches > 0 {
		return errMismatch
	}
	return nil
}

// invoke runs one emulator for one event, and stops it.
func invoke(ctx context.Context, o rie.Options, event []byte) ([]byte, error) {
	em, err := rie.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer em.Stop()
	return em.Invoke(ctx, event)
}
