package dynamotest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cis-session/cis-session/internal/dynamo"
)

// Recorder is a dynamo.API that passes every request on to API and
// records its operation name, so that a test can say which requests a code
// path makes ("GetItem", "Query", "UpdateItem", ...). It is safe for
// concurrent use. (Test support: besides package dynamo, the one package
// that names the SDK's request types.)
type Recorder struct {
	API dynamo.API

	mu    sync.Mutex
	calls []string
}

var _ dynamo.API = (*Recorder)(nil)

func (r *Recorder) record(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op)
}

// Reset returns the operations recorded since the last Reset, in the order
// they were made, and forgets them.
func (r *Recorder) Reset() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *Recorder) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.record("GetItem")
	return r.API.GetItem(ctx, in, o...)
}

func (r *Recorder) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.record("PutItem")
	return r.API.PutItem(ctx, in, o...)
}

func (r *Recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.record("UpdateItem")
	return r.API.UpdateItem(ctx, in, o...)
}

func (r *Recorder) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.record("DeleteItem")
	return r.API.DeleteItem(ctx, in, o...)
}

func (r *Recorder) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	r.record("Scan")
	return r.API.Scan(ctx, in, o...)
}

func (r *Recorder) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	r.record("Query")
	return r.API.Query(ctx, in, o...)
}
