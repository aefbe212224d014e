package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAUserAgentIsKeptBoundedAndWithoutControlCharacters(t *testing.T) {
	long := strings.Repeat("é", MaxUserAgentLen) // 2 bytes each
	for in, want := range map[string]string{
		"govc/0.52.0":                    "govc/0.52.0",
		"a\tb\r\nc\x1b[31md\x7fe\u009bf": "abc[31mdef",
		"bad\xffutf8":                    "badutf8",
		long:                             long[:MaxUserAgentLen],
	} {
		got := CleanUserAgent(in)
		if got != want || len(got) > MaxUserAgentLen || !utf8.ValidString(got) {
			t.Errorf("CleanUserAgent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAHandleIsStableAndNoPrefixOfTheHash(t *testing.T) {
	tok := Token("0123456789abcdef0123456789abcdef")
	h := tok.Hash()
	if Handle(h) != Handle(tok.Hash()) || Handle(h) == Handle(Token("1123456789abcdef0123456789abcdef").Hash()) {
		t.Fatal("a handle is not one per session")
	}
	if strings.Contains(h.String(), Handle(h)) || strings.Contains(string(tok), Handle(h)) || len(Handle(h)) != 22 {
		t.Errorf("handle %q of hash %s", Handle(h), h)
	}
}

// fakeLogouts verifies every token as the LogoutToken it names.
type fakeLogouts map[string]LogoutToken

func (f fakeLogouts) VerifyLogout(_ context.Context, token string) (LogoutToken, error) {
	if lt, ok := f[token]; ok {
		return lt, nil
	}
	if token == "down" {
		return LogoutToken{}, Errorf(EUNAVAILABLE, "provider down")
	}
	return LogoutToken{}, &TokenError{Cause: CauseBadToken, Err: errors.New("bad")}
}

type memTokens struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memTokens) First(_ context.Context, iss, jti string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[iss+" "+jti] {
		return false, nil
	}
	m.seen[iss+" "+jti] = true
	return true, nil
}

func (m *memTokens) Forget(_ context.Context, iss, jti string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.seen, iss+" "+jti)
	return nil
}

// memProvider holds provider sessions by hash, each with its issuer, sub
// and sid.
type memProvider struct {
	mu       sync.Mutex
	sessions map[TokenHash]memSession
	fail     bool
}

type memSession struct{ iss, sub, sid string }

func (m *memProvider) store(iss, sub, sid string) (UserSessionStore, string) {
	return providerView{m, memSession{iss, sub, sid}}, iss + "|" + sub + "|" + sid
}

// providerView is the sessions of one logout token's issuer, sub (any,
// when "") and sid (any, when "").
type providerView struct {
	m *memProvider
	w memSession
}

func (v providerView) matches(key string, s memSession) bool {
	return key == v.w.iss+"|"+v.w.sub+"|"+v.w.sid && s.iss == v.w.iss &&
		(v.w.sub == "" || s.sub == v.w.sub) && (v.w.sid == "" || s.sid == v.w.sid)
}

func (v providerView) ListUser(_ context.Context, key, _ string) ([]Record, error) {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if v.m.fail {
		return nil, Errorf(EUNAVAILABLE, "table down")
	}
	var recs []Record
	for h, s := range v.m.sessions {
		if v.matches(key, s) {
			recs = append(recs, Record{Hash: h})
		}
	}
	return recs, nil
}

func (v providerView) End(_ context.Context, key, _ string, h TokenHash) error {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if s, ok := v.m.sessions[h]; !ok || !v.matches(key, s) {
		return Errorf(ENOTFOUND, "gone")
	}
	delete(v.m.sessions, h)
	return nil
}

func (m *memProvider) left() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for h, s := range m.sessions {
		for _, n := range []string{"a1", "a2", "a3", "a4", "b1", "o1"} {
			if Token(n).Hash() == h {
				names = append(names, n+"("+s.sid+")")
			}
		}
	}
	slices.Sort(names)
	return names
}

func TestBackchannelEndsASubjectsOrAProviderSessionsSessionsOnce(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	p := &memProvider{sessions: map[TokenHash]memSession{
		Token("a1").Hash(): {"iss", "alice", "s1"}, Token("a2").Hash(): {"iss", "alice", "s1"},
		Token("a3").Hash(): {"iss", "alice", "s2"}, Token("a4").Hash(): {"iss", "alice", "s3"},
		Token("b1").Hash(): {"iss", "bob", "s9"},
		Token("o1").Hash(): {"other", "alice", "s2"}, // another provider's same sub and sid
	}}
	tokens := &memTokens{seen: map[string]bool{}}
	b := &Backchannel{
		Verifier: fakeLogouts{
			"sid":      {Issuer: "iss", Subject: "alice", SID: "s1", JTI: "1", Expires: exp},
			"sid-only": {Issuer: "iss", SID: "s2", JTI: "2", Expires: exp},
			"sub":      {Issuer: "iss", Subject: "alice", JTI: "3", Expires: exp},
			"neither":  {Issuer: "iss", JTI: "4", Expires: exp},
		},
		Tokens: tokens, Sessions: p.store,
		Quiet: time.Millisecond,
	}
	ctx := context.Background()
	if n, err := b.Logout(ctx, "sid"); err != nil || n != 2 || !slices.Equal(p.left(), []string{"a3(s2)", "a4(s3)", "b1(s9)", "o1(s2)"}) {
		t.Fatalf("the sid and sub's logout ended %d, %v; left %v", n, err, p.left())
	}
	if _, err := b.Logout(ctx, "sid"); ErrorCode(err) != EINVALID {
		t.Fatalf("a replayed jti: %v, want EINVALID", err)
	}
	if n, err := b.Logout(ctx, "sid-only"); err != nil || n != 1 || !slices.Equal(p.left(), []string{"a4(s3)", "b1(s9)", "o1(s2)"}) {
		t.Fatalf("the sid-only logout ended %d, %v; left %v", n, err, p.left())
	}
	for _, tok := range []string{"forged", "neither", ""} {
		if _, err := b.Logout(ctx, tok); ErrorCode(err) != EINVALID || len(p.left()) != 3 {
			t.Errorf("token %q: %v, want EINVALID; left %v", tok, err, p.left())
		}
	}
	if _, err := b.Logout(ctx, "down"); ErrorCode(err) != EUNAVAILABLE {
		t.Errorf("a provider that cannot be reached: %v, want EUNAVAILABLE", err)
	}
	// A table that fails: unavailable, and the provider may send the same
	// token again, which then succeeds.
	p.fail = true
	if _, err := b.Logout(ctx, "sub"); ErrorCode(err) != EUNAVAILABLE {
		t.Fatalf("a failing table: %v, want EUNAVAILABLE", err)
	}
	p.fail = false
	if n, err := b.Logout(ctx, "sub"); err != nil || n != 1 || !slices.Equal(p.left(), []string{"b1(s9)", "o1(s2)"}) {
		t.Fatalf("the subject's logout, sent again: %d, %v; left %v", n, err, p.left())
	}
}
