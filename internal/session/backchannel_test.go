package session

import (
	"context"
	"errors"
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

// memProvider holds sessions by subject key, each with its sid.
type memProvider struct {
	mu       sync.Mutex
	sessions map[string]map[TokenHash]string // key -> hash -> sid
	fail     bool
}

func (m *memProvider) store(sid string) UserSessionStore { return providerView{m, sid} }

type providerView struct {
	m   *memProvider
	sid string
}

func (v providerView) ListUser(_ context.Context, key, _ string) ([]Record, error) {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if v.m.fail {
		return nil, Errorf(EUNAVAILABLE, "table down")
	}
	var recs []Record
	for h, sid := range v.m.sessions[key] {
		if v.sid == "" || sid == v.sid {
			recs = append(recs, Record{Hash: h})
		}
	}
	return recs, nil
}

func (v providerView) End(_ context.Context, key, _ string, h TokenHash) error {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	if _, ok := v.m.sessions[key][h]; !ok {
		return Errorf(ENOTFOUND, "gone")
	}
	delete(v.m.sessions[key], h)
	return nil
}

func TestBackchannelEndsASubjectsOrAProviderSessionsSessionsOnce(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	p := &memProvider{sessions: map[string]map[TokenHash]string{
		"iss alice": {Token("a1").Hash(): "s1", Token("a2").Hash(): "s1", Token("a3").Hash(): "s2"},
		"iss bob":   {Token("b1").Hash(): "s9"},
	}}
	tokens := &memTokens{seen: map[string]bool{}}
	b := &Backchannel{
		Verifier: fakeLogouts{
			"sid":      {Issuer: "iss", Subject: "alice", SID: "s1", JTI: "1", Expires: exp},
			"sub":      {Issuer: "iss", Subject: "alice", JTI: "2", Expires: exp},
			"sid-only": {Issuer: "iss", SID: "s1", JTI: "3", Expires: exp},
		},
		Tokens: tokens, Sessions: p.store,
		SubjectKey: func(iss, sub string) string { return iss + " " + sub },
		Quiet:      time.Millisecond,
	}
	ctx := context.Background()
	if n, err := b.Logout(ctx, "sid"); err != nil || n != 2 || len(p.sessions["iss alice"]) != 1 {
		t.Fatalf("the sid's logout ended %d, %v; left %v", n, err, p.sessions["iss alice"])
	}
	if _, err := b.Logout(ctx, "sid"); ErrorCode(err) != EINVALID {
		t.Fatalf("a replayed jti: %v, want EINVALID", err)
	}
	for _, tok := range []string{"forged", "sid-only", ""} {
		if _, err := b.Logout(ctx, tok); ErrorCode(err) != EINVALID {
			t.Errorf("token %q: %v, want EINVALID", tok, err)
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
	if n, err := b.Logout(ctx, "sub"); err != nil || n != 1 || len(p.sessions["iss alice"]) != 0 || len(p.sessions["iss bob"]) != 1 {
		t.Fatalf("the subject's logout, sent again: %d, %v; left %v", n, err, p.sessions)
	}
}
