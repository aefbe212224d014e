// Command cis-admin manages the CIS session service's tables and users, on
// AWS or on any DynamoDB-compatible endpoint (AWS_ENDPOINT_URL_DYNAMODB).
// Passwords are read from a prompt or from standard input, never from the
// command line, where they would show in ps and in shell history.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/auditreplay"
	"github.com/cis-session/cis-session/internal/cloudwatch"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/dynamo/sdkconfig"
	"github.com/cis-session/cis-session/internal/session"
)

const usage = `usage: cis-admin <command> [arguments]

Commands:
  create-tables          create the sessions and users tables (idempotent) and enable TTL
  add-user NAME          add a user; the password is prompted for, or read from stdin
  list-users             list every user, and which are locked out, per class of source
  show-user NAME         show NAME's log-in defence: each class's window and lock
  remove-user NAME       remove a user, end all their sessions and forget every region's log-in defence
  reset-password NAME    set a new password (prompted for, or read from stdin) and end all their sessions
  unlock NAME            forget NAME's failed log-ins, ending its locks (every class) at once
  sessions [-json] [-limit N] [-page P]
                         list every live session, newest activity first, N a page (default 50):
                         user, handle, created, last access, source, surface, method, calls, user agent
  list-sessions [-json] NAME
                         list NAME's sessions, live or not, with the same fields and their expiries
  end-session HANDLE     end the one session whose handle (from sessions) is HANDLE
  end-sessions NAME [HASH-PREFIX]
                         end all of NAME's sessions, or the one whose token hash starts with HASH-PREFIX
  -idp ISSUER list-sessions NAME, -idp ISSUER end-sessions NAME [HASH-PREFIX]
                         the same for the federated user NAME of the identity provider ISSUER
                         (its issuer URL, OIDC_ISSUER): without -idp, NAME is the local user
  replay-audit QUEUE_URL put the audit lines the stack's forwarder gave up on (output
                         AuditFailureQueueUrl) into AUDIT_LOG_GROUP, and empty the queue

NAME's sessions end on every surface. Ending all of them waits until the
user's index has shown no session for -quiet (default 2s): a session
written before the change whose index entry takes longer than that to
appear is missed (run end-sessions again); a log-in racing the command
keeps no session.

NAME is user@domain; a name without a domain gets DEFAULT_DOMAIN (vsphere.local).
A name holds no whitespace, control, format or invisible character and does
not end in a dot; letter case is no difference. A federated user and a local
user of the same name are two users: each command names one of them.
Tables come from SESSIONS_TABLE and USERS_TABLE, the lockout policy from
LOGIN_MAX_FAILURES, LOGIN_FAILURE_WINDOW and the other LOGIN_ settings; the
endpoint from the AWS SDK's standard settings (AWS_REGION,
AWS_ENDPOINT_URL_DYNAMODB, credentials); with none of them (and no ~/.aws
files) it says so and asks nothing.
Every change writes an audit line (JSON, "log":"audit") to stderr naming
who made it: the caller's AWS identity, or with an endpoint override the
local user. With AUDIT_LOG_GROUP (the stack's output AuditLogGroupName) the
lines also go into that log group, a stream per run; a change is not made
if the stream cannot be created there.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cis-admin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (runErr error) {
	fs := flag.NewFlagSet("cis-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	quiet := fs.Duration("quiet", session.DefaultRevocationQuiet, "how long ending all of a user's sessions waits for the index to show none")
	idp := fs.String("idp", "", "list-sessions and end-sessions: the federated user of this identity provider (issuer URL), not the local user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if home, _ := os.UserHomeDir(); !anyAWSSetting(os.LookupEnv, home) {
		return errNoAWSSettings
	}
	awsCfg, err := sdkconfig.Load(ctx)
	if err != nil {
		return err
	}
	db := dynamo.NewClientFromConfig(awsCfg)
	users := &dynamo.Users{DB: db, Table: cfg.UsersTable}
	sessions := &dynamo.Sessions{DB: db, Table: cfg.SessionsTable, ReadOnFailedCondition: cfg.ReadOnFailedCondition}
	if cfg.Region != "" {
		// One region of several: sessions made elsewhere end there.
		if err := sessions.InRegion(cfg.Region, cfg.Peers()); err != nil {
			return err
		}
		users.InRegion(cfg.Region, sessions)
	}
	revoke := session.Revocation{Store: sessions, Quiet: *quiet}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	// Every change is audited: who (asked before the change, so that a
	// change nobody can be named for is not made), what, to whom, when.
	// With AUDIT_LOG_GROUP, the lines also go into the stack's audit log
	// group (a stream per run), which must be writable before a change.
	auditOut := stderr
	var trail *auditlog.Stream
	if group := os.Getenv(auditlog.EnvGroup); group != "" {
		trail = auditlog.NewAdminStream(awsCfg, group, time.Now())
		auditOut = io.MultiWriter(stderr, trail)
		defer func() {
			if err := trail.Flush(ctx); err != nil && runErr == nil {
				runErr = fmt.Errorf("the change was made, its audit line is on stderr, but not in %s: %w", group, err)
			}
		}()
	}
	audit := cloudwatch.New(slog.New(slog.NewJSONHandler(auditOut, nil)), "cis-admin")
	var actor string
	changing := func() error {
		if actor != "" {
			return nil
		}
		if actor, err = sdkconfig.Caller(ctx, awsCfg); err != nil {
			return err
		}
		if trail != nil {
			if err := trail.Open(ctx); err != nil {
				actor = ""
				return fmt.Errorf("no change without its audit record: %w", err)
			}
		}
		return nil
	}
	changed := func(user string) {
		audit.Record(ctx, session.Event{Kind: session.EventAdminChange, Op: cmd, User: user, Actor: actor})
	}
	revoked := func(user, idp string, ended int) {
		audit.Record(ctx, session.Event{Kind: session.EventRevoked, Op: cmd, User: user, IdP: idp, Sessions: ended, Actor: actor})
	}
	name := func() (string, error) {
		if len(rest) != 1 && (cmd != "end-sessions" || len(rest) != 2) {
			return "", fmt.Errorf("%s takes exactly one NAME", cmd)
		}
		if *idp != "" && cmd != "list-sessions" && cmd != "end-sessions" {
			return "", fmt.Errorf("-idp names a federated user, who has no %s: the identity provider keeps them", cmd)
		}
		n, ok := session.QualifyName(rest[0], cfg.DefaultDomain)
		if cmd == "remove-user" || cmd == "end-sessions" || cmd == "list-sessions" {
			// A user added before names had one form can still be
			// found and removed, though it can no longer log in.
			n, ok = session.QualifyStoredName(rest[0], cfg.DefaultDomain)
		}
		if *idp != "" {
			n, ok = session.FederatedName(rest[0], cfg.DefaultDomain)
		}
		if !ok {
			return "", fmt.Errorf("%q is not a user name (user@domain, with no whitespace, control or invisible character and no trailing dot)", rest[0])
		}
		return n, nil
	}
	switch cmd {
	case "create-tables":
		if err := changing(); err != nil {
			return err
		}
		if err := dynamo.CreateTables(ctx, db, dynamo.Tables{Sessions: cfg.SessionsTable, Users: cfg.UsersTable}); err != nil {
			return err
		}
		changed("")
		fmt.Fprintf(stdout, "tables %s and %s are ready\n", cfg.SessionsTable, cfg.UsersTable)
	case "add-user":
		n, err := name()
		if err != nil {
			return err
		}
		if err := changing(); err != nil {
			return err
		}
		hash, err := newHash(stdin, stderr, n)
		if err != nil {
			return err
		}
		if _, err := users.User(ctx, n); err == nil {
			return fmt.Errorf("user %s already exists", n)
		}
		// Sessions left by an earlier user of the name (removed before
		// removal ended sessions) must not pass to this one. No log-in can
		// add one now: there is no user to log in as. The sweep waits out
		// -quiet like every other revocation, so that a straggler whose
		// index entry is slow to appear is still found.
		if _, err := revoke.EndAll(ctx, n, ""); err != nil {
			return err
		}
		if err := users.Add(ctx, session.User{Name: n, PasswordHash: hash}, time.Now()); err != nil {
			return err
		}
		changed(n)
		fmt.Fprintf(stdout, "added %s\n", n)
	case "reset-password":
		n, err := name()
		if err != nil {
			return err
		}
		if err := changing(); err != nil {
			return err
		}
		// Check first, so nobody types a password for a user that is not there.
		if _, err := users.User(ctx, n); err != nil {
			return err
		}
		hash, err := newHash(stdin, stderr, n)
		if err != nil {
			return err
		}
		if err := users.SetPassword(ctx, n, hash, time.Now()); err != nil {
			return err
		}
		changed(n)
		ended, err := revoke.EndAll(ctx, n, "")
		if err != nil {
			return fmt.Errorf("password of %s reset, but ending their sessions failed (run end-sessions %s): %w", n, n, err)
		}
		revoked(n, "", ended)
		fmt.Fprintf(stdout, "password of %s reset; %s ended\n", n, plural(ended, "session"))
	case "remove-user":
		n, err := name()
		if err != nil {
			return err
		}
		if err := changing(); err != nil {
			return err
		}
		if err := users.Remove(ctx, n); err != nil {
			if session.ErrorCode(err) == session.ENOTFOUND {
				// Run again after a region was out of reach: what
				// that region still holds of the defence goes now.
				if derr := users.RemoveDefence(ctx, n); derr != nil {
					return fmt.Errorf("%w; its log-in defence's state is left in %w", err, derr)
				}
			}
			return err
		}
		changed(n)
		ended, err := revoke.EndAll(ctx, n, "")
		if err != nil {
			return fmt.Errorf("removed %s, but ending their sessions failed (run end-sessions %s): %w", n, n, err)
		}
		revoked(n, "", ended)
		// Each region's counts, locks and familiar sources, at its own
		// replica: a user added again under the name starts afresh.
		if err := users.RemoveDefence(ctx, n); err != nil {
			return fmt.Errorf("removed %s; %s ended; but their log-in defence's state is left in %w (run remove-user %s again once it is reachable)",
				n, plural(ended, "session"), err, n)
		}
		fmt.Fprintf(stdout, "removed %s; %s ended\n", n, plural(ended, "session"))
	case "unlock":
		n, err := name()
		if err != nil {
			return err
		}
		if err := changing(); err != nil {
			return err
		}
		if err := users.ClearFailures(ctx, n); err != nil {
			return err
		}
		changed(n)
		fmt.Fprintf(stdout, "unlocked %s\n", n)
	case "list-users":
		list, err := users.List(ctx)
		if err != nil {
			return err
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		now := time.Now()
		for _, u := range list {
			fmt.Fprintln(stdout, strings.Join(append([]string{u.Name}, lockState(cfg.Lockout, u, now)...), "\t"))
		}
	case "show-user":
		n, err := name()
		if err != nil {
			return err
		}
		u, err := users.User(ctx, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%d familiar sources\n", u.Name, len(u.Sources))
		now := time.Now()
		for _, c := range session.Classes {
			fmt.Fprintf(stdout, "%s\t%s\n", c, classState(cfg.Lockout, u.FailuresOf(c), now))
		}
	case "sessions":
		return allSessions(ctx, rest, stdout, stderr, sessions, cfg.Lifetime)
	case "list-sessions":
		asJSON := len(rest) > 0 && (rest[0] == "-json" || rest[0] == "--json")
		if asJSON {
			rest = rest[1:]
		}
		n, err := name()
		if err != nil {
			return err
		}
		return listSessions(ctx, stdout, users, sessions, cfg.Lifetime, n, *idp, asJSON)
	case "end-session":
		if len(rest) != 1 {
			return errors.New("end-session takes exactly one HANDLE")
		}
		if err := changing(); err != nil {
			return err
		}
		r, err := endByHandle(ctx, stdout, sessions, rest[0])
		if err != nil {
			return err
		}
		revoked(r.User, r.IdP, 1)
	case "end-sessions":
		n, err := name()
		if err != nil {
			return err
		}
		if err := changing(); err != nil {
			return err
		}
		ended := 0
		if len(rest) == 2 {
			err = endSession(ctx, stdout, users, sessions, n, *idp, rest[1])
			if err == nil {
				ended = 1
			}
		} else {
			ended, err = endAllSessions(ctx, stdout, users, revoke, n, *idp)
		}
		if err != nil {
			return err
		}
		revoked(n, *idp, ended)
	case "replay-audit":
		// Lambda's records of the deliveries the audit forwarder gave up
		// on wait in its failure queue (14 days); their lines go where the
		// forwarder would have put them, and each leaves the queue once
		// they are in. Within 14 days: CloudWatch Logs refuses older lines.
		if len(rest) != 1 {
			return errors.New("replay-audit takes one QUEUE_URL: the stack's output AuditFailureQueueUrl")
		}
		group, err := auditlog.GroupFromEnv()
		if err != nil {
			return fmt.Errorf("replay-audit: %w (the stack's output AuditLogGroupName)", err)
		}
		if err := changing(); err != nil {
			return err
		}
		done, err := auditreplay.Replay(ctx, auditlog.NewForwarder(awsCfg, group), auditreplay.NewQueue(awsCfg), rest[0])
		if done.Deliveries > 0 {
			changed("")
		}
		deliveries := "deliveries"
		if done.Deliveries == 1 {
			deliveries = "delivery"
		}
		fmt.Fprintf(stdout, "replayed %d %s (%s) into %s\n", done.Deliveries, deliveries, plural(done.Lines, "audit line"), group)
		if err != nil {
			return fmt.Errorf("some deliveries stay in the queue: %w", err)
		}
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

// newHash reads a new password (twice at a terminal, once from a pipe) and
// returns its argon2id hash.
func newHash(stdin io.Reader, stderr io.Writer, user string) (string, error) {
	pw, err := readPassword(stdin, stderr, user)
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	if len(pw) > session.MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", session.MaxPasswordLen)
	}
	return argon2id.Hash(pw, argon2id.DefaultParams)
}

func readPassword(stdin io.Reader, stderr io.Writer, user string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", user)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, session.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// lockState describes each class of u that is not at rest, as
// "CLASS: STATE"; nothing when none has a wrong password counted in the
// current window or a lock.
func lockState(p session.Lockout, u session.User, now time.Time) []string {
	var out []string
	for _, c := range session.Classes {
		f := u.FailuresOf(c)
		if p.Locked(f, now) || p.Counted(f, now) > 0 {
			out = append(out, c.String()+": "+classState(p, f, now))
		}
	}
	return out
}

// classState describes one class's window and lock at now.
func classState(p session.Lockout, f session.Failures, now time.Time) string {
	n := p.Counted(f, now)
	switch {
	case p.Locked(f, now) && now.Before(f.Until):
		return fmt.Sprintf("locked until %s (lock %d in a row)", p.Until(f, now).UTC().Format(time.RFC3339), f.Streak)
	case p.Locked(f, now):
		return fmt.Sprintf("locked until %s (window full: %s counted)", p.Until(f, now).UTC().Format(time.RFC3339), plural(n, "wrong password"))
	case n > 0:
		return fmt.Sprintf("%s counted in the window ending %s", plural(n, "wrong password"), p.WindowEnd(now).UTC().Format(time.RFC3339))
	default:
		return "no wrong passwords counted"
	}
}
