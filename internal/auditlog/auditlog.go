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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

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
	_, err := f.Copy(ctx, ev)
	return err
}

// Copy is Forward, returning how many audit lines it put: for replaying a
// delivery the forwarder gave up on (internal/auditreplay).
func (f *Forwarder) Copy(ctx context.Context, ev events.CloudwatchLogsEvent) (int, error) {
	data, err := ev.AWSLogs.Parse()
	if err != nil {
		return 0, fmt.Errorf("decode subscription payload: %w", err)
	}
	// CloudWatch Logs checks that it can reach the destination with a
	// control message, which carries no log events of a function.
	if data.MessageType == "CONTROL_MESSAGE" {
		return 0, nil
	}
	var batch []types.InputLogEvent
	for _, e := range data.LogEvents {
		if IsAudit(e.Message) {
			batch = append(batch, types.InputLogEvent{Message: aws.String(e.Message), Timestamp: aws.Int64(e.Timestamp)})
		}
	}
	if len(batch) == 0 {
		return 0, nil
	}
	stream := StreamName(data.LogGroup, data.LogStream)
	if err := f.ensureStream(ctx, stream); err != nil {
		return 0, err
	}
	return len(batch), put(ctx, f.Logs, f.Group, stream, batch)
}

// put writes events into group/stream, in time order (as PutLogEvents
// wants), in as many calls as its limits need.
func put(ctx context.Context, logs API, group, stream string, batch []types.InputLogEvent) error {
	slices.SortStableFunc(batch, func(a, b types.InputLogEvent) int { return int(*a.Timestamp - *b.Timestamp) })
	for len(batch) > 0 {
		n := batchLen(batch)
		out, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: batch[:n],
		})
		if err != nil {
			return fmt.Errorf("put %d audit lines into %s/%s: %w", n, group, stream, err)
		}
		// A line older than 14 days (or the group's retention), or more
		// than 2 hours ahead, is refused with a 200: a line not kept.
		if r := out.RejectedLogEventsInfo; r != nil {
			return fmt.Errorf("put %d audit lines into %s/%s: some were refused (too old before index %d, expired before %d, too new from %d)",
				n, group, stream, aws.ToInt32(r.TooOldLogEventEndIndex), aws.ToInt32(r.ExpiredLogEventEndIndex), aws.ToInt32(r.TooNewLogEventStartIndex))
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
	if err := createStream(ctx, f.Logs, f.Group, stream); err != nil {
		return err
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

// createStream creates group/stream; one that exists already will do.
func createStream(ctx context.Context, logs API, group, stream string) error {
	_, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
	var exists *types.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create audit stream %s/%s: %w", group, stream, err)
	}
	return nil
}

// Stream is one stream of the audit group that a process writes its own
// audit lines into: the admin tool's, one stream per run, when
// AUDIT_LOG_GROUP is set. It is an io.Writer of the lines (one JSON object
// a line, as internal/cloudwatch writes them), which it holds until Flush.
type Stream struct {
	Logs  API
	Group string
	Name  string
	Now   func() time.Time // when a line was written; time.Now when nil

	mu      sync.Mutex
	partial []byte
	pending []types.InputLogEvent
}

// AdminStreamName is the stream of one run of the admin tool started at t.
func AdminStreamName(t time.Time) string {
	return fmt.Sprintf("cis-admin/%s/%d", t.UTC().Format("2006-01-02T15.04.05.000Z"), os.Getpid())
}

// Open creates the stream: before a change, so that a change whose record
// cannot be kept is not made.
func (s *Stream) Open(ctx context.Context) error { return createStream(ctx, s.Logs, s.Group, s.Name) }

// Write takes what a log handler writes; each whole line that is an audit
// record waits for Flush.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		if IsAudit(line) {
			s.pending = append(s.pending, types.InputLogEvent{Message: aws.String(line), Timestamp: aws.Int64(now().UnixMilli())})
		}
	}
	return len(p), nil
}

// Flush puts the lines written since the last Flush into the stream.
func (s *Stream) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return put(ctx, s.Logs, s.Group, s.Name, batch)
}

// NewForwarder returns a Forwarder into group with a client made from cfg
// (which honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS).
func NewForwarder(cfg aws.Config, group string) *Forwarder {
	return &Forwarder{Logs: cloudwatchlogs.NewFromConfig(cfg), Group: group}
}

// NewAdminStream returns the stream of one run of the admin tool, started
// at started, in group, with a client made from cfg.
func NewAdminStream(cfg aws.Config, group string, started time.Time) *Stream {
	return &Stream{Logs: cloudwatchlogs.NewFromConfig(cfg), Group: group, Name: AdminStreamName(started)}
}
