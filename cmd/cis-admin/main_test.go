package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/dynamotest"
	"github.com/cis-session/cis-session/internal/session"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// admin runs the tool as a shell would, returning what it printed.
func admin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
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
	now := time.Now().Truncate(time.Millisecond)
	for range 3 {
		u, _ := users.User(context.Background(), "alice@corp.example")
		if err := users.CountFailure(context.Background(), "alice@corp.example", &u.Failures, now, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	out, err := admin(t, "", "list-users")
	until := now.Add(15 * time.Minute).UTC().Format(time.RFC3339)
	want := "alice@corp.example\tlocked until " + until + " (3 failed log-ins)\nbob@corp.example\n"
	if err != nil || out != want {
		t.Fatalf("list-users = %q, %v; want %q", out, err, want)
	}
	if out, err := admin(t, "", "unlock", "ALICE@corp.example"); err != nil || out != "unlocked ALICE@corp.example\n" {
		t.Fatalf("unlock = %q, %v", out, err)
	}
	if u, _ := users.User(context.Background(), "alice@corp.example"); u.Failures != (session.Failures{}) {
		t.Fatalf("failures after unlock = %+v", u.Failures)
	}
	if out, _ := admin(t, "", "list-users"); out != "alice@corp.example\nbob@corp.example\n" {
		t.Fatalf("list-users after unlock = %q", out)
	}
	if _, err := admin(t, "", "unlock", "nobody@corp.example"); err == nil {
		t.Fatal("unlock of an unknown user succeeded")
	}
}
