package config

import (
	"maps"
	"strings"
	"testing"
)

func TestPeerRegionsAreReadAsNamesAndEndpoints(t *testing.T) {
	c, err := Parse(env(EnvRegionName, "a", EnvPeerRegions, "b=http://127.0.0.1:3601, us-west-2"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"b": "http://127.0.0.1:3601", "us-west-2": ""}
	if c.Region != "a" || !maps.Equal(c.Peers(), want) {
		t.Errorf("region %q peers %v, want a and %v", c.Region, c.Peers(), want)
	}
	if c, _ := Parse(env()); c.Region != "" || c.Peers() != nil {
		t.Errorf("unset: region %q peers %v, want one region", c.Region, c.Peers())
	}
}

func TestBadPeerRegionsStopStartUpNamingTheVariable(t *testing.T) {
	for _, tc := range []struct{ region, peers string }{
		{"", "b=http://127.0.0.1:3601"},              // peers without a name of its own
		{"a", "a=http://127.0.0.1:3601"},             // itself
		{"a", "b=http://x,b=http://y"},               // twice
		{"a", "b=ftp://127.0.0.1"},                   // no http(s)
		{"a", "=http://127.0.0.1:3601"},              // no name
		{"a", "b=http://127.0.0.1:3601,,c=http://h"}, // an empty one
	} {
		_, err := Parse(env(EnvRegionName, tc.region, EnvPeerRegions, tc.peers))
		if err == nil || !strings.Contains(err.Error(), EnvPeerRegions) {
			t.Errorf("REGION_NAME=%q PEER_REGIONS=%q: %v, want an error naming %s", tc.region, tc.peers, err, EnvPeerRegions)
		}
	}
}
