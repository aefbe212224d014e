package replicator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// sessionsIn returns today's single-region session store (dynamo.Sessions,
// as every function builds it) on g's proxy, with the tables made there.
func sessionsIn(t *testing.T, g *Region, tables dynamo.Tables) *dynamo.Sessions {
	t.Helper()
	db := dynamo.NewClientFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(g.URL),
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, db, tables); err != nil {
		t.Fatal(err)
	}
	return &dynamo.Sessions{DB: db, Table: tables.Sessions, ReadOnFailedCondition: true}
}

// TestNaiveDesignALogOutInOneRegionIsUndoneByATouchInTheOther is the hazard
// the multi-region design exists for, shown on the single-region design:
// each region's service writing its own replica, a log-out in a (one
// DeleteItem) and, before a's delete has reached b, a touch in b (one
// conditional UpdateItem, passing on b's copy). b's touch is the later
// write, so it wins in both regions: the session is back in a, where it was
// logged out, and a's delete is dropped in b. It must keep passing: it
// specifies the replicator's fidelity to MREC and the design it rules out.
func TestNaiveDesignALogOutInOneRegionIsUndoneByATouchInTheOther(t *testing.T) {
	r, a, b, _ := twoRegions(t, testLag)
	p := fmt.Sprintf("naive%d-", time.Now().UnixNano())
	tables := dynamo.Tables{Sessions: p + "sessions", Users: p + "users"}
	inA, inB := sessionsIn(t, a, tables), sessionsIn(t, b, tables)
	life := session.Lifetime{Idle: time.Hour, Absolute: 24 * time.Hour}
	ctx := context.Background()

	tok, err := session.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	h, now := tok.Hash(), time.Now()
	rec := session.Record{Hash: h, Session: session.Session{User: "someone@vsphere.local", Created: now, LastAccessed: now}}
	if err := inA.Create(ctx, rec, life); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if _, err := inB.Peek(ctx, h); err != nil {
		t.Fatalf("the session never reached b: %v", err)
	}

	if err := inA.Delete(ctx, h, time.Now(), life); err != nil {
		t.Fatalf("log-out in a: %v", err)
	}
	if _, err := inA.Touch(ctx, h, time.Now(), life); session.ErrorCode(err) != session.ENOTFOUND {
		t.Fatalf("a touch in a right after its log-out: %v, want no session", err)
	}
	// b has not heard of the log-out yet: its touch passes on its copy.
	if _, err := inB.Touch(ctx, h, time.Now(), life); err != nil {
		t.Fatalf("a touch in b before the log-out reached it: %v, want it to pass there", err)
	}
	s := settle(t, r)

	if _, err := inA.Touch(ctx, h, time.Now(), life); err != nil {
		t.Errorf("a touch in a after replication settled: %v; want the hazard: b's touch brought the logged-out session back", err)
	}
	if _, err := inB.Touch(ctx, h, time.Now(), life); err != nil {
		t.Errorf("a touch in b after replication settled: %v; want the session alive there too", err)
	}
	if s.DroppedStale < 1 {
		t.Errorf("status %+v: want a's delete dropped in b as older than b's touch", s)
	}
}

// TestNaiveDesignALogInInOneRegionUndoesAPasswordResetInTheOther is the
// users table's hazard, shown on the single-region users store
// (dynamo.Users with no region, as every function built it before
// regions): a password reset in a (one UpdateItem of the user's item) and,
// before it has reached b, a wrong password counted in b (one conditional
// UpdateItem of the same item, passing on b's copy). b's write is the
// later, so its whole item wins in both regions: the old password hash and
// revision are back in a, where the reset was made, and the reset is
// dropped in b. The region-aware store's answer is
// TestALogInInOneRegionNeverUndoesAPasswordResetInTheOther
// (internal/dynamo).
func TestNaiveDesignALogInInOneRegionUndoesAPasswordResetInTheOther(t *testing.T) {
	r, a, b, _ := twoRegions(t, testLag)
	p := fmt.Sprintf("naiveusers%d-", time.Now().UnixNano())
	tables := dynamo.Tables{Sessions: p + "sessions", Users: p + "users"}
	sa, sb := sessionsIn(t, a, tables), sessionsIn(t, b, tables)
	inA := &dynamo.Users{DB: sa.DB, Table: tables.Users}
	inB := &dynamo.Users{DB: sb.DB, Table: tables.Users}
	ctx := context.Background()
	const name = "someone@vsphere.local"
	lock := session.Lockout{MaxFailures: 5, Window: time.Hour, LockFor: time.Hour, LockMax: 24 * time.Hour}

	if err := inA.Add(ctx, session.User{Name: name, PasswordHash: "old-hash"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	old, err := inB.User(ctx, name)
	if err != nil {
		t.Fatalf("the user never reached b: %v", err)
	}

	if err := inA.SetPassword(ctx, name, "new-hash", time.Now()); err != nil {
		t.Fatalf("reset in a: %v", err)
	}
	time.Sleep(5 * time.Millisecond) // b's clock reads later than a's reset
	// b has not heard of the reset: its count passes on its copy.
	if n, err := inB.Fail(ctx, name, session.Unfamiliar, session.Failure{Digest: "d1", Stale: []session.Mark{{Digest: "d1", At: time.Now()}}}, time.Now(), lock); err != nil || n != 1 {
		t.Fatalf("a wrong password counted in b before the reset reached it: %d, %v; want 1 counted", n, err)
	}
	s := settle(t, r)

	for region, u := range map[string]*dynamo.Users{"a": inA, "b": inB} {
		got, err := u.User(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got.PasswordHash != "old-hash" || got.Revision != old.Revision {
			t.Errorf("region %s after replication settled: hash %q; want the hazard: b's count brought the old hash and revision back", region, got.PasswordHash)
		}
	}
	if s.DroppedStale < 1 {
		t.Errorf("status %+v: want a's reset dropped in b as older than b's count", s)
	}
}
