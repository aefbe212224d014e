package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

func TestMain(m *testing.M) { os.Exit(logscan.Main(m, dynamotest.Main)) }

// admin runs the tool as a shell would, returning what it printed.
func admin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestAdminManagesTablesAndUsers(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		// Fresh names: create-tables must make them itself.
		p := dynamotest.UniquePrefix(t)
		t.Setenv(config.EnvSessionsTable, p+"s")
		t.Setenv(config.EnvUsersTable, p+"u")
		users := &dynamo.Users{DB: f.DB, Table: p + "u"}
		ctx := context.Background()

		if out, err := admin(t, "", "create-tables"); err != nil {
			t.Fatalf("create-tables: %v\n%s", err, out)
		}
		if out, err := admin(t, "", "create-tables"); err != nil {
			t.Fatalf("create-tables again: %v\n%s", err, out)
		}
		if out, err := admin(t, "s3cret-Pass\n", "add-user", "Alice"); err != nil {
			t.Fatalf("add-user: %v\n%s", err, out)
		}
		u, err := users.User(ctx, "alice@vsphere.local")
		if err != nil || u.Name != "Alice@vsphere.local" {
			t.Fatalf("stored user = %+v, %v; want the name qualified with the default domain", u, err)
		}
		if ok, _ := argon2id.Verify(u.PasswordHash, "s3cret-Pass"); !ok {
			t.Fatalf("stored hash %q does not verify the password read from stdin", u.PasswordHash)
		}
		if strings.Contains(u.PasswordHash, "s3cret") {
			t.Fatal("password stored in the clear")
		}
		if _, err := admin(t, "x\n", "add-user", "alice"); err == nil {
			t.Fatal("adding an existing user succeeded")
		}
		if out, err := admin(t, "new-Pass-2\n", "reset-password", "ALICE@vsphere.local"); err != nil {
			t.Fatalf("reset-password: %v\n%s", err, out)
		}
		u, _ = users.User(ctx, "alice@vsphere.local")
		if ok, _ := argon2id.Verify(u.PasswordHash, "new-Pass-2"); !ok {
			t.Fatal("reset password does not verify")
		}
		if _, err := admin(t, "p\n", "reset-password", "nobody"); err == nil {
			t.Fatal("reset-password of an unknown user succeeded")
		}
		if _, err := admin(t, "pw\n", "add-user", `corp\bob`); err != nil {
			t.Fatal(err)
		}
		out, err := admin(t, "", "list-users")
		if err != nil || out != "Alice@vsphere.local\nbob@corp\n" {
			t.Fatalf("list-users = %q, %v", out, err)
		}
		if _, err := admin(t, "", "remove-user", "alice"); err != nil {
			t.Fatal(err)
		}
		if out, _ := admin(t, "", "list-users"); out != "bob@corp\n" {
			t.Fatalf("after remove, list-users = %q", out)
		}
	})
}

func TestAdminNeverTakesAPasswordFromArguments(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
	t.Setenv(config.EnvUsersTable, f.Tables.Users)
	if _, err := admin(t, "pw\n", "add-user", "carol", "hunter2"); err == nil {
		t.Fatal("add-user accepted a password argument")
	}
	if _, err := admin(t, "", "add-user", "carol"); err == nil {
		t.Fatal("add-user accepted an empty password")
	}
	if _, err := admin(t, "", "frobnicate"); err == nil {
		t.Fatal("an unknown command succeeded")
	}
}

