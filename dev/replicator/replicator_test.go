package replicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
)

// Two dynalites for the whole test binary: each test makes tables of its
// own and a replicator of its own between them.
var engines [2]*localdynamo.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range engines {
		srv, err := localdynamo.Start(ctx, localdynamo.Dynalite)
		if err != nil {
			fmt.Fprintln(os.Stderr, "replicator tests need dynalite (npm ci):", err)
			return 1
		}
		defer srv.Stop()
		engines[i] = srv
	}
	return m.Run()
}

const testLag = 300 * time.Millisecond

// twoRegions starts a replicator with lag between the two engines, a table
// of its own (key "k") in each.
func twoRegions(t *testing.T, lag time.Duration) (*Replicator, *Region, *Region, string) {
	t.Helper()
	a := &Region{Name: "a", Engine: engines[0].Endpoint}
	b := &Region{Name: "b", Engine: engines[1].Endpoint}
	r := New(lag, a, b)
	r.TTLSweep = 0 // the tests that want one sweep call it
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	table := fmt.Sprintf("t%d", time.Now().UnixNano())
	for _, g := range []*Region{a, b} {
		in := fmt.Sprintf(`{"TableName":%q,"AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],`+
			`"KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`, table)
		if err := g.call(context.Background(), "CreateTable", []byte(in), nil); err != nil {
			t.Fatal(err)
		}
		active(t, g, table)
	}
	return r, a, b, table
}

// active waits until g's table is ACTIVE: dynalite makes it so a moment
// after CreateTable answers.
func active(t *testing.T, g *Region, table string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		var d struct{ Table struct{ TableStatus string } }
		if err := g.call(context.Background(), "DescribeTable", []byte(fmt.Sprintf(`{"TableName":%q}`, table)), &d); err == nil && d.Table.TableStatus == "ACTIVE" {
			return
		}
	}
	t.Fatalf("table %s never became active in %s", table, g.Name)
}

// viaProxy sends op to g's proxy, as the region's service does.
func viaProxy(t *testing.T, g *Region, op, body string) error {
	t.Helper()
	proxy := &Region{Name: g.Name, Engine: g.URL, rep: g.rep}
	return proxy.call(context.Background(), op, []byte(body), nil)
}

// held returns attribute v of item k as g's engine holds it ("" when the
// item is absent).
func held(t *testing.T, g *Region, table, k string) string {
	t.Helper()
	var out struct {
		Item map[string]struct{ S string }
	}
	in := fmt.Sprintf(`{"TableName":%q,"Key":{"k":{"S":%q}},"ConsistentRead":true}`, table, k)
	if err := g.call(context.Background(), "GetItem", []byte(in), &out); err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		return ""
	}
	return out.Item["v"].S
}

// settle waits until nothing is queued, at most lag plus 5 s.
func settle(t *testing.T, r *Replicator) Status {
	t.Helper()
	for end := time.Now().Add(r.Lag + 5*time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if s := r.Status(); s.Pending == 0 {
			return s
		}
	}
	t.Fatalf("still pending after lag + 5 s: %+v", r.Status())
	return Status{}
}

func put(table, k, v string) string {
	return fmt.Sprintf(`{"TableName":%q,"Item":{"k":{"S":%q},"v":{"S":%q}}}`, table, k, v)
}

