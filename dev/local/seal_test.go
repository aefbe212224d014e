package local_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// TestMakeRunsGatewaySealsItsSessionsAndRefusesOthers: make run is one
// process that logs in and is the front door, so with its key file it
// seals each session it makes, lets those through to the upstream, and
// refuses, as an unknown session, an item written straight into the
// table with every attribute log-in writes but its seal.
func TestMakeRunsGatewaySealsItsSessionsAndRefusesOthers(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	f.AddUser(t, admin, adminPassword)
	var reached atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer up.Close()
	cfg := f.Config(t, nil)
	cfg.AssertionKeyFile = filepath.Join(t.TempDir(), "key.json")
	cfg.Upstream, _ = url.Parse(up.URL)
	cfg.Audience = up.URL
	cfg.APIBaseURL = "http://127.0.0.1:3000"
	gw, err := local.Gateway(cfg, f.DB, slog.New(slog.NewJSONHandler(logscan.Writer(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	call := func(method, path, id string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("vmware-api-session-id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/session", nil)
	req.SetBasicAuth(admin, adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := strings.Trim(string(b), "\"\n")
	if resp.StatusCode != 201 || len(id) != session.TokenLen {
		t.Fatalf("log in: %d %s", resp.StatusCode, b)
	}
	logscan.Secret(id)
	if got := call("GET", "/api/vcenter/vm", id); got != 200 || reached.Load() != 1 {
		t.Fatalf("a real session: %d, upstream reached %d times; want 200, once", got, reached.Load())
	}

	forged := "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"
	tok, _ := session.ParseToken(forged)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if _, err := f.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.Tables.Sessions), Item: map[string]types.AttributeValue{
		dynamo.SessionsKey: &types.AttributeValueMemberS{Value: tok.Hash().String()},
		"user":             &types.AttributeValueMemberS{Value: admin}, "user_key": &types.AttributeValueMemberS{Value: admin},
		"created_ms": &types.AttributeValueMemberN{Value: now}, "last_accessed_ms": &types.AttributeValueMemberN{Value: now},
		dynamo.AttrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)},
	}}); err != nil {
		t.Fatal(err)
	}
	if got := call("GET", "/api/vcenter/vm", forged); got != 401 || reached.Load() != 1 {
		t.Errorf("an unsealed item: %d, upstream reached %d times; want 401, and not again", got, reached.Load())
	}
}