func TestUnlockEndsALockoutThatListUsersShows(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
	t.Setenv(config.EnvUsersTable, f.Tables.Users)
	t.Setenv(config.EnvMaxFailures, "3")
	if _, err := admin(t, "secret\n", "add-user", "alice@corp.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin(t, "secret\n", "add-user", "bob@corp.example"); err != nil {
		t.Fatal(err)
	}
	users := &dynamo.Users{DB: f.DB, Table: f.Tables.Users}
	p := session.Lockout{MaxFailures: 3, Window: 15 * time.Minute}
	now := time.Now().Truncate(time.Millisecond)
	count := func(c session.Class, digest string) {
		t.Helper()
		if _, err := users.Fail(context.Background(), "alice@corp.example", c, session.Failure{Digest: digest}, now, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"a", "b", "c"} {
		count(session.Unfamiliar, d)
	}
	count(session.Familiar, "d")

	out, err := admin(t, "", "list-users")
	if p.WindowOf(time.Now()) != p.WindowOf(now) {
		t.Skip("the window ended while the test ran; what it shows is of the next one")
	}
	end := p.WindowEnd(now).Format(time.RFC3339)
	want := "alice@corp.example\tunfamiliar: locked until " + end + " (window full: 3 wrong passwords counted)" +
		"\tfamiliar: 1 wrong password counted in the window ending " + end + "\nbob@corp.example\n"
	if err != nil || out != want {
		t.Fatalf("list-users = %q, %v; want %q", out, err, want)
	}
	out, err = admin(t, "", "show-user", "alice@corp.example")
	want = "alice@corp.example\t0 familiar sources\nunfamiliar\tlocked until " + end + " (window full: 3 wrong passwords counted)\n" +
		"familiar\t1 wrong password counted in the window ending " + end + "\n"
	if err != nil || out != want {
		t.Fatalf("show-user = %q, %v; want %q", out, err, want)
	}
	// A lock that outlasts its window, the second in a row.
	lockedUntil := now.Add(45 * time.Minute)
	if err := users.Lock(context.Background(), "alice@corp.example", session.Familiar, session.Failures{Until: lockedUntil, Streak: 2}); err != nil {
		t.Fatal(err)
	}
	out, err = admin(t, "", "show-user", "alice@corp.example")
	if want := "familiar\tlocked until " + lockedUntil.UTC().Format(time.RFC3339) + " (lock 2 in a row)\n"; err != nil || !strings.HasSuffix(out, want) {
		t.Fatalf("show-user = %q, %v; want it to end %q", out, err, want)
	}
	if out, err := admin(t, "", "unlock", "ALICE@corp.example"); err != nil || out != "unlocked ALICE@corp.example\n" {
		t.Fatalf("unlock = %q, %v", out, err)
	}
	if u, _ := users.User(context.Background(), "alice@corp.example"); u.Failures != (session.Failures{}) || u.FamiliarFailures != (session.Failures{}) {
		t.Fatalf("failures after unlock = %+v", u)
	}
	if out, _ := admin(t, "", "list-users"); out != "alice@corp.example\nbob@corp.example\n" {
		t.Fatalf("list-users after unlock = %q", out)
	}
	if _, err := admin(t, "", "unlock", "nobody@corp.example"); err == nil {
		t.Fatal("unlock of an unknown user succeeded")
	}
}

func TestEveryChangeIsAuditedWithWhoMadeIt(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		f := dynamotest.Setup(t, srv)
		t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
		t.Setenv(config.EnvUsersTable, f.Tables.Users)
		t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint)
		// Each change writes its audit lines, in order: the change itself
		// (admin_change) and, where it ends sessions, how many (revoked).
		steps := []struct {
			stdin  string
			args   []string
			events []string
			user   string // "" for none
		}{
			{"Audit-Pass-1\n", []string{"add-user", "carol@corp.example"}, []string{"admin_change"}, "carol@corp.example"},
			{"Audit-Pass-2\n", []string{"reset-password", "carol@corp.example"}, []string{"admin_change", "revoked"}, "carol@corp.example"},
			{"", []string{"unlock", "carol@corp.example"}, []string{"admin_change"}, "carol@corp.example"},
			{"", []string{"list-users"}, nil, ""}, // reads change nothing: no audit line
			{"", []string{"list-sessions", "carol@corp.example"}, nil, ""},
			{"", []string{"end-sessions", "carol@corp.example"}, []string{"revoked"}, "carol@corp.example"},
			{"", []string{"remove-user", "carol@corp.example"}, []string{"admin_change", "revoked"}, "carol@corp.example"},
		}
		for _, s := range steps {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), s.args, strings.NewReader(s.stdin), &out, &errOut); err != nil {
				t.Fatalf("%v: %v", s.args, err)
			}
			if strings.Contains(errOut.String(), "Audit-Pass") {
				t.Fatalf("%v: a password in the audit output: %s", s.args, errOut.String())
			}
			var lines []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["log"] == "audit" {
					lines = append(lines, m)
				}
			}
			var events []string
			for _, a := range lines {
				events = append(events, fmt.Sprint(a["event"]))
			}
			if !slices.Equal(events, s.events) {
				t.Fatalf("%v: audit events %q, want %q: %s", s.args, events, s.events, errOut.String())
			}
			for _, a := range lines {
				if a["op"] != s.args[0] || a["user"] != s.user || a["time"] == nil {
					t.Errorf("%v: audit line %v", s.args, a)
				}
				if actor, _ := a["actor"].(string); !strings.HasPrefix(actor, "local:") || actor == "local:" {
					t.Errorf("%v: actor %q, want the local user", s.args, actor)
				}
				if _, counted := a["sessions"].(float64); a["event"] == "revoked" && !counted {
					t.Errorf("%v: a revocation's audit line %v says not how many sessions it ended", s.args, a)
				}
			}
		}
	})
}
