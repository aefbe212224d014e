package dynamo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/replicator"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// Two regions: two dynalites replicated as a global table's replicas
// (dev/replicator), each region's store on its own replica, knowing the
// other's (Sessions.InRegion), as `make run-regions` runs them.

const regionLag = 300 * time.Millisecond

var (
	regionEnginesOnce sync.Once
	regionEngines     [2]*localdynamo.Server
	regionEnginesErr  error
)

// twoEngines are two dynalites of this test binary's own, started once.
func twoEngines(t *testing.T) [2]*localdynamo.Server {
	t.Helper()
	regionEnginesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := range regionEngines {
			if regionEngines[i], regionEnginesErr = localdynamo.Start(ctx, localdynamo.Dynalite); regionEnginesErr != nil {
				return
			}
		}
	})
	if regionEnginesErr != nil {
		t.Fatalf("two dynalites (npm ci): %v", regionEnginesErr)
	}
	return regionEngines
}

// stopRegionEngines stops what twoEngines started (TestMain).
func stopRegionEngines() {
	for _, e := range regionEngines {
		_ = e.Stop() // nil-safe
	}
}

type regions struct {
	rep  *replicator.Replicator
	a, b *replicator.Region
	// inA and inB are each region's store, as its functions build it.
	inA, inB *dynamo.Sessions
	tables   dynamo.Tables
}

// twoRegions replicates between engA and engB and makes each region's
// tables and store.
func twoRegions(t *testing.T, engA, engB string) *regions {
	t.Helper()
	return twoRegionsOf(t, engA, engB, true)
}

// twoRegionsOf is twoRegions with readOnFailed as the engines need it
// (dynalite: true; moto and DynamoDB return the item with a refusal).
// twoMotoRegions is two regions, each a moto of its own, which returns the
// refused item with a failed condition as DynamoDB does. Without moto the
// test is skipped, or fails where CI is set (dynamotest.Unavailable).
func twoMotoRegions(t *testing.T) *regions {
	t.Helper()
	if ok, why := localdynamo.Available(localdynamo.Moto); !ok {
		dynamotest.Unavailable(t, why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var endpoints [2]string
	for i := range endpoints {
		m, err := localdynamo.Start(ctx, localdynamo.Moto)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Stop() })
		endpoints[i] = m.Endpoint
	}
	return twoRegionsOf(t, endpoints[0], endpoints[1], false)
}

func twoRegionsOf(t *testing.T, engA, engB string, readOnFailed bool) *regions {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	r := &regions{a: &replicator.Region{Name: "a", Engine: engA}, b: &replicator.Region{Name: "b", Engine: engB}}
	r.rep = replicator.New(regionLag, r.a, r.b)
	r.rep.TTLSweep = 0
	if err := r.rep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.rep.Stop)
	p := fmt.Sprintf("regions%d-", time.Now().UnixNano())
	r.tables = dynamo.Tables{Sessions: p + "sessions", Users: p + "users"}
	r.inA = r.store(t, r.a, r.b, readOnFailed)
	r.inB = r.store(t, r.b, r.a, readOnFailed)
	return r
}

func (r *regions) store(t *testing.T, here, peer *replicator.Region, readOnFailed bool) *dynamo.Sessions {
	t.Helper()
	db := dynamo.NewClientFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(here.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, db, r.tables); err != nil {
		t.Fatal(err)
	}
	s := &dynamo.Sessions{DB: db, Table: r.tables.Sessions, ReadOnFailedCondition: readOnFailed}
	if err := s.InRegion(here.Name, map[string]string{peer.Name: peer.URL}); err != nil {
		t.Fatal(err)
	}
	return s
}

// settle waits until the replicator has nothing queued.
func (r *regions) settle(t *testing.T) replicator.Status {
	t.Helper()
	for end := time.Now().Add(regionLag + 5*time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if s := r.rep.Status(); s.Pending == 0 {
			return s
		}
	}
	t.Fatalf("replication never settled: %+v", r.rep.Status())
	return replicator.Status{}
}

