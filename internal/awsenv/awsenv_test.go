package awsenv

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// Each service's own endpoint variable wins over the general one, and
// another service's is no concern of this one.
func TestTheServicesOwnEndpointWins(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"None", nil, ""},
		{"General", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "http://127.0.0.1:1"},
		{"Own", map[string]string{"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:2", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "http://127.0.0.1:2"},
		{"AnotherServices", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:3"}, ""},
		{"Ignored", map[string]string{"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, err := Config(lookupIn(env), "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(cfg.BaseEndpoint); got != c.want {
				t.Errorf("endpoint %q, want %q", got, c.want)
			}
		})
	}
}
