package config_test

import (
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/config"
)

func TestNoUpstreamURLIsNoUpstream(t *testing.T) {
	for _, v := range []string{"", "  "} {
		c, err := config.Parse(env(map[string]string{config.EnvUpstreamURL: v}))
		if err != nil || c.Upstream != nil {
			t.Errorf("%s=%q: upstream %v, err %v; want none", config.EnvUpstreamURL, v, c.Upstream, err)
		}
	}
}

func TestUpstreamURLIsRead(t *testing.T) {
	for v, want := range map[string]string{
		"http://127.0.0.1:8081":             "http://127.0.0.1:8081",
		" https://vc.example.com/base ":     "https://vc.example.com/base",
		"https://api.example.com/prod/":     "https://api.example.com/prod/",
		"http://[::1]:9000/nested/base/dir": "http://[::1]:9000/nested/base/dir",
	} {
		c, err := config.Parse(env(map[string]string{config.EnvUpstreamURL: v}))
		if err != nil || c.Upstream == nil || c.Upstream.String() != want {
			t.Errorf("%s=%q: upstream %v, err %v; want %s", config.EnvUpstreamURL, v, c.Upstream, err, want)
		}
	}
}

// TestABadUpstreamURLStopsStartUpNamingTheVariable: a function that cannot
// forward where the operator meant fails its init instead.
func TestABadUpstreamURLStopsStartUpNamingTheVariable(t *testing.T) {
	for _, v := range []string{
		"127.0.0.1:8081",               // no scheme
		"ftp://example.com",            // not HTTP
		"http://",                      // no host
		"http:/relative",               // no host
		"https://example.com/base?x=1", // a query
		"https://example.com/base?",    // an empty one
		"https://example.com/#frag",    // a fragment
		"https://user:pw@example.com",  // credentials, which would never be sent
		"mailto:ops@example.com",       // opaque
		"http://exa mple.com",          // does not parse
	} {
		_, err := config.Parse(env(map[string]string{config.EnvUpstreamURL: v}))
		if err == nil || !strings.Contains(err.Error(), config.EnvUpstreamURL) {
			t.Errorf("%s=%q: err = %v, want one naming the variable", config.EnvUpstreamURL, v, err)
		}
	}
}
