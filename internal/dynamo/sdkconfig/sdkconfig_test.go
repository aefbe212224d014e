package sdkconfig

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// noCredentials leaves the SDK's chain nothing to find but the instance
// metadata service, which metadata stands in for.
func noCredentials(t *testing.T, metadata string) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_EC2_METADATA_DISABLED",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(k, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", home+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", home+"/credentials")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata)
}

func TestAnEndpointOverrideNeverAsksTheInstanceMetadataService(t *testing.T) {
	var asked atomic.Int64
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer imds.Close()
	cases := []struct {
		name     string
		override string
		wantAsk  bool
	}{
		{"NoOverride", "", true}, // what the override must prevent: the chain's last resort
		{"DynamoDBEndpoint", "http://127.0.0.1:1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			noCredentials(t, imds.URL)
			t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", c.override)
			asked.Store(0)
			cfg, err := Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := cfg.Credentials.Retrieve(ctx); err == nil {
				t.Fatal("credentials found where there are none")
			}
			if got := asked.Load() > 0; got != c.wantAsk {
				t.Errorf("instance metadata asked: %v, want %v", got, c.wantAsk)
			}
		})
	}
}

func TestTheLocalCallerIsTheOSUser(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	cfg, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	who, err := Caller(context.Background(), cfg)
	if err != nil || !strings.HasPrefix(who, "local:") || who == "local:" {
		t.Fatalf("Caller = %q, %v; want local:<user>", who, err)
	}
}