func TestAChangeReachesTheOtherRegionWholeAndNoSoonerThanTheLag(t *testing.T) {
	r, a, b, table := twoRegions(t, testLag)
	wrote := time.Now()
	if err := viaProxy(t, a, "PutItem", put(table, "x", "1")); err != nil {
		t.Fatal(err)
	}
	upd := fmt.Sprintf(`{"TableName":%q,"Key":{"k":{"S":"x"}},"UpdateExpression":"SET v = :v, w = :w",`+
		`"ExpressionAttributeValues":{":v":{"S":"2"},":w":{"N":"7"}}}`, table)
	if err := viaProxy(t, a, "UpdateItem", upd); err != nil {
		t.Fatal(err)
	}
	var seen time.Time
	for end := wrote.Add(testLag + 5*time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if held(t, b, table, "x") == "2" {
			seen = time.Now()
			break
		}
		if v := held(t, b, table, "x"); v != "" && time.Since(wrote) < testLag {
			t.Fatalf("b held %q %v after the write, sooner than the lag %v", v, time.Since(wrote), testLag)
		}
	}
	if seen.IsZero() {
		t.Fatalf("the update never reached b: %+v", r.Status())
	}
	if d := seen.Sub(wrote); d < testLag {
		t.Errorf("reached b after %v, sooner than the lag %v", d, testLag)
	}
	// Whole: the update's other attribute came along.
	var out struct{ Item map[string]json.RawMessage }
	_ = b.call(context.Background(), "GetItem", []byte(fmt.Sprintf(`{"TableName":%q,"Key":{"k":{"S":"x"}}}`, table)), &out)
	if string(out.Item["w"]) != `{"N":"7"}` {
		t.Errorf("b holds %s, want the whole item with w", out.Item)
	}
	if s := settle(t, r); s.Delivered != 2 || s.DroppedStale != 0 {
		t.Errorf("status %+v, want 2 delivered, none dropped", s)
	}

	del := fmt.Sprintf(`{"TableName":%q,"Key":{"k":{"S":"x"}}}`, table)
	if err := viaProxy(t, b, "DeleteItem", del); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if v := held(t, a, table, "x"); v != "" {
		t.Errorf("a still holds %q after b's delete was delivered", v)
	}
}

// The MREC hazard itself: a write made in b after a's write, by b's clock,
// wins in both regions, whichever was delivered when; the older is dropped.
func TestTheLaterWriteWinsInEveryRegionAndTheOlderIsDropped(t *testing.T) {
	r, a, b, table := twoRegions(t, testLag)
	if err := viaProxy(t, a, "PutItem", put(table, "x", "from a")); err != nil {
		t.Fatal(err)
	}
	if err := viaProxy(t, b, "PutItem", put(table, "x", "from b")); err != nil {
		t.Fatal(err)
	}
	s := settle(t, r)
	if ga, gb := held(t, a, table, "x"), held(t, b, table, "x"); ga != "from b" || gb != "from b" {
		t.Errorf("a holds %q, b holds %q: want b's later write in both", ga, gb)
	}
	if s.Delivered != 1 || s.DroppedStale != 1 {
		t.Errorf("status %+v, want 1 delivered (b's to a) and 1 dropped (a's to b)", s)
	}
}

// Clocks a little apart: the write time is each region's own clock, so a
// region whose clock runs behind loses to an earlier write of another.
func TestAWriteTimeIsTheWritingRegionsClock(t *testing.T) {
	r, a, b, table := twoRegions(t, testLag)
	b.Skew = -time.Minute
	if err := viaProxy(t, a, "PutItem", put(table, "x", "from a")); err != nil {
		t.Fatal(err)
	}
	if err := viaProxy(t, b, "PutItem", put(table, "x", "from b, a minute behind")); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if ga, gb := held(t, a, table, "x"), held(t, b, table, "x"); ga != "from a" || gb != "from a" {
		t.Errorf("a holds %q, b holds %q: want a's write, later by the clocks, in both", ga, gb)
	}
}

