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
	if c.Lockout != (session.Lockout{MaxFailures: 5, Window: 15 * time.Minute}) {
		t.Errorf("lockout = %+v, want 5 failures in 15m", c.Lockout)
	}
	if c.MaxSessionsPerUser != 550 {
		t.Errorf("sessions per user = %d, want vCenter's 550", c.MaxSessionsPerUser)
	}
}

func TestLimitsAreReadAndZeroTurnsThemOff(t *testing.T) {
	c, err := config.Parse(env(map[string]string{
		config.EnvMaxFailures:   "0",
		config.EnvFailureWindow: "3600",
		config.EnvMaxSessions:   " 0 ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lockout != (session.Lockout{MaxFailures: 0, Window: time.Hour}) || c.MaxSessionsPerUser != 0 {
		t.Fatalf("config = %+v", c)
	}
}

func TestBadLimitsStopStartUpNamingTheVariable(t *testing.T) {
	cases := map[string]string{
		config.EnvMaxFailures:   "-1",
		config.EnvFailureWindow: "0s",
		config.EnvMaxSessions:   "many",
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
	for _, v := range []string{config.EnvMaxFailures, config.EnvFailureWindow, config.EnvMaxSessions} {
		found := false
		for _, w := range config.Vars {
			found = found || w == v
		}
		if !found {
			t.Errorf("config.Vars lacks %s", v)
		}
	}
}
