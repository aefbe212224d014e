package session

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewTokenIs128RandomBitsInHex(t *testing.T) {
	seen := map[Token]bool{}
	hexRE := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for i := 0; i < 1000; i++ {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !hexRE.MatchString(string(tok)) {
			t.Fatalf("token %q is not 32 lower-case hex digits", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q issued twice", tok)
		}
		seen[tok] = true
	}
}

func TestParseTokenAcceptsOnlyIssuedForm(t *testing.T) {
	good := "cb40d6966154bce92713c537d2c4a848"
	cases := []struct {
		in   string
		ok   bool
		want Token
	}{
		{good, true, Token(good)},
		{strings.ToUpper(good), true, Token(good)}, // hex is case-insensitive; one hash for both
		{"", false, ""},
		{good[:31], false, ""},
		{good + "0", false, ""},
		{"zb40d6966154bce92713c537d2c4a848", false, ""},
		{" b40d6966154bce92713c537d2c4a848", false, ""},
		{strings.Repeat("a", 1<<20), false, ""},
	}
	for _, c := range cases {
		got, ok := ParseToken(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseToken(%.40q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if a, _ := ParseToken(strings.ToUpper(good)); a.Hash() != Token(good).Hash() {
		t.Error("upper- and lower-case forms hash differently")
	}
}

func TestQualifyName(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"administrator", "administrator@vsphere.local", true},
		{"Administrator@vsphere.local", "Administrator@vsphere.local", true},
		{`VSPHERE.LOCAL\Administrator`, "Administrator@VSPHERE.LOCAL", true},
		{"alice@corp.example", "alice@corp.example", true},
		{"", "", false},
		{"@vsphere.local", "", false},
		{"alice@", "", false},
		{"a@b@c", "", false},
		{`dom\a@b`, "", false},
		{`\alice`, "", false},
		{"al\x00ice", "", false},
		{"al\nice", "", false},
		{"\xff\xfe", "", false},
		{strings.Repeat("a", MaxUserLen+1), "", false},
	}
	for _, c := range cases {
		got, ok := QualifyName(c.in, "vsphere.local")
		if ok != c.ok || got != c.want {
			t.Errorf("QualifyName(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestLifetimeLive(t *testing.T) {
	l := Lifetime{Idle: 30 * time.Minute, Absolute: 24 * time.Hour}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Session{Created: t0, LastAccessed: t0}
	cases := []struct {
		name string
		s    Session
		now  time.Time
		want bool
	}{
		{"Fresh", s, t0, true},
		{"JustBeforeIdle", s, t0.Add(30*time.Minute - time.Millisecond), true},
		{"AtIdle", s, t0.Add(30 * time.Minute), false},
		{"ActiveBeforeAbsolute", Session{Created: t0, LastAccessed: t0.Add(24*time.Hour - time.Minute)}, t0.Add(24*time.Hour - time.Millisecond), true},
		{"ActiveAtAbsolute", Session{Created: t0, LastAccessed: t0.Add(24*time.Hour - time.Minute)}, t0.Add(24 * time.Hour), false},
	}
	for _, c := range cases {
		if got := l.Live(c.s, c.now); got != c.want {
			t.Errorf("%s: Live = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestErrorCode(t *testing.T) {
	if ErrorCode(nil) != "" {
		t.Error("nil error has a code")
	}
	if ErrorCode(errors.New("boom")) != EINTERNAL {
		t.Error("a plain error is not EINTERNAL")
	}
	wrapped := Unavailable("touch session", context.DeadlineExceeded)
	if ErrorCode(wrapped) != EUNAVAILABLE || !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Errorf("Unavailable lost its code or cause: %v", wrapped)
	}
	if ErrorCode(errors.Join(errors.New("x"), Errorf(ENOTFOUND, "y"))) != ENOTFOUND {
		t.Error("code not found in a joined chain")
	}
}
