package dynamo

import (
	"context"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Call is one DynamoDB request as IAM sees it: the action and the table.
type Call struct {
	Action string // e.g. "dynamodb:UpdateItem"
	Table  string
}

// Recorder is an API that records every call it passes on, so that tests can
// hold the code to the permissions template.yaml grants.
type Recorder struct {
	API API

	mu    sync.Mutex
	calls []Call
}

var _ API = (*Recorder)(nil)

func (r *Recorder) record(action string, table *string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Action: "dynamodb:" + action, Table: aws.ToString(table)})
}

// Calls returns the calls recorded since the last Reset.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Reset forgets the calls recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

func (r *Recorder) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.record("GetItem", in.TableName)
	return r.API.GetItem(ctx, in, o...)
}

func (r *Recorder) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.record("PutItem", in.TableName)
	return r.API.PutItem(ctx, in, o...)
}

func (r *Recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.record("UpdateItem", in.TableName)
	return r.API.UpdateItem(ctx, in, o...)
}

func (r *Recorder) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.record("DeleteItem", in.TableName)
	return r.API.DeleteItem(ctx, in, o...)
}

func (r *Recorder) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	r.record("Scan", in.TableName)
	return r.API.Scan(ctx, in, o...)
}
