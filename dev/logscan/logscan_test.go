package logscan

import (
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"
)

func TestFindsASecretWhereverItWasLogged(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	const password = `pa"ss<wo>rd\1`
	cases := []struct {
		name   string
		secret string
		log    func(s *Scanner)
	}{
		{"SlogJSON", password, func(s *Scanner) {
			slog.New(slog.NewJSONHandler(s.Writer(), nil)).Info("login", "password", password)
		}},
		{"SlogText", password, func(s *Scanner) {
			slog.New(slog.NewTextHandler(s.Writer(), nil)).Info("login", "password", password)
		}},
		{"TokenInOtherCase", token, func(s *Scanner) {
			fmt.Fprintf(s.Writer(), "session %s\n", strings.ToUpper(token))
		}},
		{"TokenInsideLongerHex", token, func(s *Scanner) {
			fmt.Fprintf(s.Writer(), "key=ff%s00\n", token)
		}},
		{"StandardLog", token, func(s *Scanner) {
			restore := s.Capture()
			defer restore()
			log.Printf("adapter: could not convert %s", token)
		}},
		{"Stdout", token, func(s *Scanner) {
			restore := s.Capture()
			defer restore()
			fmt.Printf("Could not convert request GET:/api/session?id=%s\n", token)
		}},
		{"Stderr", token, func(s *Scanner) {
			restore := s.Capture()
			defer restore()
			fmt.Fprintf(os.Stderr, "SDK WARN request to %s failed\n", token)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New()
			s.Secret(c.secret)
			c.log(s)
			if leaks := s.Leaks(); len(leaks) != 1 {
				t.Fatalf("leaks = %q, want the one secret logged", leaks)
			}
		})
	}
}

func TestCleanLogsAndShortSecretsAreNoLeak(t *testing.T) {
	s := New()
	s.Secret("0123456789abcdef0123456789abcdef")
	s.Secret("short") // too short to tell from ordinary text: ignored
	slog.New(slog.NewJSONHandler(s.Writer(), nil)).Info("request", "path", "/api/session", "status", 401, "note", "short")
	if leaks := s.Leaks(); len(leaks) != 0 {
		t.Fatalf("leaks = %q in clean logs", leaks)
	}
	if s.Secrets() != 1 {
		t.Fatalf("recorded %d secrets, want 1", s.Secrets())
	}
}