// made logs a session in, in s, and waits until both regions hold it.
func (r *regions) made(t *testing.T, s *dynamo.Sessions) session.TokenHash {
	t.Helper()
	tok := newSession(t, s, "someone@vsphere.local", time.Now())
	r.settle(t)
	for _, in := range []*dynamo.Sessions{r.inA, r.inB} {
		if _, err := in.Peek(context.Background(), tok.Hash()); err != nil {
			t.Fatalf("the session never reached region %s: %v", in.Region, err)
		}
	}
	return tok.Hash()
}

func gone(t *testing.T, what string, err error) {
	t.Helper()
	if session.ErrorCode(err) != session.ENOTFOUND {
		t.Errorf("%s: %v, want no session", what, err)
	}
}

// The naive design's hazard (dev/replicator's
// TestNaiveDesignALogOutInOneRegionIsUndoneByATouchInTheOther), run on
// the home-region design: b's touch is made at a, where the log-out is.
func TestALogOutInTheHomeRegionIsNotUndoneByATouchInTheOther(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	h := r.made(t, r.inA)

	if err := r.inA.Delete(ctx, h, time.Now(), lifetime); err != nil {
		t.Fatalf("log-out in a: %v", err)
	}
	_, err := r.inB.Touch(ctx, h, time.Now(), lifetime)
	gone(t, "a touch in b before the log-out reached it", err)
	r.settle(t)
	_, err = r.inA.Touch(ctx, h, time.Now(), lifetime)
	gone(t, "a touch in a after replication settled", err)
	_, err = r.inB.Touch(ctx, h, time.Now(), lifetime)
	gone(t, "a touch in b after replication settled", err)
	if _, err := r.inB.Peek(ctx, h); session.ErrorCode(err) != session.ENOTFOUND {
		t.Errorf("b's replica still holds the session: %v", err)
	}
}

// A log-out (and an operator's End) made in a region that is not the
// session's home is made at the home: refused everywhere at once, before
// any replication.
func TestALogOutOrAnEndInTheOtherRegionIsMadeAtTheHome(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	for _, end := range []struct {
		name string
		do   func(h session.TokenHash) error
	}{
		{"Delete", func(h session.TokenHash) error { return r.inB.Delete(ctx, h, time.Now(), lifetime) }},
		{"End", func(h session.TokenHash) error { return r.inB.End(ctx, "SomeOne@vsphere.local", "", h) }},
	} {
		t.Run(end.name, func(t *testing.T) {
			h := r.made(t, r.inA)
			r.rep.Pause() // nothing reaches b: only the home's answer counts
			defer r.rep.Resume()
			if err := end.do(h); err != nil {
				t.Fatalf("in b: %v", err)
			}
			if _, err := r.inA.Peek(ctx, h); session.ErrorCode(err) != session.ENOTFOUND {
				t.Errorf("a, the home, still holds the session: %v", err)
			}
			_, err := r.inA.Touch(ctx, h, time.Now(), lifetime)
			gone(t, "a touch in a", err)
			_, err = r.inB.Touch(ctx, h, time.Now(), lifetime)
			gone(t, "a touch in b, whose replica has not heard", err)
			gone(t, "the same again in b", end.do(h))
		})
	}
}

// A log-out while replication is paused and the other region touches the
// session throughout stays final once it resumes.
func TestALogOutDuringAPauseStaysFinalAfterResume(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	h := r.made(t, r.inB)
	r.rep.Pause()
	if err := r.inB.Delete(ctx, h, time.Now(), lifetime); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		_, err := r.inA.Touch(ctx, h, time.Now(), lifetime)
		gone(t, "a touch in a during the pause", err)
		time.Sleep(5 * time.Millisecond)
	}
	r.rep.Resume()
	r.settle(t)
	for _, in := range []*dynamo.Sessions{r.inA, r.inB} {
		_, err := in.Touch(ctx, h, time.Now(), lifetime)
		gone(t, "a touch in "+in.Region+" after resume", err)
	}
}

