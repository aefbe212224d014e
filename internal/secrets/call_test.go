package secrets_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/secrets"
)

// fakeAWS is a Secrets Manager that checks each request as AWS does: the
// operation, the content type, and the SigV4 signature made again from the
// request with the role's credentials (moto does not check signatures). It
// answers each stage with answer.
type fakeAWS struct {
	t      *testing.T
	mu     sync.Mutex
	calls  map[string]int
	answer func(stage string, call int) (status int, body string)
}

var role = aws.Credentials{AccessKeyID: "AKIDROLE", SecretAccessKey: "role-secret", SessionToken: "role-session-token"}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || r.Header.Get("X-Amz-Security-Token") != role.SessionToken {
		f.t.Errorf("request %s %s %v", r.Method, r.URL, r.Header)
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		f.t.Errorf("X-Amz-Date %q", r.Header.Get("X-Amz-Date"))
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.String(), strings.NewReader(string(body)))
	for _, h := range []string{"Content-Type", "X-Amz-Target"} {
		again.Header.Set(h, r.Header.Get(h))
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), role, again, hex.EncodeToString(sum[:]), "secretsmanager", "eu-west-1", signedAt); err != nil {
		f.t.Fatal(err)
	}
	if got, want := r.Header.Get("Authorization"), again.Header.Get("Authorization"); got != want {
		f.t.Errorf("signature\n%s\nwant\n%s", got, want)
	}
	var in struct{ SecretId, VersionStage string }
	if err := json.Unmarshal(body, &in); err != nil || in.SecretId != "arn:aws:secretsmanager:eu-west-1:1:secret:k" {
		f.t.Errorf("body %s", body)
	}
	f.mu.Lock()
	f.calls[in.VersionStage]++
	n := f.calls[in.VersionStage]
	f.mu.Unlock()
	status, answer := f.answer(in.VersionStage, n)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func fake(t *testing.T, answer func(stage string, call int) (int, string)) *fakeAWS {
	f := &fakeAWS{t: t, calls: map[string]int{}, answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	for k, v := range map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": role.AccessKeyID, "AWS_SECRET_ACCESS_KEY": role.SecretAccessKey,
		"AWS_SESSION_TOKEN": role.SessionToken, "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL, "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	return f
}

const notFound = `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret value for staging label: AWSPENDING"}`

func valueAnswer(v string, created float64) string {
	b, _ := json.Marshal(map[string]any{"ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:k", "Name": "k", "VersionId": "v",
		"SecretString": v, "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": created})
	return string(b)
}

// TestTheReadIsSignedAsTheRoleAndReadsEveryStage: each GetSecretValue is
// signed (SigV4, with the role's session token) for Secrets Manager in the
// function's region; a stage that is not there is none; the current
// version's creation dates its rotation when its value names none.
func TestTheReadIsSignedAsTheRoleAndReadsEveryStage(t *testing.T) {
	current, _ := assertion.NewSecretValue("")
	previous, _ := assertion.NewSecretValue("")
	f := fake(t, func(stage string, _ int) (int, string) {
		switch stage {
		case secrets.StageCurrent:
			return 200, valueAnswer(current, 1764979200.25)
		case secrets.StagePrevious:
			return 200, valueAnswer(previous, 1)
		}
		return 400, notFound
	})
	seeds, err := secrets.LoadSeeds(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:k", "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := assertion.ParseSecretVersions(assertion.Versions{Current: current, Previous: previous, CurrentCreated: time.Unix(1764979200, 250e6)})
	if string(seeds.Current) != string(want.Current) || string(seeds.Previous) != string(want.Previous) || seeds.Pending != nil || !seeds.RotatedAt.Equal(want.RotatedAt) {
		t.Errorf("seeds %+v, want %+v", seeds, want)
	}
	if len(f.calls) != 3 {
		t.Errorf("stages read: %v", f.calls)
	}
}

// TestAThrottledOrFailedReadIsTriedAgain: throttling, a 5xx or a
// connection that breaks is tried again, up to secrets.Attempts times, as
// the SDK's retryer would; a refusal (access denied, no current version)
// is not, and the error names neither the value nor the message.
func TestAThrottledOrFailedReadIsTriedAgain(t *testing.T) {
	current, _ := assertion.NewSecretValue("")
	t.Run("ThrottledThenServed", func(t *testing.T) {
		f := fake(t, func(stage string, call int) (int, string) {
			switch {
			case stage != secrets.StageCurrent:
				return 400, notFound
			case call == 1:
				return 400, `{"__type":"com.amazonaws.secretsmanager#ThrottlingException","message":"Rate exceeded"}`
			case call == 2:
				return 503, `{"__type":"InternalServiceError"}`
			}
			return 200, valueAnswer(current, 1)
		})
		if _, err := secrets.LoadSeeds(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:k", ""); err != nil {
			t.Fatal(err)
		}
		if f.calls[secrets.StageCurrent] != 3 || f.calls[secrets.StagePrevious] != 1 {
			t.Errorf("calls %v: want the current stage read three times, the missing one once", f.calls)
		}
	})
	t.Run("FailingAlways", func(t *testing.T) {
		f := fake(t, func(string, int) (int, string) { return 500, `{"__type":"InternalServiceError"}` })
		if _, err := secrets.LoadSeeds(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:k", ""); err == nil {
			t.Fatal("loaded from a failing Secrets Manager")
		}
		if f.calls[secrets.StageCurrent] != secrets.Attempts {
			t.Errorf("calls %v: want %d of each", f.calls, secrets.Attempts)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		f := fake(t, func(string, int) (int, string) {
			msg, _ := json.Marshal("not allowed " + current)
			return 400, `{"__type":"AccessDeniedException","Message":` + string(msg) + `}`
		})
		_, err := secrets.LoadSeeds(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:k", "")
		if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || strings.Contains(err.Error(), "not allowed") {
			t.Errorf("error %v: want the code, not the message", err)
		}
		if f.calls[secrets.StageCurrent] != 1 {
			t.Errorf("calls %v: a refusal tried again", f.calls)
		}
	})
}

// TestTheEndpointIsTheRegions: without an endpoint override, the call goes
// to Secrets Manager in the function's own region and partition.
func TestTheEndpointIsTheRegions(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":      "https://secretsmanager.us-east-1.amazonaws.com",
		"eu-central-2":   "https://secretsmanager.eu-central-2.amazonaws.com",
		"cn-northwest-1": "https://secretsmanager.cn-northwest-1.amazonaws.com.cn",
	} {
		if got := secrets.Endpoint(region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
