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
// users table, yet list-sessions shows their sessions and end-sessions
// ends them, on every surface; another user's stay.
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
		a, b := login("dave@corp.example"), login("Dave@corp.example")
		other := login("erin@corp.example")

		out := s.adminOK("", "list-sessions", "dave@corp.example")
		for _, id := range []string{a, b} {
			if !strings.Contains(out, session.Token(id).Hash().String()[:session.HashPrefixLen]) {
				t.Errorf("list-sessions does not name a session of the federated user:\n%s", out)
			}
		}
		if !strings.Contains(out, "2 sessions, 2 live") {
			t.Errorf("list-sessions:\n%s", out)
		}
		out = s.adminOK("", "end-sessions", "dave@corp.example")
		if !strings.Contains(out, "ended 2 sessions of dave@corp.example") {
			t.Errorf("end-sessions said %q", out)
		}
		s.wantOnEverySurface([]string{a, b}, 401, "after end-sessions")
		s.wantOnEverySurface([]string{other}, 200, "another federated user")
		if _, err := admin(t, "", quiet, "end-sessions", "dave@corp.example"); err == nil || !strings.Contains(err.Error(), "no user") {
			t.Errorf("end-sessions of a name with neither a user nor sessions = %v; want no user", err)
		}
	})
}
