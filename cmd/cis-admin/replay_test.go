package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/config"
)

// TestReplayAuditEmptiesTheFailureQueueIntoTheAuditGroup: `cis-admin
// replay-audit <AuditFailureQueueUrl>` with AUDIT_LOG_GROUP puts the lines
// of the deliveries Lambda queued for the forwarder into the audit group
// (here moto's SQS and CloudWatch Logs, on loopback), says how many, and
// leaves the queue empty; run again, it has nothing to do.
func TestReplayAuditEmptiesTheFailureQueueIntoTheAuditGroup(t *testing.T) {
	// Before the fixture's environment, whose empty AWS_PROFILE moto's
	// botocore would take for a profile's name.
	moto := dynamotest.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
	t.Setenv(config.EnvUsersTable, f.Tables.Users)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_SQS", moto.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", moto.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logs, q := cloudwatchlogs.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	const group = "cis-AuditLogGroup-1"
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	qu, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cis-AuditFailureQueue-1")})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(qu.QueueUrl)

	// What Lambda queues for a delivery that failed its retries: the
	// subscription's event as requestPayload.
	line := `{"time":"2026-11-30T06:12:52Z","level":"INFO","msg":"audit","log":"audit","event":"login","user":"alice@corp.example"}`
	decoded, _ := json.Marshal(map[string]any{
		"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/cis/create", "logStream": "2026/11/30/[7]abc",
		"subscriptionFilters": []string{"f"},
		"logEvents": []map[string]any{
			{"id": "1", "timestamp": time.Now().UnixMilli(), "message": line},
			{"id": "2", "timestamp": time.Now().UnixMilli(), "message": `{"level":"INFO","msg":"request","status":201}`},
		},
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(decoded)
	zw.Close()
	record, _ := json.Marshal(map[string]any{
		"version":        "1.0",
		"requestContext": map[string]any{"requestId": "req-1", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
		"requestPayload": map[string]any{"awslogs": map[string]any{"data": base64.StdEncoding.EncodeToString(gz.Bytes())}},
	})
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(record))}); err != nil {
		t.Fatal(err)
	}

	if _, err := admin(t, "", "replay-audit", url); err == nil || !strings.Contains(err.Error(), auditlog.EnvGroup) {
		t.Errorf("replay-audit without %s: %v, want it named", auditlog.EnvGroup, err)
	}
	t.Setenv(auditlog.EnvGroup, group)
	if _, err := admin(t, ""); err == nil {
		t.Error("no command: want an error")
	}
	if _, err := admin(t, "", "replay-audit"); err == nil || !strings.Contains(err.Error(), "AuditFailureQueueUrl") {
		t.Errorf("replay-audit without a queue: %v, want the output it takes named", err)
	}
	for _, want := range []string{
		"replayed 1 delivery (1 audit line) into " + group + "\n",
		"replayed 0 deliveries (0 audit lines) into " + group + "\n",
	} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"replay-audit", url}, strings.NewReader(""), &out, io.Discard); err != nil {
			t.Fatalf("replay-audit: %v", err)
		}
		if out.String() != want {
			t.Errorf("replay-audit printed %q, want %q", out.String(), want)
		}
	}
	got, err := logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(auditlog.StreamName("/aws/lambda/cis/create", "2026/11/30/[7]abc")), StartFromHead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 1 || aws.ToString(got.Events[0].Message) != line {
		t.Errorf("the audit group's stream holds %d lines, want the one audit line %s", len(got.Events), line)
	}
}