// The hot path stays at its floor: a touch in the session's home is one
// request there and none elsewhere; a touch in the other region (a client
// that moved) is that region's refused touch (and its re-read, on an
// engine that does not return the item with a refusal) and one touch at
// the home.
func TestATouchInTheHomeRegionIsOneLocalRequest(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	h := r.made(t, r.inA)
	count := func() (int, int) {
		s := r.rep.Status()
		n := func(ops map[string]int) int {
			sum := 0
			for _, c := range ops {
				sum += c
			}
			return sum
		}
		return n(s.Requests["a"]), n(s.Requests["b"])
	}
	a0, b0 := count()
	for range 5 {
		if _, err := r.inA.Touch(ctx, h, time.Now(), lifetime); err != nil {
			t.Fatal(err)
		}
	}
	a1, b1 := count()
	if a1-a0 != 5 || b1 != b0 {
		t.Errorf("5 touches in the home: %d requests there, %d in b; want 5 and 0", a1-a0, b1-b0)
	}
	if _, err := r.inB.Touch(ctx, h, time.Now(), lifetime); err != nil {
		t.Fatal(err)
	}
	a2, b2 := count()
	if a2-a1 != 1 || b2-b1 != 2 {
		t.Errorf("a touch in b: %d requests at the home a, %d in b; want 1 and 2 (refused touch, re-read)", a2-a1, b2-b1)
	}
}

// With the home region's engine gone, the other region takes a session it
// has seen over: it serves it, and is its home from then on.
func TestWhenTheHomeIsUnreachableTheServingRegionTakesTheSessionOver(t *testing.T) {
	e := twoEngines(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lost, err := localdynamo.Start(ctx, localdynamo.Dynalite)
	if err != nil {
		t.Fatal(err)
	}
	defer lost.Stop()
	r := twoRegions(t, lost.Endpoint, e[1].Endpoint)
	h := r.made(t, r.inA)
	if err := lost.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.inB.Touch(ctx, h, time.Now(), lifetime); err != nil {
		t.Fatalf("a touch in b with a's engine gone: %v, want b to take the session over", err)
	}
	out, err := r.inB.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.tables.Sessions),
		Key: map[string]types.AttributeValue{"token_hash": &types.AttributeValueMemberS{Value: h.String()}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if home, _ := out.Item["home"].(*types.AttributeValueMemberS); home == nil || home.Value != "b" {
		t.Errorf("home after the take-over: %v, want b", out.Item["home"])
	}
	if err := r.inB.Delete(ctx, h, time.Now(), lifetime); err != nil {
		t.Errorf("a log-out in b after the take-over: %v", err)
	}
	_, err = r.inB.Touch(ctx, h, time.Now(), lifetime)
	gone(t, "a touch in b after its log-out", err)
}

// A session made before the deployment had regions (no home) is written by
// whichever region serves it, as before.
func TestASessionWithoutAHomeIsWrittenWhereItIsServed(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	old := &dynamo.Sessions{DB: r.inA.DB, Table: r.tables.Sessions, ReadOnFailedCondition: true}
	tok := newSession(t, old, "someone@vsphere.local", time.Now())
	r.settle(t)
	if _, err := r.inB.Touch(ctx, tok.Hash(), time.Now(), lifetime); err != nil {
		t.Errorf("a touch in b of a session without a home: %v", err)
	}
}

// A peer that answers but refuses (access denied: a misconfigured role) is
// no lost region: its sessions are not taken over, which would make two
// writers of them; the client gets the 503.
func TestAPeerThatRefusesIsNoReasonToTakeItsSessionsOver(t *testing.T) {
	e := twoEngines(t)
	r := twoRegions(t, e[0].Endpoint, e[1].Endpoint)
	ctx := context.Background()
	h := r.made(t, r.inA)
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazon.coral.service#AccessDeniedException","message":"not authorized"}`))
	}))
	defer denied.Close()
	if err := r.inB.InRegion("b", map[string]string{"a": denied.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.inB.Touch(ctx, h, time.Now(), lifetime); session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Errorf("a touch in b, its home refusing: %v, want unavailable", err)
	}
	if err := r.inB.Delete(ctx, h, time.Now(), lifetime); session.ErrorCode(err) != session.EUNAVAILABLE {
		t.Errorf("a log-out in b, its home refusing: %v, want unavailable", err)
	}
	out, err := r.inB.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.tables.Sessions),
		Key: map[string]types.AttributeValue{"token_hash": &types.AttributeValueMemberS{Value: h.String()}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if home, _ := out.Item["home"].(*types.AttributeValueMemberS); home == nil || home.Value != "a" {
		t.Errorf("home in b: %v, want still a", out.Item["home"])
	}
}

