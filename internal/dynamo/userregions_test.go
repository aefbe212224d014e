package dynamo_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/internal/argon2id"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// Users in two regions (docs/REGIONS.md, "Users"): the user's item is
// written only by the operator's actions, the log-in defence's state in
// one item per region, written only there.

var (
	weakParams  = argon2id.Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	cheapParams = argon2id.Params{MemoryKiB: 16, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	regionLock  = session.Lockout{MaxFailures: 3, Window: time.Hour, LockFor: time.Hour, LockMax: 24 * time.Hour, FamiliarFor: 24 * time.Hour}
)

const regionUser = "someone@vsphere.local"

// userService is the session service of a region, its users table
// region-aware as the functions build it (function.Parts.Users).
func (r *regions) userService(s *dynamo.Sessions) (*session.Service, *dynamo.Users) {
	users := &dynamo.Users{DB: s.DB, Table: r.tables.Users}
	users.InRegion(s.Region, s)
	return &session.Service{Sessions: s, Users: users, Passwords: argon2id.Hasher{Params: cheapParams},
		Policy: session.Policy{Lifetime: lifetime, DefaultDomain: "vsphere.local", Lockout: regionLock}}, users
}

func hashOf(t *testing.T, password string, p argon2id.Params) string {
	t.Helper()
	h, err := argon2id.Hash(password, p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rawUser is the user's own item as region g's replica holds it.
func rawUser(t *testing.T, s *dynamo.Sessions, table string) map[string]types.AttributeValue {
	t.Helper()
	out, err := s.DB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{dynamo.UsersKey: &types.AttributeValueMemberS{Value: regionUser}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func logIn(svc *session.Service, source, password string) error {
	_, _, err := svc.Login(session.WithSource(context.Background(), source), regionUser, password)
	return err
}

// A password reset in a, made while replication is paused, and log-ins in
// b throughout the pause with the old password, wrong ones and right ones
// (the old hash at a lower cost, so that each right one rehashes it): once
// replication resumes, the new password works in both regions and the old
// in neither, and both replicas hold the reset's item unchanged.
func TestALogInInOneRegionNeverUndoesAPasswordResetInTheOther(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	svcA, usersA := r.userService(r.inA)
	svcB, usersB := r.userService(r.inB)
	ctx := context.Background()
	if err := usersA.Add(ctx, session.User{Name: regionUser, PasswordHash: hashOf(t, "old-Pass1", weakParams)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	if err := logIn(svcB, "192.0.2.1", "old-Pass1"); err != nil {
		t.Fatalf("the user never reached b: %v", err)
	}
	// That log-in rehashed the weak hash, in b's own item: b's log-ins use it.
	if u, err := usersB.User(ctx, regionUser); err != nil || argon2id.NeedsRehash(u.PasswordHash, cheapParams) {
		t.Fatalf("b after a log-in with a weak hash: %v, rehashed %v", err, err == nil && !argon2id.NeedsRehash(u.PasswordHash, cheapParams))
	}
	if got := rawUser(t, r.inB, r.tables.Users)["password_hash"].(*types.AttributeValueMemberS).Value; !argon2id.NeedsRehash(got, cheapParams) {
		t.Fatal("b's log-in rewrote the user's own item")
	}

	r.rep.Pause()
	if err := usersA.SetPassword(ctx, regionUser, hashOf(t, "new-Pass1", cheapParams), time.Now()); err != nil {
		t.Fatal(err)
	}
	reset := rawUser(t, r.inA, r.tables.Users)
	for i := range 4 {
		time.Sleep(20 * time.Millisecond) // each of b's writes later than the reset
		if err := logIn(svcB, "192.0.2.1", "old-Pass1"); err != nil {
			t.Fatalf("b, not yet told of the reset, refused the old password (%d): %v", i, err)
		}
		_ = logIn(svcB, "198.51.100.7", "wrong-guess")
	}
	r.rep.Resume()
	r.settle(t)
	time.Sleep(2 * regionLag) // anything b wrote after the queue drained
	r.settle(t)

	for _, region := range []struct {
		name string
		svc  *session.Service
		s    *dynamo.Sessions
	}{{"a", svcA, r.inA}, {"b", svcB, r.inB}} {
		if err := logIn(region.svc, "192.0.2.1", "new-Pass1"); err != nil {
			t.Errorf("region %s refused the new password: %v", region.name, err)
		}
		if err := logIn(region.svc, "192.0.2.1", "old-Pass1"); session.ErrorCode(err) != session.EUNAUTHENTICATED {
			t.Errorf("region %s: the old password: %v, want refused", region.name, err)
		}
		got := rawUser(t, region.s, r.tables.Users)
		for _, attr := range []string{"password_hash", "revision"} {
			if g, w := got[attr].(*types.AttributeValueMemberS).Value, reset[attr].(*types.AttributeValueMemberS).Value; g != w {
				t.Errorf("region %s's user item: %s is not the reset's", region.name, attr)
			}
		}
	}
	if s := r.rep.Status(); s.DroppedStale != 0 {
		t.Errorf("%d versions dropped as stale: two regions wrote one item", s.DroppedStale)
	}
}

// The bound on guesses per account and window with two regions: each
// region counts in its own item, under its own conditions, so with
// replication stopped an account gets at most MaxFailures guesses in each
// (2x one region's); once the counts have replicated, each region reads
// the others' with its own and refuses, without checking the password,
// when their sum fills the window (1x, plus what arrives in the other
// region before the counts reach it).
func TestGuessesAcrossTwoRegionsInOneWindowAreBounded(t *testing.T) {
	e := twoEngines(t)
	t.Run("CountsReplicatedSumToOneRegionsBound", func(t *testing.T) {
		r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
		svcA, usersA := r.userService(r.inA)
		svcB, _ := r.userService(r.inB)
		if err := usersA.Add(context.Background(), session.User{Name: regionUser, PasswordHash: hashOf(t, "right-Pass1", cheapParams)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.settle(t)
		for _, g := range []struct {
			svc      *session.Service
			password string
		}{{svcA, "guess-1"}, {svcA, "guess-2"}, {svcB, "guess-3"}} {
			_ = logIn(g.svc, "203.0.113.9", g.password)
			r.settle(t)
		}
		for name, svc := range map[string]*session.Service{"a": svcA, "b": svcB} {
			if err := logIn(svc, "203.0.113.9", "right-Pass1"); session.ErrorCode(err) != session.EUNAUTHENTICATED {
				t.Errorf("region %s let the right password in after 3 guesses in two regions (max 3): %v", name, err)
			}
		}
		// The guess that filled the sum locked the class, as in one
		// region: the next window starts locked, and the row of locks grows.
		users, err := usersA.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].Failures.Streak != 1 || !users[0].Failures.Until.After(time.Now()) {
			t.Errorf("list-users: %+v, want the unfamiliar class locked by b's guess, the third of the window", users)
		}
	})
	t.Run("AtOnceInOneRegionAfterTheOthersCountsNoMoreThanItsOwnRoom", func(t *testing.T) {
		r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
		svcA, usersA := r.userService(r.inA)
		svcB, _ := r.userService(r.inB)
		if err := usersA.Add(context.Background(), session.User{Name: regionUser, PasswordHash: hashOf(t, "right-Pass1", cheapParams)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.settle(t)
		for i := range regionLock.MaxFailures - 1 {
			_ = logIn(svcA, "203.0.113.9", "a-guess-"+string(rune('0'+i)))
		}
		r.settle(t)
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = logIn(svcB, "203.0.113.9", "b-guess-"+string(rune('0'+i)))
			}()
		}
		wg.Wait()
		r.settle(t)
		users, err := usersA.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].Failures.Count > 2*regionLock.MaxFailures-1 {
			t.Fatalf("list-users: %+v, want at most %d counted (a's %d and b's own room)", users, 2*regionLock.MaxFailures-1, regionLock.MaxFailures-1)
		}
		t.Logf("%d in a, then 10 at once in b: %d counted in all (max %d per region)", regionLock.MaxFailures-1, users[0].Failures.Count, regionLock.MaxFailures)
	})
	t.Run("DuringAPauseEachRegionAllowsItsOwnBoundAndNoMore", func(t *testing.T) {
		r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
		svcA, usersA := r.userService(r.inA)
		svcB, _ := r.userService(r.inB)
		if err := usersA.Add(context.Background(), session.User{Name: regionUser, PasswordHash: hashOf(t, "right-Pass1", cheapParams)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.settle(t)
		r.rep.Pause()
		for name, svc := range map[string]*session.Service{"a": svcA, "b": svcB} {
			for i := range regionLock.MaxFailures {
				_ = logIn(svc, "203.0.113.9", "guess-"+name+string(rune('0'+i)))
			}
			if err := logIn(svc, "203.0.113.9", "right-Pass1"); session.ErrorCode(err) != session.EUNAUTHENTICATED {
				t.Errorf("region %s let the right password in after its own %d guesses: %v", name, regionLock.MaxFailures, err)
			}
		}
		r.rep.Resume()
		r.settle(t)
		users, err := usersA.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].Failures.Count != 2*regionLock.MaxFailures {
			t.Errorf("list-users after resume: %+v, want one user with %d failures counted (both regions')", users, 2*regionLock.MaxFailures)
		}
		for name, svc := range map[string]*session.Service{"a": svcA, "b": svcB} {
			if err := logIn(svc, "203.0.113.9", "right-Pass1"); session.ErrorCode(err) != session.EUNAUTHENTICATED {
				t.Errorf("region %s let the right password in after resume: %v", name, err)
			}
		}
		// An unlock in a clears every region's state, each at its
		// replica, and leaves the user's item (which holds none of it)
		// unwritten: an operator's write of it would race another
		// region's reset.
		before := r.rep.Status().Requests
		a0, b0 := copyCounts(before["a"]), copyCounts(before["b"])
		if err := usersA.ClearFailures(context.Background(), regionUser); err != nil {
			t.Fatal(err)
		}
		after := r.rep.Status().Requests
		// a: the user's item read, a's defence item read and cleared;
		// b: b's defence item read and cleared, at b's replica.
		if d, want := diffCounts(a0, after["a"]), map[string]int{"GetItem": 2, "UpdateItem": 1}; !equalCounts(d, want) {
			t.Errorf("unlock in a: requests in a %v, want %v", d, want)
		}
		if d, want := diffCounts(b0, after["b"]), map[string]int{"GetItem": 1, "UpdateItem": 1}; !equalCounts(d, want) {
			t.Errorf("unlock in a: requests in b %v, want %v", d, want)
		}
		r.settle(t)
		if s := r.rep.Status(); s.DroppedStale != 0 {
			t.Errorf("%d versions dropped as stale: two regions wrote one item", s.DroppedStale)
		}
		r.settle(t)
		for name, svc := range map[string]*session.Service{"a": svcA, "b": svcB} {
			if err := logIn(svc, "203.0.113.9", "right-Pass1"); err != nil {
				t.Errorf("region %s refused the right password after an unlock in a: %v", name, err)
			}
		}
	})
}

// A log-in in a region costs a fixed number of requests, all in that
// region: the user's item and every region's defence item in one
// BatchGetItem; a wrong password then one UpdateItem (its region's count);
// a right one the session's write, its region's UpdateItem, and one
// GetItem of the user's revision (which no log-in may write, so no write
// returns it).
func TestALogInInARegionIsAFixedCountOfLocalRequests(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	_, usersA := r.userService(r.inA)
	svcB, _ := r.userService(r.inB)
	if err := usersA.Add(context.Background(), session.User{Name: regionUser, PasswordHash: hashOf(t, "right-Pass1", cheapParams)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	for _, tc := range []struct {
		password string
		want     map[string]int
	}{
		{"wrong-guess", map[string]int{"BatchGetItem": 1, "UpdateItem": 1}},
		{"right-Pass1", map[string]int{"BatchGetItem": 1, "PutItem": 1, "UpdateItem": 1, "GetItem": 1}},
	} {
		before := r.rep.Status().Requests
		a0, b0 := copyCounts(before["a"]), copyCounts(before["b"])
		_ = logIn(svcB, "192.0.2.1", tc.password)
		after := r.rep.Status().Requests
		if d := diffCounts(a0, after["a"]); len(d) != 0 {
			t.Errorf("%s in b: requests in a %v, want none", tc.password, d)
		}
		if d := diffCounts(b0, after["b"]); !equalCounts(d, tc.want) {
			t.Errorf("%s in b: requests in b %v, want %v", tc.password, d, tc.want)
		}
	}
}

func copyCounts(m map[string]int) map[string]int {
	c := map[string]int{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

func diffCounts(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A user stored before regions, its defence's state on its own item, keeps
// it in force when its store is given a region: a lock there still holds,
// read as one more region's, and an unlock clears it.
func TestAUserStoredBeforeRegionsKeepsItsLockInARegion(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	plain := &dynamo.Users{DB: r.inA.DB, Table: r.tables.Users}
	if err := plain.Add(ctx, session.User{Name: regionUser, PasswordHash: hashOf(t, "right-Pass1", cheapParams)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := plain.Lock(ctx, regionUser, session.Unfamiliar, session.Failures{Until: time.Now().Add(time.Hour), Streak: 1}); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	svcB, usersB := r.userService(r.inB)
	if err := logIn(svcB, "203.0.113.9", "right-Pass1"); session.ErrorCode(err) != session.EUNAUTHENTICATED {
		t.Errorf("a lock on a user item stored before regions did not hold in region b: %v", err)
	}
	if err := usersB.ClearFailures(ctx, regionUser); err != nil {
		t.Fatal(err)
	}
	if err := logIn(svcB, "203.0.113.9", "right-Pass1"); err != nil {
		t.Errorf("after an unlock: %v", err)
	}
}

// On moto, which returns a refused item and checks conditions its own way,
// the split items behave the same: a reset is not undone by b's log-ins.
func TestOnMotoALogInInOneRegionNeverUndoesAPasswordReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := twoMotoRegions(t)
	svcA, usersA := r.userService(r.inA)
	svcB, _ := r.userService(r.inB)
	if err := usersA.Add(ctx, session.User{Name: regionUser, PasswordHash: hashOf(t, "old-Pass1", weakParams)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
	r.rep.Pause()
	if err := usersA.SetPassword(ctx, regionUser, hashOf(t, "new-Pass1", cheapParams), time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := logIn(svcB, "192.0.2.1", "old-Pass1"); err != nil {
		t.Fatalf("b, not yet told of the reset: %v", err)
	}
	_ = logIn(svcB, "198.51.100.7", "wrong-guess")
	r.rep.Resume()
	r.settle(t)
	for name, svc := range map[string]*session.Service{"a": svcA, "b": svcB} {
		if err := logIn(svc, "192.0.2.1", "new-Pass1"); err != nil {
			t.Errorf("region %s refused the new password: %v", name, err)
		}
		if err := logIn(svc, "192.0.2.1", "old-Pass1"); session.ErrorCode(err) != session.EUNAUTHENTICATED {
			t.Errorf("region %s: the old password: %v, want refused", name, err)
		}
	}
}

// A defence item is no user, whatever an attacker sends or writes: a
// log-in naming its key (the user's, a NUL, a region) is refused before
// any read, and a defence item written straight into the table with no
// user's item beside it logs no one in and lists no one.
func TestADefenceItemIsNoUser(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	svcA, usersA := r.userService(r.inA)
	ctx := context.Background()
	hash := hashOf(t, "right-Pass1", cheapParams)
	_, err := r.inA.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.tables.Users), Item: map[string]types.AttributeValue{
		dynamo.UsersKey: &types.AttributeValueMemberS{Value: regionUser + "\x00a"},
		"name":          &types.AttributeValueMemberS{Value: regionUser + "\x00a"},
		"password_hash": &types.AttributeValueMemberS{Value: hash},
		"defence_of":    &types.AttributeValueMemberS{Value: regionUser},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{regionUser, regionUser + "\x00a", "SOMEONE@vsphere.local\x00a"} {
		_, _, err := svcA.Login(session.WithSource(ctx, "192.0.2.1"), login, "right-Pass1")
		if session.ErrorCode(err) != session.EUNAUTHENTICATED {
			t.Errorf("log-in as %q with a defence item's hash: %v, want refused", login, err)
		}
	}
	users, err := usersA.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 0 {
		t.Errorf("list-users: %+v, want no user", users)
	}
}

// A user removed in one region and added again under the same name
// inherits nothing of the log-in defence from any region: remove-user
// deletes every region's defence item, each at its own replica, as an
// unlock clears them. A region out of reach is named, and with no region
// there is nothing more to delete (the user's item held it all).
func TestAUserAddedAgainAfterRemovalInheritsNoRegionsDefence(t *testing.T) {
	e := twoEngines(t)
	ctx := context.Background()
	hash := hashOf(t, "right-Pass1", cheapParams)
	t.Run("TwoRegions", func(t *testing.T) {
		r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
		svcA, usersA := r.userService(r.inA)
		svcB, usersB := r.userService(r.inB)
		if err := usersA.Add(ctx, session.User{Name: regionUser, PasswordHash: hash}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.settle(t)
		// Familiar sources in both regions, a count in a, a lock in b.
		for name, svc := range map[string]*session.Service{"a": svcA, "b": svcB} {
			if err := logIn(svc, "192.0.2.1", "right-Pass1"); err != nil {
				t.Fatalf("region %s: %v", name, err)
			}
		}
		_ = logIn(svcA, "203.0.113.9", "a-guess")
		for i := range regionLock.MaxFailures {
			_ = logIn(svcB, "198.51.100.7", "b-guess-"+string(rune('0'+i)))
		}
		r.settle(t)
		if u, err := usersA.User(ctx, regionUser); err != nil || !u.Failures.Until.After(time.Now()) || len(u.Sources) == 0 {
			t.Fatalf("before removal, a sees %+v (%v): want b's lock and a's familiar source", u, err)
		}

		before := r.rep.Status().Requests
		a0, b0 := copyCounts(before["a"]), copyCounts(before["b"])
		if err := usersA.Remove(ctx, regionUser); err != nil {
			t.Fatal(err)
		}
		if err := usersA.RemoveDefence(ctx, regionUser); err != nil {
			t.Fatal(err)
		}
		after := r.rep.Status().Requests
		// a: the user's item and a's defence item; b's at b's replica.
		if d, want := diffCounts(a0, after["a"]), map[string]int{"DeleteItem": 2}; !equalCounts(d, want) {
			t.Errorf("remove in a: requests in a %v, want %v", d, want)
		}
		if d, want := diffCounts(b0, after["b"]), map[string]int{"DeleteItem": 1}; !equalCounts(d, want) {
			t.Errorf("remove in a: requests in b %v, want %v", d, want)
		}
		r.settle(t)
		if err := usersA.Add(ctx, session.User{Name: regionUser, PasswordHash: hash}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.settle(t)

		for name, in := range map[string]struct {
			s     *dynamo.Sessions
			users *dynamo.Users
			svc   *session.Service
		}{"a": {r.inA, usersA, svcA}, "b": {r.inB, usersB, svcB}} {
			for _, region := range []string{"a", "b"} {
				out, err := in.s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.tables.Users), ConsistentRead: aws.Bool(true),
					Key: map[string]types.AttributeValue{dynamo.UsersKey: &types.AttributeValueMemberS{Value: regionUser + "\x00" + region}}})
				if err != nil {
					t.Fatal(err)
				}
				if out.Item != nil {
					t.Errorf("region %s's replica still holds region %s's defence item of the removed user", name, region)
				}
			}
			u, err := in.users.User(ctx, regionUser)
			if err != nil {
				t.Fatalf("region %s: %v", name, err)
			}
			if u.Failures != (session.Failures{}) || u.FamiliarFailures != (session.Failures{}) || len(u.Sources) != 0 || len(u.Stale) != 0 {
				t.Errorf("region %s: the user added again inherited %+v", name, u)
			}
			// b's lock would refuse this unfamiliar source's right password.
			if err := logIn(in.svc, "198.51.100.7", "right-Pass1"); err != nil {
				t.Errorf("region %s refused the user added again: %v", name, err)
			}
		}
		if s := r.rep.Status(); s.DroppedStale != 0 {
			t.Errorf("%d versions dropped as stale: two regions wrote one item", s.DroppedStale)
		}
	})
	t.Run("ARegionOutOfReachIsNamed", func(t *testing.T) {
		r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
		_, usersA := r.userService(r.inA)
		dead, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := dead.Addr().String()
		dead.Close()
		peers := &dynamo.Sessions{Table: r.tables.Sessions}
		if err := peers.InRegion("a", map[string]string{"c": "http://" + addr}); err != nil {
			t.Fatal(err)
		}
		usersA.Peers["c"] = peers.Peers["c"].DB
		err = usersA.RemoveDefence(ctx, regionUser)
		if session.ErrorCode(err) != session.EUNAVAILABLE || !strings.Contains(err.Error(), "region c") {
			t.Errorf("remove with region c out of reach: %v, want unavailable naming region c", err)
		}
	})
	t.Run("OneRegionUnchanged", func(t *testing.T) {
		r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
		users := &dynamo.Users{DB: r.inA.DB, Table: r.tables.Users}
		svc := &session.Service{Sessions: &dynamo.Sessions{DB: r.inA.DB, Table: r.tables.Sessions, ReadOnFailedCondition: true}, Users: users,
			Passwords: argon2id.Hasher{Params: cheapParams}, Policy: session.Policy{Lifetime: lifetime, DefaultDomain: "vsphere.local", Lockout: regionLock}}
		if err := users.Add(ctx, session.User{Name: regionUser, PasswordHash: hash}, time.Now()); err != nil {
			t.Fatal(err)
		}
		for i := range regionLock.MaxFailures {
			_ = logIn(svc, "198.51.100.7", "guess-"+string(rune('0'+i)))
		}
		before := copyCounts(r.rep.Status().Requests["a"])
		if err := users.Remove(ctx, regionUser); err != nil {
			t.Fatal(err)
		}
		if err := users.RemoveDefence(ctx, regionUser); err != nil {
			t.Fatal(err)
		}
		if d, want := diffCounts(before, r.rep.Status().Requests["a"]), map[string]int{"DeleteItem": 1}; !equalCounts(d, want) {
			t.Errorf("remove in one region: requests %v, want %v (the user's item alone)", d, want)
		}
		if err := users.Add(ctx, session.User{Name: regionUser, PasswordHash: hash}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := logIn(svc, "198.51.100.7", "right-Pass1"); err != nil {
			t.Errorf("the user added again in one region: %v", err)
		}
	})
}
