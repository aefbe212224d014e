package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/session"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAreVCenters(t *testing.T) {
	c, err := Parse(env())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		SessionsTable: "cis-sessions",
		UsersTable:    "cis-users",
		Policy: session.Policy{
			Lifetime:      session.Lifetime{Idle: 30 * time.Minute, Absolute: 24 * time.Hour},
			DefaultDomain: "vsphere.local",
			Lockout: session.Lockout{MaxFailures: 5, Window: 15 * time.Minute, LockFor: 15 * time.Minute,
				LockMax: 24 * time.Hour, FamiliarFor: 30 * 24 * time.Hour},
			MaxSessionsPerUser: 550,
		},
		LogLevel:          slog.LevelInfo,
		OIDC:              OIDC{UserClaim: "preferred_username", GroupsClaim: "groups"},
		AssertionLifetime: 5 * time.Minute,
	}
	if c != want {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
}

func TestValuesAreRead(t *testing.T) {
	c, err := Parse(env(
		EnvSessionsTable, "prod-sessions",
		EnvUsersTable, "prod-users",
		EnvIdleTimeout, "900",
		EnvMaxLifetime, "8h",
		EnvDefaultDomain, "corp.example",
		EnvLogLevel, "debug",
	))
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionsTable != "prod-sessions" || c.UsersTable != "prod-users" ||
		c.Lifetime.Idle != 15*time.Minute || c.Lifetime.Absolute != 8*time.Hour ||
		c.DefaultDomain != "corp.example" || c.LogLevel != slog.LevelDebug {
		t.Fatalf("config = %+v", c)
	}
}

func TestBadValuesStopStartUpNamingTheVariable(t *testing.T) {
	cases := []struct {
		name, value string
	}{
		{EnvIdleTimeout, "soon"},
		{EnvIdleTimeout, "0"},
		{EnvIdleTimeout, "-5m"},
		{EnvIdleTimeout, "30x"},
		{EnvMaxLifetime, "1000000h"},
		{EnvSessionsTable, "a"},
		{EnvUsersTable, "bad name!"},
		{EnvDefaultDomain, "a@b"},
		{EnvLogLevel, "LOUD"},
	}
	for _, c := range cases {
		_, err := Parse(env(c.name, c.value))
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s=%q: err = %v, want an error naming %s", c.name, c.value, err, c.name)
		}
	}
}

func TestEveryBadVariableIsReportedAtOnce(t *testing.T) {
	_, err := Parse(env(EnvIdleTimeout, "x", EnvLogLevel, "y"))
	if err == nil || !strings.Contains(err.Error(), EnvIdleTimeout) || !strings.Contains(err.Error(), EnvLogLevel) {
		t.Fatalf("err = %v, want both variables named", err)
	}
}
