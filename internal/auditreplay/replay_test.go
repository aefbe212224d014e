package auditreplay_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cis-session/cis-session/dev/auditevents"
	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/auditreplay"
	"github.com/cis-session/cis-session/internal/session"
)

// moto starts moto's server, which speaks SQS and CloudWatch Logs, and
// points both clients at it as the admin tool's are pointed: through
// AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.
func moto(t *testing.T) aws.Config {
	t.Helper()
	dynamotest.Moto(t, "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// failureRecord is what Lambda sends the on-failure destination of an
// asynchronous invocation that failed its retries, as AWS documents it,
// around the subscription delivery it was given.
func failureRecord(t *testing.T, requestID string, delivery any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"version":   "1.0",
		"timestamp": "2026-11-30T06:12:52.483Z",
		"requestContext": map[string]any{
			"requestId":              requestID,
			"functionArn":            "arn:aws:lambda:us-east-1:123456789012:function:cis-AuditfwdFunction-1:live",
			"condition":              "RetriesExhausted",
			"approximateInvokeCount": 3,
		},
		"requestPayload":  delivery,
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "7", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorMessage": "put 1 audit lines: ThrottlingException", "errorType": "wrapError"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func queued(t *testing.T, q *sqs.Client, url string) int {
	t.Helper()
	out, err := q.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		var i int
		json.Unmarshal([]byte(v), &i)
		n += i
	}
	return n
}

// TestReplayPutsTheQueuedLinesIntoTheAuditGroup: the deliveries the
// forwarder gave up on, as Lambda queued them, are replayed into the audit
// group, the audit lines alone and in the stream the forwarder would have
// used, and leave the queue; a message that is no such record, or whose
// lines cannot be put, stays there and is named.
func TestReplayPutsTheQueuedLinesIntoTheAuditGroup(t *testing.T) {
	cfg := moto(t)
	ctx := context.Background()
	logs := cloudwatchlogs.NewFromConfig(cfg)
	q := sqs.NewFromConfig(cfg)

	first := auditevents.Lines(t, session.Event{Kind: session.EventLogin, User: "alice@corp.example", Session: "3f9a0c27d1e4"})
	second := auditevents.Lines(t, session.Event{Kind: session.EventLoginRefused, User: "bob@corp.example", Cause: session.CauseWrongPassword},
		session.Event{Kind: session.EventLogout, User: "alice@corp.example", Session: "3f9a0c27d1e4"})
	var wantLines []string
	for _, l := range append(append([]string{}, first...), second...) {
		if auditlog.IsAudit(l) {
			wantLines = append(wantLines, l)
		}
	}
	if len(wantLines) != 3 || len(first)+len(second) <= 3 {
		t.Fatalf("the deliveries hold %d lines of which %d audit lines; want 3 audit lines among others", len(first)+len(second), len(wantLines))
	}
	now := time.Now().UnixMilli()
	stamps := func(from int64, n int) []int64 {
		var s []int64
		for i := range n {
			s = append(s, from+int64(i))
		}
		return s
	}

	for _, c := range []struct {
		name       string
		groupExist bool
		age        time.Duration // of the lines
		wantErr    []string
		wantLeft   int
		want       auditreplay.Replayed
	}{
		{"IntoTheGroup", true, 0, []string{"is not a Lambda invocation record"}, 1, auditreplay.Replayed{Deliveries: 2, Lines: 3}},
		{"GroupGone", false, 0, []string{"is not a Lambda invocation record", "req-1", "req-2", "ResourceNotFound"}, 3, auditreplay.Replayed{}},
		// CloudWatch Logs refuses lines older than 14 days: said, and kept.
		{"LinesTooOld", true, 15 * 24 * time.Hour, []string{"req-1", "req-2", "refused"}, 3, auditreplay.Replayed{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			group := "cis-AuditLogGroup-" + c.name
			if c.groupExist {
				if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
					t.Fatal(err)
				}
			}
			qu, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("audit-failures-" + c.name)})
			if err != nil {
				t.Fatal(err)
			}
			url := aws.ToString(qu.QueueUrl)
			for _, body := range []string{
				failureRecord(t, "req-1", auditevents.Subscription(t, "DATA_MESSAGE", first, stamps(now-c.age.Milliseconds()-2000, len(first)))),
				failureRecord(t, "req-2", auditevents.Subscription(t, "DATA_MESSAGE", second, stamps(now-c.age.Milliseconds()-1000, len(second)))),
				`{"hello":"not a record"}`,
			} {
				if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
					t.Fatal(err)
				}
			}

			got, err := auditreplay.Replay(ctx, &auditlog.Forwarder{Logs: logs, Group: group}, auditreplay.NewQueue(cfg), url)
			if got != c.want {
				t.Errorf("Replay = %+v, want %+v", got, c.want)
			}
			for _, w := range c.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Replay error %v, want it to say %q", err, w)
				}
			}
			if n := queued(t, q, url); n != c.wantLeft {
				t.Errorf("%d messages left in the queue, want %d", n, c.wantLeft)
			}
			if !c.groupExist || c.want.Lines == 0 {
				return
			}
			out, err := logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
				LogGroupName:  aws.String(group),
				LogStreamName: aws.String(auditlog.StreamName("/aws/lambda/cis/create", "2026/11/30/[$LATEST]0123456789abcdef")),
				StartFromHead: aws.Bool(true),
			})
			if err != nil {
				t.Fatal(err)
			}
			var put []string
			for _, e := range out.Events {
				put = append(put, aws.ToString(e.Message))
			}
			if !slices.Equal(put, wantLines) {
				t.Errorf("the audit stream holds\n%s\nwant the audit lines of both deliveries, in order:\n%s", strings.Join(put, "\n"), strings.Join(wantLines, "\n"))
			}
		})
	}
}
