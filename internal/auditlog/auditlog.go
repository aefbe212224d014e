// Package auditlog keeps the audit trail in a log group of its own: it
// takes the lines internal/cloudwatch marks "log":"audit", as a CloudWatch
// Logs subscription filter delivers them from a function's log group, and
// puts them into the audit log group, whose retention and deletion policy
// are the operator's, not the functions' logs'.
//
// A subscription filter cannot write into another log group itself (its
// destinations are Lambda, Kinesis, Firehose and OpenSearch), and Lambda's
// logging configuration sends all of a function's lines to one group: so a
// small function (functions/auditfwd) does the copy.
//
// It is the only importer of the CloudWatch Logs SDK. It must never import
// storage or HTTP.
package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/cis-session/cis-session/internal/cloudwatch"
)

// The limits of one PutLogEvents call: events, and bytes counted as each
// message's UTF-8 length plus 26.
const (
	maxBatchEvents = 10000
	maxBatchBytes  = 1048576
	eventOverhead  = 26
)

// API is the part of the CloudWatch Logs client the forwarder calls.
type API interface {
	CreateLogStream(context.Context, *cloudwatchlogs.CreateLogStreamInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(context.Context, *cloudwatchlogs.PutLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// Forwarder copies audit lines into Group.
type Forwarder struct {
	Logs  API
	Group string // the audit log group's name

	mu      sync.Mutex
	streams map[string]bool // streams this instance knows exist
}

// Forward handles one subscription delivery: it decodes the gzip'd,
// base64'd payload, keeps the audit lines, and puts them, in time order,
// into a stream of the audit group named after the source group and
// stream, so that each record says where it came from. An error makes
// Lambda retry the delivery (CloudWatch Logs invokes it asynchronously).
func (f *Forwarder) Forward(ctx context.Context, ev events.CloudwatchLogsEvent) error {
	data, err := ev.AWSLogs.Parse()
	if err != nil {
		return fmt.Errorf("decode subscription payload: %w", err)
	}
	// CloudWatch Logs checks that it can reach the destination with a
	// control message, which carries no log events of a function.
	if data.MessageType == "CONTROL_MESSAGE" {
		return nil
	}
	var batch []types.InputLogEvent
	for _, e := range data.LogEvents {
		if IsAudit(e.Message) {
			batch = append(batch, types.InputLogEvent{Message: aws.String(e.Message), Timestamp: aws.Int64(e.Timestamp)})
		}
	}
	if len(batch) == 0 {
		return nil
	}
	// PutLogEvents wants a batch in time order.
	slices.SortStableFunc(batch, func(a, b types.InputLogEvent) int { return int(*a.Timestamp - *b.Timestamp) })
	stream := StreamName(data.LogGroup, data.LogStream)
	if err := f.ensureStream(ctx, stream); err != nil {
		return err
	}
	for len(batch) > 0 {
		n := batchLen(batch)
		if _, err := f.Logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(f.Group), LogStreamName: aws.String(stream), LogEvents: batch[:n],
		}); err != nil {
			return fmt.Errorf("put %d audit lines into %s/%s: %w", n, f.Group, stream, err)
		}
		batch = batch[n:]
	}
	return nil
}

// batchLen is how many of events, from the first, fit one PutLogEvents call.
func batchLen(events []types.InputLogEvent) int {
	size := 0
	for i, e := range events {
		size += len(*e.Message) + eventOverhead
		if i == maxBatchEvents || (size > maxBatchBytes && i > 0) {
			return i
		}
	}
	return len(events)
}

func (f *Forwarder) ensureStream(ctx context.Context, stream string) error {
	f.mu.Lock()
	known := f.streams[stream]
	f.mu.Unlock()
	if known {
		return nil
	}
	_, err := f.Logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(f.Group), LogStreamName: aws.String(stream)})
	var exists *types.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create audit stream %s/%s: %w", f.Group, stream, err)
	}
	f.mu.Lock()
	if f.streams == nil {
		f.streams = map[string]bool{}
	}
	f.streams[stream] = true
	f.mu.Unlock()
	return nil
}

// StreamName is the audit stream the lines of one source stream go to: the
// source group's last part (the function) and the source stream, with the
// characters a stream name may not hold (":" and "*") replaced.
func StreamName(group, stream string) string {
	fn := group[strings.LastIndex(group, "/")+1:]
	return strings.NewReplacer(":", "_", "*", "_").Replace(fn + "/" + stream)
}

// IsAudit reports whether a log line is an audit record: a JSON object whose
// "log" member is "audit". The subscription filter selects the same lines;
// this keeps the trail clean if the filter is ever widened.
func IsAudit(line string) bool {
	var l map[string]any
	return json.Unmarshal([]byte(line), &l) == nil && l[cloudwatch.FieldStream] == cloudwatch.StreamAudit
}

// EnvGroup names the audit log group to a process that writes into it.
const EnvGroup = "AUDIT_LOG_GROUP"

// GroupFromEnv returns AUDIT_LOG_GROUP, which must be set.
func GroupFromEnv() (string, error) {
	g := os.Getenv(EnvGroup)
	if g == "" {
		return "", fmt.Errorf("%s is not set: the audit log group to write into", EnvGroup)
	}
	return g, nil
}