func TestAPauseQueuesEveryChangeAndResumeDeliversThemOldestFirst(t *testing.T) {
	r, a, b, table := twoRegions(t, 50*time.Millisecond)
	r.Pause()
	for _, v := range []string{"1", "2", "3"} {
		if err := viaProxy(t, a, "PutItem", put(table, "x", v)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // six lags
	if s := r.Status(); s.Pending != 3 || s.Delivered != 0 || !s.Paused {
		t.Errorf("paused: %+v, want 3 pending, none delivered", s)
	}
	if v := held(t, b, table, "x"); v != "" {
		t.Errorf("b holds %q during the pause", v)
	}
	r.Resume()
	s := settle(t, r)
	// Newest first would deliver 3 and drop 1 and 2 as older.
	if s.Delivered != 3 || s.DroppedStale != 0 || held(t, b, table, "x") != "3" {
		t.Errorf("after resume: %+v, b holds %q; want all 3 delivered in order, ending at 3", s, held(t, b, table, "x"))
	}
}

func TestATTLDeleteIsReplicatedAsADelete(t *testing.T) {
	r, a, b, table := twoRegions(t, testLag)
	past := time.Now().Add(-time.Minute).Unix()
	item := fmt.Sprintf(`{"TableName":%q,"Item":{"k":{"S":"x"},"v":{"S":"old"},%q:{"N":"%d"}}}`, table, TTLAttribute, past)
	if err := viaProxy(t, a, "PutItem", item); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	if held(t, b, table, "x") != "old" {
		t.Fatal("the put never reached b")
	}
	if err := a.sweepOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if held(t, a, table, "x") != "" {
		t.Error("a's sweep left the expired item")
	}
	s := settle(t, r)
	if held(t, b, table, "x") != "" || s.Delivered != 2 {
		t.Errorf("b holds %q after a's TTL delete (status %+v), want it deleted", held(t, b, table, "x"), s)
	}
}

func TestAConditionIsJudgedAgainstTheLocalCopyOnly(t *testing.T) {
	r, a, b, table := twoRegions(t, testLag)
	if err := viaProxy(t, a, "PutItem", put(table, "x", "1")); err != nil {
		t.Fatal(err)
	}
	// Before the lag, b has not heard: a put on condition the item is
	// absent succeeds there.
	cond := fmt.Sprintf(`{"TableName":%q,"Item":{"k":{"S":"x"},"v":{"S":"b's"}},"ConditionExpression":"attribute_not_exists(k)"}`, table)
	if err := viaProxy(t, b, "PutItem", cond); err != nil {
		t.Fatalf("b's conditional put: %v, want it to pass on b's copy", err)
	}
	settle(t, r)
	// ... and after, it fails there, refused by the engine (not captured).
	err := viaProxy(t, b, "PutItem", cond)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("conditional put after replication: %v, want the condition to fail", err)
	}
	if s := settle(t, r); s.Delivered+s.DroppedStale != 2 {
		t.Errorf("status %+v: a failed write was replicated", s)
	}
}

func TestAStoppedTargetEngineKeepsItsChangesQueued(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gone, err := localdynamo.Start(ctx, localdynamo.Dynalite)
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Stop()
	a := &Region{Name: "a", Engine: engines[0].Endpoint}
	b := &Region{Name: "b", Engine: gone.Endpoint}
	r := New(10*time.Millisecond, a, b)
	r.TTLSweep = 0
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	table := fmt.Sprintf("t%d", time.Now().UnixNano())
	in := fmt.Sprintf(`{"TableName":%q,"AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],`+
		`"KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`, table)
	if err := a.call(ctx, "CreateTable", []byte(in), nil); err != nil {
		t.Fatal(err)
	}
	active(t, a, table)
	if err := gone.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := viaProxy(t, a, "PutItem", put(table, "x", "1")); err != nil {
		t.Fatalf("a write in the region whose engine lives: %v", err)
	}
	if err := viaProxy(t, b, "PutItem", put(table, "y", "1")); err == nil {
		t.Error("a write through the stopped engine's proxy succeeded")
	}
	time.Sleep(300 * time.Millisecond)
	if s := r.Status(); s.Pending != 1 || s.Failed == 0 {
		t.Errorf("status %+v, want a's change kept for b, its delivery failing", s)
	}
}

// An update that sets a value to itself makes no version (DynamoDB writes
// no stream record for it), so it can win nothing in another region.
func TestAWriteThatChangesNothingIsNotReplicated(t *testing.T) {
	r, a, _, table := twoRegions(t, testLag)
	if err := viaProxy(t, a, "PutItem", put(table, "x", "1")); err != nil {
		t.Fatal(err)
	}
	settle(t, r)
	same := fmt.Sprintf(`{"TableName":%q,"Key":{"k":{"S":"x"}},"UpdateExpression":"SET v = v"}`, table)
	if err := viaProxy(t, a, "UpdateItem", same); err != nil {
		t.Fatal(err)
	}
	if s := r.Status(); s.Pending != 0 || s.Delivered != 1 {
		t.Errorf("status %+v after a write that changed nothing, want nothing queued", s)
	}
}