// On an engine that returns the refused item with a failed condition, as
// DynamoDB does (moto), a client that moved costs one refused touch where
// it is and one touch at the home, and a log-out there is made at the home.
func TestOnAnEngineThatReturnsTheRefusedItemAMovedClientCostsTwoRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := twoMotoRegions(t)
	h := r.made(t, r.inA)
	total := func(region string) int {
		n := 0
		for _, c := range r.rep.Status().Requests[region] {
			n += c
		}
		return n
	}
	a0, b0 := total("a"), total("b")
	if _, err := r.inB.Touch(ctx, h, time.Now(), lifetime); err != nil {
		t.Fatal(err)
	}
	if a, b := total("a")-a0, total("b")-b0; a != 1 || b != 1 {
		t.Errorf("a touch in b of a session made in a: %d requests in a, %d in b; want 1 and 1", a, b)
	}
	if err := r.inB.Delete(ctx, h, time.Now(), lifetime); err != nil {
		t.Fatal(err)
	}
	_, err := r.inA.Touch(ctx, h, time.Now(), lifetime)
	gone(t, "a touch in a after a log-out in b", err)
}

// recorded keeps what a session service records, for the tests.
type recorded struct {
	mu     sync.Mutex
	events []session.Event
}

func (r *recorded) Record(_ context.Context, e session.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// of returns the events of kind k recorded so far.
func (r *recorded) of(k session.EventKind) []session.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []session.Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// A take-over is recorded for the operator once per take-over, naming the
// lost home region and the session's reference (never its token): a get
// that takes a session over records it, the next get (the session's home
// now the serving region) does not, nor does a get served by a reachable
// home; a log-out that takes its session over records it beside the
// log-out.
func TestATakeOverIsRecordedOncePerTakeOver(t *testing.T) {
	e := twoEngines(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lost, err := localdynamo.Start(ctx, localdynamo.Dynalite)
	if err != nil {
		t.Fatal(err)
	}
	defer lost.Stop()
	r := twoRegions(t, lost.Endpoint, e[1].Endpoint)
	rec := &recorded{}
	r.inB.RecordTakeOvers(rec)
	svcB := &session.Service{Sessions: r.inB, Recorder: rec, Policy: session.Policy{Lifetime: lifetime, DefaultDomain: "vsphere.local"}}
	got, out := newSession(t, r.inA, "someone@vsphere.local", time.Now()), newSession(t, r.inA, "someone@vsphere.local", time.Now())
	r.settle(t)
	if _, err := svcB.Get(ctx, string(got)); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.of(session.EventTakeOver)); n != 0 {
		t.Fatalf("%d take-overs recorded with the home reachable, want none", n)
	}
	if err := lost.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := svcB.Get(ctx, string(got)); err != nil {
			t.Fatalf("get %d in b with a's engine gone: %v", i, err)
		}
	}
	if err := svcB.Logout(ctx, string(out)); err != nil {
		t.Fatalf("log-out in b with a's engine gone: %v", err)
	}
	want := []session.Event{
		{Kind: session.EventTakeOver, Region: "a", Session: got.Hash().String()[:12]},
		{Kind: session.EventTakeOver, Region: "a", Session: out.Hash().String()[:12]},
	}
	if took := rec.of(session.EventTakeOver); !slices.Equal(took, want) {
		t.Errorf("take-overs recorded: %+v, want %+v (three gets of one session, a log-out of another)", took, want)
	}
	if n := len(rec.of(session.EventLogout)); n != 1 {
		t.Errorf("%d log-outs recorded, want 1", n)
	}
}
