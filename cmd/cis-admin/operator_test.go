package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/localdynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// TestSessionsListsEveryLiveSessionAPageAtATime: every user's sessions,
// newest activity first, a page of -limit; -json one object a line with
// the fields an operator asks for; end-session by handle ends that one.
func TestSessionsListsEveryLiveSessionAPageAtATime(t *testing.T) {
	dynamotest.ForEach(t, func(t *testing.T, srv *localdynamo.Server) {
		s := newService(t, srv)
		const pw = "Pass-word-list"
		s.adminOK(pw+"\n", "add-user", "carol@corp.example")
		s.adminOK(pw+"\n", "add-user", "dan@corp.example")
		c1, _ := s.login("api", "carol@corp.example", pw)
		d1, _ := s.login("rest", "dan@corp.example", pw)
		c2, _ := s.login("api", "carol@corp.example", pw)
		if s.get("api", d1) != 200 { // d1 is now the newest activity
			t.Fatal("d1 is not live")
		}

		out := s.adminOK("", "sessions", "-json")
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("sessions -json line %q: %v", l, err)
			}
			lines = append(lines, m)
		}
		if len(lines) != 3 || lines[0]["handle"] != session.Handle(session.Token(d1).Hash()) || lines[0]["calls"] != 1.0 || lines[0]["surface"] != "rest" {
			t.Fatalf("sessions -json:\n%s\nwant 3, d1 first with 1 call on rest", out)
		}
		for _, m := range lines {
			for _, k := range []string{"user", "handle", "created", "last_accessed", "source", "user_agent", "surface", "method", "calls"} {
				if _, ok := m[k]; !ok {
					t.Errorf("a line without %s: %v", k, m)
				}
			}
		}
		for _, id := range []string{c1, d1, c2} {
			if strings.Contains(strings.ToLower(out), strings.ToLower(id)) {
				t.Fatal("sessions printed a session id")
			}
		}

		if out := s.adminOK("", "sessions", "-limit", "2"); strings.Count(out, "@corp.example") != 2 || !strings.Contains(out, "3 sessions live; page 1 of 2") {
			t.Errorf("sessions -limit 2:\n%s", out)
		}
		if out := s.adminOK("", "sessions", "-limit", "2", "-page", "2"); strings.Count(out, "@corp.example") != 1 || !strings.Contains(out, "page 2 of 2") {
			t.Errorf("sessions -limit 2 -page 2:\n%s", out)
		}
		for _, args := range [][]string{{"sessions", "-limit", "0"}, {"sessions", "-page", "0"}, {"sessions", "extra"}, {"end-session"}, {"end-session", "a", "b"}} {
			if out, err := admin(t, "", append([]string{quiet}, args...)...); err == nil {
				t.Errorf("cis-admin %v = %q; want an error", args, out)
			}
		}
		if _, err := admin(t, "", quiet, "end-session", "no-such-handle"); err == nil || !strings.Contains(err.Error(), "no session has the handle") {
			t.Errorf("end-session of no session: %v", err)
		}

		h := session.Handle(session.Token(c1).Hash())
		if out := s.adminOK("", "end-session", h); !strings.Contains(out, "ended session "+h+" of carol@corp.example") {
			t.Errorf("end-session said %q", out)
		}
		s.wantOnEverySurface([]string{c1}, 401, "the session ended by handle")
		s.wantOnEverySurface([]string{d1, c2}, 200, "the others")
	})
}
