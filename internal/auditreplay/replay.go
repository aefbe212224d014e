// Package auditreplay replays the audit forwarder's failures: the
// subscription deliveries Lambda gave up on and put, as invocation records,
// into the forwarder's on-failure queue. Their lines go into the audit
// group as the forwarder (internal/auditlog) would have put them.
//
// It is the only importer of the SQS SDK, which the forwarder itself never
// links: only the admin tool replays.
package auditreplay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cis-session/cis-session/internal/auditlog"
)

// QueueAPI is the part of the SQS client Replay calls.
type QueueAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// NewQueue returns an SQS client made from cfg (which honours
// AWS_ENDPOINT_URL_SQS).
func NewQueue(cfg aws.Config) QueueAPI { return sqs.NewFromConfig(cfg) }

// invocationRecord is the part Replay reads of what Lambda sends an
// asynchronous invocation's on-failure destination: the event it was given
// (requestPayload), and which request it was and why it was given up
// (docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
type invocationRecord struct {
	RequestContext struct {
		RequestID string `json:"requestId"`
		Condition string `json:"condition"` // RetriesExhausted, EventAgeExceeded
	} `json:"requestContext"`
	RequestPayload *events.CloudwatchLogsEvent `json:"requestPayload"`
}

// Replayed counts what a Replay did.
type Replayed struct {
	Deliveries int // queued deliveries whose lines are now in the group
	Lines      int // audit lines they put
}

// replayVisibility is how long a delivery Replay has received stays hidden
// from other readers of the queue: long enough to put its lines.
const replayVisibility = 120

// Replay puts, with f, the audit lines of every delivery waiting in the queue at
// queueURL (the forwarder's on-failure destination: Lambda's invocation
// records) into the group, as the forwarder would have, and deletes each
// delivery once its lines are in. A message that is not such a record, or
// whose lines cannot be put, stays in the queue (visible again after a
// while) and is named in the error; the others are replayed all the same.
// A delivery that failed part-way may have put some of its lines before:
// those are put again (the same message and timestamp), never lost.
func Replay(ctx context.Context, f *auditlog.Forwarder, q QueueAPI, queueURL string) (Replayed, error) {
	var done Replayed
	var errs []error
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(queueURL),
			MaxNumberOfMessages: 10,
			// Long polling asks every server of the queue, so an empty
			// answer means an empty queue, not an unlucky sample.
			WaitTimeSeconds:   1,
			VisibilityTimeout: replayVisibility,
		})
		if err != nil {
			return done, errors.Join(append(errs, fmt.Errorf("receive from %s: %w", queueURL, err))...)
		}
		if len(out.Messages) == 0 {
			return done, errors.Join(errs...)
		}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			var rec invocationRecord
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &rec); err != nil || rec.RequestPayload == nil || rec.RequestPayload.AWSLogs.Data == "" {
				errs = append(errs, fmt.Errorf("message %s is not a Lambda invocation record of a CloudWatch Logs delivery: left in the queue", id))
				continue
			}
			n, err := f.Copy(ctx, *rec.RequestPayload)
			if err != nil {
				errs = append(errs, fmt.Errorf("message %s (request %s, %s): left in the queue: %w", id, rec.RequestContext.RequestID, rec.RequestContext.Condition, err))
				continue
			}
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				errs = append(errs, fmt.Errorf("message %s: its %d lines are in %s, but it stays in the queue (a replay would put them again): %w", id, n, f.Group, err))
				continue
			}
			done.Deliveries++
			done.Lines += n
		}
	}
}
