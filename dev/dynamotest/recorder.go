package dynamotest

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cis-session/cis-session/internal/dynamo"
)

// Call is one DynamoDB request as IAM sees it: the action, the table and,
// for a query of an index, the index.
type Call struct {
	Action string // e.g. "dynamodb:UpdateItem"
	Table  string
	Index  string // "" unless the request names an index
}

// Recorder records DynamoDB requests, so that tests can hold the code to the
// permissions template.yaml grants and count the requests a code path makes.
// It sees them either as an API that passes every call on to API, or, with
// Wrap, on the wire: every HTTP request the SDK sends, retries included (the
// table and index are then not recorded). It is safe for concurrent use.
type Recorder struct {
	API dynamo.API

	mu    sync.Mutex
	calls []Call
}

var _ dynamo.API = (*Recorder)(nil)

func (r *Recorder) record(action string, table, index *string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Action: "dynamodb:" + action, Table: aws.ToString(table), Index: aws.ToString(index)})
}

// Wrap is for dynamo.WrapHTTPClient: it records the operation of every
// request the SDK sends through next (its X-Amz-Target names it).
func (r *Recorder) Wrap(next dynamo.HTTPClient) dynamo.HTTPClient {
	return sendFunc(func(req *http.Request) (*http.Response, error) {
		target := req.Header.Get("X-Amz-Target")
		r.record(target[strings.LastIndexByte(target, '.')+1:], nil, nil)
		return next.Do(req)
	})
}

type sendFunc func(*http.Request) (*http.Response, error)

func (f sendFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// Calls returns the calls recorded since the last Reset.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Reset forgets the calls recorded so far and returns their operations
// ("GetItem", "Query", ...) in the order they were made.
func (r *Recorder) Reset() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := make([]string, len(r.calls))
	for i, c := range r.calls {
		ops[i] = strings.TrimPrefix(c.Action, "dynamodb:")
	}
	r.calls = nil
	return ops
}

func (r *Recorder) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.record("GetItem", in.TableName, nil)
	return r.API.GetItem(ctx, in, o...)
}

func (r *Recorder) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.record("PutItem", in.TableName, nil)
	return r.API.PutItem(ctx, in, o...)
}

func (r *Recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.record("UpdateItem", in.TableName, nil)
	return r.API.UpdateItem(ctx, in, o...)
}

func (r *Recorder) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.record("DeleteItem", in.TableName, nil)
	return r.API.DeleteItem(ctx, in, o...)
}

func (r *Recorder) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	r.record("Scan", in.TableName, nil)
	return r.API.Scan(ctx, in, o...)
}

func (r *Recorder) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	r.record("Query", in.TableName, in.IndexName)
	return r.API.Query(ctx, in, o...)
}

// BatchGetItem records one call per table the request reads.
func (r *Recorder) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	tables := slices.Sorted(maps.Keys(in.RequestItems))
	for _, t := range tables {
		r.record("BatchGetItem", aws.String(t), nil)
	}
	return r.API.BatchGetItem(ctx, in, o...)
}
