package config_test

import (
	"strings"
	"testing"
	"time"

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

// TestTheAssertionsAudienceAndLifetime: the audience is UPSTREAM_AUDIENCE,
// else the upstream URL; an assertion outlives the authorizer's cache TTL
// by 5 minutes, so that a cached answer's assertion is still valid.
func TestTheAssertionsAudienceAndLifetime(t *testing.T) {
	for _, c := range []struct {
		env      map[string]string
		audience string
		lifetime time.Duration
	}{
		{map[string]string{config.EnvUpstreamURL: "https://vc.example.com/base"}, "https://vc.example.com/base", 5 * time.Minute},
		{map[string]string{config.EnvUpstreamURL: "https://vc.example.com", config.EnvUpstreamAudience: "urn:vc-1"}, "urn:vc-1", 5 * time.Minute},
		{map[string]string{config.EnvAuthorizerCacheTTL: "300"}, "", 10 * time.Minute},
	} {
		cfg, err := config.Parse(env(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Audience != c.audience || cfg.AssertionLifetime != c.lifetime {
			t.Errorf("%v: audience %q lifetime %v, want %q %v", c.env, cfg.Audience, cfg.AssertionLifetime, c.audience, c.lifetime)
		}
	}
	if _, err := config.Parse(env(map[string]string{config.EnvAuthorizerCacheTTL: "3601"})); err == nil {
		t.Errorf("%s=3601 accepted", config.EnvAuthorizerCacheTTL)
	}
}
