package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/dev/oidcissuer"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/session"
)

// TestEndSessionsEndsAFederatedUsersSessions: a federated user is in no
// users table, yet list-sessions -idp shows their sessions and end-sessions
// -idp ends them, on every surface; another user's stay, and so do the
// sessions of the local user of the same name, who is another user: each
// command names one of the two, and says which kind it named.
func TestEndSessionsEndsAFederatedUsersSessions(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		iss, err := oidcissuer.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = iss.Close() })
		f := dynamotest.Setup(t, srv)
		t.Setenv(config.EnvSessionsTable, f.Tables.Sessions)
		t.Setenv(config.EnvUsersTable, f.Tables.Users)
		cfg := f.Config(t, map[string]string{config.EnvOIDCIssuer: iss.URL, config.EnvOIDCAudience: oidcissuer.Audience})
		log := slog.New(slog.NewJSONHandler(logscan.Writer(), nil))
		hs := httptest.NewServer(logscan.Recording(local.Handler(cfg, f.DB, log)))
		t.Cleanup(hs.Close)
		s := &service{t: t, f: f, url: hs.URL}
		idp := "-idp=" + iss.URL

		login := func(user string) string {
			t.Helper()
			tok := iss.Token(oidcissuer.KeyES256, iss.Claims(user))
			logscan.Secret(tok)
			req, _ := http.NewRequest("POST", hs.URL+"/api/session", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var id string
			if res.StatusCode != 201 || json.NewDecoder(res.Body).Decode(&id) != nil {
				t.Fatalf("bearer log-in of %s = %d", user, res.StatusCode)
			}
			logscan.Secret(id)
			return id
		}
		const pw = "Local-Dave-1"
		logscan.Secret(pw)
		s.adminOK(pw+"\n", "add-user", "dave@corp.example")
		localID, _ := s.login("api", "dave@corp.example", pw)
		a, b := login("dave@corp.example"), login("Dave@corp.example")
		other := login("erin@corp.example")

		out := s.adminOK("", idp, "list-sessions", "dave@corp.example")
		for _, id := range []string{a, b} {
			if !strings.Contains(out, session.Token(id).Hash().String()[:session.HashPrefixLen]) {
				t.Errorf("list-sessions does not name a session of the federated user:\n%s", out)
			}
		}
		if strings.Contains(out, session.Token(localID).Hash().String()[:session.HashPrefixLen]) {
			t.Errorf("list-sessions -idp names the local user's session:\n%s", out)
		}
		if !strings.Contains(out, "(federated by "+iss.URL+"): 2 sessions, 2 live") {
			t.Errorf("list-sessions -idp:\n%s", out)
		}
		out = s.adminOK("", "list-sessions", "dave@corp.example")
		if !strings.Contains(out, "dave@corp.example (local): 1 session, 1 live") ||
			!strings.Contains(out, session.Token(localID).Hash().String()[:session.HashPrefixLen]) {
			t.Errorf("list-sessions of the local user:\n%s", out)
		}
		out = s.adminOK("", idp, "end-sessions", "dave@corp.example")
		if !strings.Contains(out, "ended 2 sessions of dave@corp.example (federated by "+iss.URL+")") {
			t.Errorf("end-sessions said %q", out)
		}
		s.wantOnEverySurface([]string{a, b}, 401, "after end-sessions")
		s.wantOnEverySurface([]string{other}, 200, "another federated user")
		s.wantOnEverySurface([]string{localID}, 200, "the local user of the same name")
		if _, err := admin(t, "", quiet, idp, "end-sessions", "dave@corp.example"); err == nil || !strings.Contains(err.Error(), "no federated user") {
			t.Errorf("end-sessions -idp of a name with no sessions = %v; want no federated user", err)
		}
		// Ending the local user's sessions leaves the federated user's.
		c := login("dave@corp.example")
		out = s.adminOK("", "end-sessions", "dave@corp.example")
		if !strings.Contains(out, "ended 1 session of dave@corp.example (local)") {
			t.Errorf("end-sessions said %q", out)
		}
		s.wantOnEverySurface([]string{localID}, 401, "after end-sessions of the local user")
		s.wantOnEverySurface([]string{c}, 200, "the federated user of the same name")
		for _, cmd := range []string{"add-user", "remove-user", "reset-password", "unlock"} {
			if _, err := admin(t, "x\n", quiet, idp, cmd, "dave@corp.example"); err == nil || !strings.Contains(err.Error(), "federated user") {
				t.Errorf("-idp %s = %v; want refused: a federated user has none", cmd, err)
			}
		}
	})
}

// TestAddUserRefusesLookAlikeNames: a name with whitespace, a control,
// format or invisible character, or a trailing dot is no user's name:
// add-user refuses it and adds nobody.
func TestAddUserRefusesLookAlikeNames(t *testing.T) {
	s := newService(t, dynamotest.Engines(t)[0])
	for _, name := range []string{"administrator@vsphere.local ", "alice@corp.example.", "alice\u00a0@corp.example",
		"ali\u200bce@corp.example", "alice\u2060@corp.example", " alice@corp.example"} {
		if out, err := admin(t, "Pass-word-1\n", quiet, "add-user", name); err == nil || !strings.Contains(err.Error(), "is not a user name") {
			t.Errorf("add-user %q = %v, %q; want refused as no user name", name, err, out)
		}
	}
	if out := s.adminOK("", "list-users"); strings.TrimSpace(out) != "" {
		t.Errorf("list-users after refused add-users:\n%s", out)
	}
	// A user stored before the rule under such a name can no longer log
	// in, and the operator can still remove it.
	const legacy, pw = "bob@corp.example ", "Legacy-Pass-1"
	s.f.AddUser(t, legacy, pw)
	if id, status := s.login("api", legacy, pw); id != "" || status != 401 {
		t.Errorf("log-in as %q = %d; want 401", legacy, status)
	}
	if out := s.adminOK("", "remove-user", legacy); !strings.Contains(out, "removed") {
		t.Errorf("remove-user %q said %q", legacy, out)
	}
	if out := s.adminOK("", "list-users"); strings.TrimSpace(out) != "" {
		t.Errorf("list-users after removing the legacy user:\n%s", out)
	}
}
