// Package replicator makes two or more DynamoDB-compatible engines on
// loopback behave as the replicas of a DynamoDB global table in its default
// mode (multi-Region eventual consistency, MREC), for `make run-regions` and
// its tests:
//
//   - every change a region makes (PutItem, UpdateItem, DeleteItem,
//     BatchWriteItem, TransactWriteItems, and TTL deletes) reaches every
//     other region as a whole-item version or a delete, asynchronously, no
//     sooner than Lag after it was made;
//   - per item, the version written last, by the clock of the region that
//     wrote it, wins everywhere: a change older than the version the target
//     holds is dropped (DroppedStale);
//   - conditions are judged against the local engine only.
//
// Each region's service talks to a Region's proxy (its URL), which forwards
// every request to the region's engine and, after a successful write, reads
// the written items back (GetItem, strongly consistent) and queues them for
// the other regions with the write's time. Writes in one region, and the
// versions applied to it, are serialised, so that each item's write times
// in a region only grow.
//
// Hand-written because dynalite has no streams and no library replicates
// between DynamoDB engines. It speaks the DynamoDB JSON protocol with plain
// net/http (dev/localdynamo's NewRequest), so that it shares nothing with
// the SDK the service uses. It is for development and tests only.
package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cis-session/cis-session/dev/localdynamo"
)

// DefaultLag is REPLICATION_LAG's default: what DynamoDB documents as the
// usual replication latency of a global table ("typically within a second").
const DefaultLag = time.Second

// TTLAttribute is the attribute the sweeper treats as an item's TTL (Unix
// seconds), in every table: the sessions table's (dynamo.AttrExpires).
const TTLAttribute = "expires_at"

// Replicator connects the regions' engines.
type Replicator struct {
	// Lag is how long after it was made a change may first be delivered.
	Lag time.Duration
	// TTLSweep is how often each region's engine is scanned for items past
	// their TTL, which are then deleted and the deletes replicated; 0: never.
	TTLSweep time.Duration

	regions []*Region
	client  *http.Client

	mu        sync.Mutex
	wake      *sync.Cond // on mu: a change queued, a resume, a stop
	paused    bool
	stopped   bool
	queues    map[*Region][]change // per target region, oldest first
	delivered int
	dropped   int
	failed    int // delivery attempts the target engine refused (retried)
	requests  map[string]map[string]int
	wg        sync.WaitGroup
	ctx       context.Context // done once Stop is called
	cancel    context.CancelFunc
}

// Region is one region: its engine, and the proxy its service talks to.
type Region struct {
	Name   string
	Engine string // the engine's endpoint, e.g. http://127.0.0.1:41234
	// Skew is added to this region's clock when it stamps its writes: a
	// region whose clock runs a little ahead or behind.
	Skew time.Duration
	// URL is the proxy's endpoint: where this region's service and tools
	// reach the engine (AWS_ENDPOINT_URL_DYNAMODB). Set by Start.
	URL string

	rep *Replicator
	srv *http.Server

	write sync.Mutex         // serialises this region's writes and the versions applied to it
	held  map[string]version // item -> version this region holds; guarded by write

	keysMu sync.Mutex
	keys   map[string][]string // table -> key attribute names
}

// version is the write that made what a region holds of an item.
type version struct {
	At     time.Time // by the writing region's clock
	Region string    // breaks a tie of At, as any fixed order would
}

func (v version) after(w version) bool {
	return v.At.After(w.At) || (v.At.Equal(w.At) && v.Region > w.Region)
}

// change is one item's new state in the region that wrote it.
type change struct {
	from  *Region
	table string
	id    string                     // table and key, canonical
	key   map[string]json.RawMessage // the item's key attributes
	item  map[string]json.RawMessage // the whole item; nil for a delete
	v     version
	made  time.Time // real time, for the lag
}

