package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/session"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestLimitsDefaultToVCentersAndOWASPsValues(t *testing.T) {
	c, err := config.Parse(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lockout != (session.Lockout{MaxFailures: 5, Window: 15 * time.Minute, LockFor: 15 * time.Minute,
		LockMax: 24 * time.Hour, FamiliarFor: 30 * 24 * time.Hour}) {
		t.Errorf("lockout = %+v, want 5 passwords in 15m, locks of 15m doubling to 24h, sources familiar for 30 days", c.Lockout)
	}
	if c.MaxSessionsPerUser != 550 {
		t.Errorf("sessions per user = %d, want vCenter's 550", c.MaxSessionsPerUser)
	}
}

func TestLimitsAreReadAndZeroTurnsThemOff(t *testing.T) {
	c, err := config.Parse(env(map[string]string{
		config.EnvMaxFailures:   "0",
		config.EnvFailureWindow: "3600",
		config.EnvLockFor:       "1m",
		config.EnvLockMax:       "2h",
		config.EnvFamiliarFor:   "168h",
		config.EnvMaxSessions:   " 0 ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lockout != (session.Lockout{MaxFailures: 0, Window: time.Hour, LockFor: time.Minute, LockMax: 2 * time.Hour,
		FamiliarFor: 7 * 24 * time.Hour}) || c.MaxSessionsPerUser != 0 {
		t.Fatalf("config = %+v", c)
	}
}

func TestBadLimitsStopStartUpNamingTheVariable(t *testing.T) {
	cases := map[string]string{
		config.EnvMaxFailures:   "-1",
		config.EnvFailureWindow: "0s",
		config.EnvMaxSessions:   "many",
		config.EnvLockFor:       "forever",
		config.EnvLockMax:       "1s", // shorter than the first lock
		config.EnvFamiliarFor:   "9000h",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse(env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%q: err = %v, want one naming the variable", name, value, err)
			}
		})
	}
	if _, err := config.Parse(env(map[string]string{config.EnvFailureWindow: "48h"})); err == nil {
		t.Fatal("a failure window of two days was accepted")
	}
}

func TestVarsListsTheLimits(t *testing.T) {
	for _, v := range []string{config.EnvMaxFailures, config.EnvFailureWindow, config.EnvLockFor, config.EnvLockMax,
		config.EnvFamiliarFor, config.EnvMaxSessions} {
		found := false
		for _, w := range config.Vars {
			found = found || w == v
		}
		if !found {
			t.Errorf("config.Vars lacks %s", v)
		}
	}
}
