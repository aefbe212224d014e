package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/internal/auditlog"
	"github.com/cis-session/cis-session/internal/config"
)

// TestChangesAreAuditedIntoTheAuditGroup: with AUDIT_LOG_GROUP, each
// change's audit lines, exactly as on stderr, go into a stream of that
// group (here a loopback server speaking CloudWatch Logs' protocol, through
// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS); reads write nothing there; and a change
// whose stream cannot be created is not made.
func TestChangesAreAuditedIntoTheAuditGroup(t *testing.T) {
	srv := dynamotest.Engines(t)[0]
	f := dynamotest.Setup(t, srv)
	t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
	t.Setenv(config.EnvUsersTable, f.Tables.Users)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint)

	var mu sync.Mutex
	var ops []string
	var put []string
	refuse := false
	logs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			LogGroupName, LogStreamName string
			LogEvents                   []struct{ Message string }
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.")
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if body.LogGroupName != "cis-AuditLogGroup-1" || !strings.HasPrefix(body.LogStreamName, "cis-admin/") {
			t.Errorf("%s into %s/%s, want a cis-admin stream of cis-AuditLogGroup-1", op, body.LogGroupName, body.LogStreamName)
		}
		if refuse {
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"AccessDeniedException","message":"not authorized to perform logs:CreateLogStream"}`)
			return
		}
		ops = append(ops, op)
		for _, e := range body.LogEvents {
			put = append(put, e.Message)
		}
		io.WriteString(w, "{}")
	}))
	defer logs.Close()
	t.Setenv(auditlog.EnvGroup, "cis-AuditLogGroup-1")
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logs.URL)

	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"add-user", "dave@corp.example"}, strings.NewReader("Dave-Pass-1\n"), io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	var onStderr []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if auditlog.IsAudit(l) {
			onStderr = append(onStderr, l)
		}
	}
	mu.Lock()
	if strings.Join(ops, " ") != "CreateLogStream PutLogEvents" || len(onStderr) != 1 || strings.Join(put, "\n") != strings.Join(onStderr, "\n") {
		t.Errorf("calls %v put %q; want the stream created and stderr's audit lines %q put", ops, put, onStderr)
	}
	if strings.Contains(strings.Join(put, ""), "Dave-Pass") {
		t.Error("a password in the audit group")
	}
	ops, put = nil, nil
	mu.Unlock()

	if err := run(context.Background(), []string{"list-users"}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(ops) != 0 {
		t.Errorf("list-users called %v: a read changes nothing and writes no audit record", ops)
	}
	refuse = true
	mu.Unlock()

	err := run(context.Background(), []string{"add-user", "erin@corp.example"}, strings.NewReader("Erin-Pass-1\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("add-user with an unwritable audit group: %v, want it refused", err)
	}
	var list bytes.Buffer
	if err := run(context.Background(), []string{"list-users"}, strings.NewReader(""), &list, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list.String(), "erin@") || !strings.Contains(list.String(), "dave@corp.example") {
		t.Errorf("users after the refused change:\n%s\nwant dave and not erin", list.String())
	}
}