// Status is what GET /status answers.
type Status struct {
	Paused       bool           `json:"paused"`
	Pending      int            `json:"pending"`
	PendingTo    map[string]int `json:"pending_to"`
	Delivered    int            `json:"delivered"`
	DroppedStale int            `json:"dropped_stale"`
	Failed       int            `json:"failed"`
	// Requests counts, per region, the requests its service made to its
	// engine (through the proxy), by operation: what a region pays.
	Requests map[string]map[string]int `json:"requests"`
	LagMS    int64                     `json:"lag_ms"`
}

// New returns a replicator between the named regions' engines; Start
// starts it.
func New(lag time.Duration, regions ...*Region) *Replicator {
	r := &Replicator{Lag: lag, TTLSweep: time.Second, regions: regions,
		client: &http.Client{Timeout: 5 * time.Second}, queues: map[*Region][]change{},
		requests: map[string]map[string]int{}}
	r.wake = sync.NewCond(&r.mu)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, g := range regions {
		g.rep, g.held, g.keys = r, map[string]version{}, map[string][]string{}
		r.requests[g.Name] = map[string]int{}
	}
	return r
}

// Start serves each region's proxy on a free loopback port and starts
// delivering. Stop ends it.
func (r *Replicator) Start() error {
	for _, g := range r.regions {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.Stop()
			return err
		}
		g.URL = "http://" + ln.Addr().String()
		g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = g.srv.Serve(ln) }()
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.deliver(g) }()
		if r.TTLSweep > 0 {
			r.wg.Add(1)
			go func() { defer r.wg.Done(); r.sweep(r.ctx, g) }()
		}
	}
	return nil
}

// Stop stops the proxies and the delivery; what is queued is dropped.
func (r *Replicator) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Lock()
	r.stopped = true
	r.wake.Broadcast()
	r.mu.Unlock()
	for _, g := range r.regions {
		if g.srv != nil {
			_ = g.srv.Close()
		}
	}
	r.wg.Wait()
}

// Pause holds every change in its queue until Resume.
func (r *Replicator) Pause() {
	r.mu.Lock()
	r.paused = true
	r.mu.Unlock()
}

// Resume delivers what queued meanwhile, oldest first, then goes on.
func (r *Replicator) Resume() {
	r.mu.Lock()
	r.paused = false
	r.wake.Broadcast()
	r.mu.Unlock()
}

// Status reports the queue and the counts.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{Paused: r.paused, PendingTo: map[string]int{}, Delivered: r.delivered,
		DroppedStale: r.dropped, Failed: r.failed, LagMS: r.Lag.Milliseconds()}
	for g, q := range r.queues {
		s.PendingTo[g.Name] = len(q)
		s.Pending += len(q)
	}
	s.Requests = map[string]map[string]int{}
	for name, ops := range r.requests {
		s.Requests[name] = maps.Clone(ops)
	}
	return s
}

// Control is the loopback control: POST /pause, POST /resume, GET /status.
func (r *Replicator) Control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pause", func(w http.ResponseWriter, _ *http.Request) { r.Pause(); r.writeStatus(w) })
	mux.HandleFunc("POST /resume", func(w http.ResponseWriter, _ *http.Request) { r.Resume(); r.writeStatus(w) })
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { r.writeStatus(w) })
	return mux
}

func (r *Replicator) writeStatus(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(r.Status())
}

// now is this region's clock.
func (g *Region) now() time.Time { return time.Now().Add(g.Skew) }

// writeOps are the operations that change items; every other one is only
// forwarded.
var writeOps = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"BatchWriteItem": true, "TransactWriteItems": true}

