package main

import (
	"strings"
	"testing"
	"time"
)

func TestRunsAreBoundedAndLoopbackOnly(t *testing.T) {
	ok := config{url: "http://127.0.0.1:3000", duration: 10 * time.Second, sessions: 500}
	cases := []struct {
		name   string
		change func(*config)
		want   string // "" for accepted
	}{
		{"TheDefaults", func(*config) {}, ""},
		{"Localhost", func(c *config) { c.url = "http://localhost:3000" }, ""},
		{"IPv6Loopback", func(c *config) { c.url = "http://[::1]:3000" }, ""},
		{"ARemoteHost", func(c *config) { c.url = "http://example.com:3000" }, "not a loopback address"},
		{"ALANAddress", func(c *config) { c.url = "http://10.0.0.5:3000" }, "not a loopback address"},
		{"HTTPS", func(c *config) { c.url = "https://127.0.0.1:3000" }, "want http://"},
		{"TooLong", func(c *config) { c.duration = 2 * time.Minute }, "-duration"},
		{"NoTime", func(c *config) { c.duration = 0 }, "-duration"},
		{"MoreSessionsThanTheCap", func(c *config) { c.sessions = 551 }, "-sessions"},
		{"NoSessions", func(c *config) { c.sessions = 0 }, "-sessions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.change(&cfg)
			err := cfg.check()
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("check() = %v, want %q", err, c.want)
			}
		})
	}
}

func TestRatesAreParsedAndBounded(t *testing.T) {
	if got, err := parseRates("100, 200,400"); err != nil || len(got) != 3 || got[2] != 400 {
		t.Fatalf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "2001", "100,x"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}