// ServeHTTP forwards one DynamoDB request to the engine and, if it was a
// write that succeeded, queues the items it wrote for the other regions.
func (g *Region) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 16<<20))
	if err != nil {
		http.Error(w, "request body", http.StatusBadRequest)
		return
	}
	op := req.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	g.rep.mu.Lock()
	g.rep.requests[g.Name][op]++
	g.rep.mu.Unlock()
	var before []change // what a write's items were before it
	if writeOps[op] {
		g.write.Lock()
		defer g.write.Unlock()
		var err error
		if before, err = g.read(req.Context(), op, body); err != nil {
			w.Header().Set("X-Replicator-Error", err.Error())
		}
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, g.Engine+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	out.Header = req.Header.Clone()
	resp, err := g.rep.client.Do(out)
	if err != nil {
		// The engine is gone: so is the connection, as with an
		// unreachable DynamoDB.
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if writeOps[op] && resp.StatusCode == http.StatusOK && before != nil {
		// A change that cannot be read back is not replicated: said in a
		// header of the write's answer, which the caller's SDK ignores.
		if err := g.capture(req.Context(), before); err != nil {
			w.Header().Set("X-Replicator-Error", err.Error())
		}
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// written returns the table and key of every item a successful write named.
func (g *Region) written(ctx context.Context, op string, body []byte) ([]change, error) {
	type put struct {
		TableName string
		Item      map[string]json.RawMessage
	}
	type keyed struct {
		TableName string
		Key       map[string]json.RawMessage
	}
	var out []change
	add := func(table string, item, key map[string]json.RawMessage) error {
		if key == nil {
			names, err := g.keyNames(ctx, table)
			if err != nil {
				return err
			}
			key = map[string]json.RawMessage{}
			for _, n := range names {
				key[n] = item[n]
			}
		}
		out = append(out, change{from: g, table: table, key: key, id: itemID(table, key)})
		return nil
	}
	switch op {
	case "PutItem":
		var in put
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return out, add(in.TableName, in.Item, nil)
	case "UpdateItem", "DeleteItem":
		var in keyed
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return out, add(in.TableName, nil, in.Key)
	case "BatchWriteItem":
		var in struct {
			RequestItems map[string][]struct {
				PutRequest    *struct{ Item map[string]json.RawMessage }
				DeleteRequest *struct{ Key map[string]json.RawMessage }
			}
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		for table, reqs := range in.RequestItems {
			for _, rq := range reqs {
				var err error
				switch {
				case rq.PutRequest != nil:
					err = add(table, rq.PutRequest.Item, nil)
				case rq.DeleteRequest != nil:
					err = add(table, nil, rq.DeleteRequest.Key)
				}
				if err != nil {
					return nil, err
				}
			}
		}
	case "TransactWriteItems":
		var in struct {
			TransactItems []struct {
				Put            *put
				Update, Delete *keyed
			}
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		for _, t := range in.TransactItems {
			var err error
			switch {
			case t.Put != nil:
				err = add(t.Put.TableName, t.Put.Item, nil)
			case t.Update != nil:
				err = add(t.Update.TableName, nil, t.Update.Key)
			case t.Delete != nil:
				err = add(t.Delete.TableName, nil, t.Delete.Key)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// read returns the items a write names as they are before it, each with
// its key. Called with g.write held.
func (g *Region) read(ctx context.Context, op string, body []byte) ([]change, error) {
	cs, err := g.written(ctx, op, body)
	if err != nil {
		return nil, fmt.Errorf("replicator: %s: %w", op, err)
	}
	for i := range cs {
		if cs[i].item, err = g.get(ctx, cs[i].table, cs[i].key); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// capture reads back what a write left of each item it named and queues
// the ones it changed, stamped with this region's clock: a write that
// changes nothing (an update setting a value to itself) makes no version,
// as it makes no stream record on DynamoDB. Called with g.write held.
func (g *Region) capture(ctx context.Context, before []change) error {
	for _, c := range before {
		after, err := g.get(ctx, c.table, c.key)
		if err != nil {
			return err
		}
		if canonical(after) == canonical(c.item) {
			continue
		}
		c.item = after
		g.stampAndQueue(c)
	}
	return nil
}

// get reads one item from g's engine, strongly consistent; nil if absent.
func (g *Region) get(ctx context.Context, table string, key map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	var got struct{ Item map[string]json.RawMessage }
	in, _ := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	if err := g.call(ctx, "GetItem", in, &got); err != nil {
		return nil, fmt.Errorf("replicator: read %s: %w", itemID(table, key), err)
	}
	return got.Item, nil
}

// canonical is an item's JSON with its map keys sorted and spacing gone.
func canonical(item map[string]json.RawMessage) string {
	if item == nil {
		return ""
	}
	var v any
	b, _ := json.Marshal(item)
	_ = json.Unmarshal(b, &v)
	c, _ := json.Marshal(v)
	return string(c)
}

// stampAndQueue gives c this region's next write time and queues it for
// every other region. Called with g.write held.
func (g *Region) stampAndQueue(c change) {
	c.v = version{At: g.now(), Region: g.Name}
	if held, ok := g.held[c.id]; ok && !c.v.after(held) {
		// A region's own writes to an item are ordered: a write after a
		// replicated version is later than it, as DynamoDB stamps it.
		c.v.At = held.At.Add(time.Microsecond)
	}
	g.held[c.id] = c.v
	c.made = time.Now()
	g.rep.enqueue(c)
}

func (r *Replicator) enqueue(c change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, to := range r.regions {
		if to == c.from {
			continue
		}
		q := r.queues[to]
		i := sort.Search(len(q), func(i int) bool { return q[i].made.After(c.made) })
		r.queues[to] = slices.Insert(q, i, c)
	}
	r.wake.Broadcast()
}

// deliver applies the changes queued for g, oldest first, each once its lag
// has passed, until Stop.
func (r *Replicator) deliver(g *Region) {
	for {
		r.mu.Lock()
		for !r.stopped && (r.paused || len(r.queues[g]) == 0) {
			r.wake.Wait()
		}
		if r.stopped {
			r.mu.Unlock()
			return
		}
		c := r.queues[g][0]
		wait := time.Until(c.made.Add(r.Lag))
		r.mu.Unlock()
		if wait > 0 {
			r.sleep(min(wait, 50*time.Millisecond))
			continue
		}
		applied, err := g.apply(c)
		r.mu.Lock()
		switch {
		case err != nil:
			// The target's engine refuses: kept, and tried again, as a
			// global table catches a region up once it is back.
			r.failed++
		default:
			r.queues[g] = r.queues[g][1:]
			if applied {
				r.delivered++
			} else {
				r.dropped++
			}
		}
		r.mu.Unlock()
		if err != nil {
			r.sleep(100 * time.Millisecond)
		}
	}
}

// sleep waits d, or less once Stop is called.
func (r *Replicator) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}

// apply writes c into g unless g holds a later version of the item; it
// reports whether it did.
func (g *Region) apply(c change) (bool, error) {
	g.write.Lock()
	defer g.write.Unlock()
	if held, ok := g.held[c.id]; ok && !c.v.after(held) {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if c.item == nil {
		in, _ := json.Marshal(map[string]any{"TableName": c.table, "Key": c.key})
		err = g.call(ctx, "DeleteItem", in, nil)
	} else {
		in, _ := json.Marshal(map[string]any{"TableName": c.table, "Item": c.item})
		err = g.call(ctx, "PutItem", in, nil)
	}
	if err != nil {
		return false, err
	}
	g.held[c.id] = c.v
	return true, nil
}

// sweep deletes, every TTLSweep, the items of g's engine past their TTL,
// and replicates the deletes, as DynamoDB's TTL does in a global table.
func (r *Replicator) sweep(ctx context.Context, g *Region) {
	t := time.NewTicker(r.TTLSweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = g.sweepOnce(ctx)
		}
	}
}

func (g *Region) sweepOnce(ctx context.Context) error {
	var tables struct{ TableNames []string }
	if err := g.call(ctx, "ListTables", []byte(`{}`), &tables); err != nil {
		return err
	}
	for _, table := range tables.TableNames {
		names, err := g.keyNames(ctx, table)
		if err != nil {
			return fmt.Errorf("describe %s: %w", table, err)
		}
		now := strconv.FormatInt(time.Now().Unix(), 10)
		filter := map[string]any{"TableName": table, "FilterExpression": "#ttl < :now",
			"ExpressionAttributeNames":  map[string]string{"#ttl": TTLAttribute},
			"ExpressionAttributeValues": map[string]any{":now": map[string]string{"N": now}}}
		for {
			in, _ := json.Marshal(filter)
			var page struct {
				Items            []map[string]json.RawMessage
				LastEvaluatedKey map[string]json.RawMessage
			}
			if err := g.call(ctx, "Scan", in, &page); err != nil {
				return fmt.Errorf("scan %s: %w", table, err)
			}
			for _, item := range page.Items {
				key := map[string]json.RawMessage{}
				for _, n := range names {
					key[n] = item[n]
				}
				if err := g.expire(ctx, table, key, now); err != nil {
					return err
				}
			}
			if page.LastEvaluatedKey == nil {
				break
			}
			filter["ExclusiveStartKey"] = page.LastEvaluatedKey
		}
	}
	return nil
}

// expire deletes one item if it is still past its TTL, and queues the delete.
func (g *Region) expire(ctx context.Context, table string, key map[string]json.RawMessage, now string) error {
	g.write.Lock()
	defer g.write.Unlock()
	in, _ := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConditionExpression": "#ttl < :now",
		"ExpressionAttributeNames":  map[string]string{"#ttl": TTLAttribute},
		"ExpressionAttributeValues": map[string]any{":now": map[string]string{"N": now}}})
	err := g.call(ctx, "DeleteItem", in, nil)
	var ae *apiError
	if errors.As(err, &ae) && strings.HasSuffix(ae.Type, "ConditionalCheckFailedException") {
		return nil // touched meanwhile
	}
	if err != nil {
		return err
	}
	g.stampAndQueue(change{from: g, table: table, key: key, id: itemID(table, key)})
	return nil
}

// keyNames returns the table's key attribute names (DescribeTable, cached).
func (g *Region) keyNames(ctx context.Context, table string) ([]string, error) {
	g.keysMu.Lock()
	names, ok := g.keys[table]
	g.keysMu.Unlock()
	if ok {
		return names, nil
	}
	var d struct {
		Table struct {
			KeySchema []struct{ AttributeName string }
		}
	}
	in, _ := json.Marshal(map[string]string{"TableName": table})
	if err := g.call(ctx, "DescribeTable", in, &d); err != nil {
		return nil, err
	}
	for _, k := range d.Table.KeySchema {
		names = append(names, k.AttributeName)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("table %s: no key schema", table)
	}
	g.keysMu.Lock()
	g.keys[table] = names
	g.keysMu.Unlock()
	return names, nil
}

// apiError is a DynamoDB error answer.
type apiError struct {
	Status  int
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Type, e.Message) }

// call sends one DynamoDB request straight to g's engine (not through the
// proxy: nothing it writes is captured) and decodes the answer into out.
func (g *Region) call(ctx context.Context, op string, body []byte, out any) error {
	req, err := localdynamo.NewRequest(ctx, g.Engine, op, body)
	if err != nil {
		return err
	}
	resp, err := g.rep.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, e)
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// itemID names an item across regions: its table and its key, canonical.
func itemID(table string, key map[string]json.RawMessage) string {
	names := make([]string, 0, len(key))
	for n := range key {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(table)
	for _, n := range names {
		var v any
		_ = json.Unmarshal(key[n], &v)
		canon, _ := json.Marshal(v) // map keys sorted, spacing gone
		b.WriteString("\x00" + n + "=" + string(canon))
	}
	return b.String()
}
