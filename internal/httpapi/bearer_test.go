package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// fakeFederated is the fake service that also takes bearer tokens: goodToken
// logs in, anything else is refused.
type fakeFederated struct {
	fakeService
	tokens []string // what reached LoginBearer
}

const goodToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"

func (f *fakeFederated) LoginBearer(_ context.Context, token string) (session.Token, session.Session, error) {
	f.tokens = append(f.tokens, token)
	if token != goodToken {
		return "", session.Session{}, session.Errorf(session.EUNAUTHENTICATED, "bad token")
	}
	return issuedID, liveSession, nil
}

func (f *fakeFederated) Federated() bool { return true }

// TestEverySpellingOfABearerHeader: the scheme in any case, one space; a
// token outside RFC 6750's syntax still goes to the bearer path (refused
// there, never read as Basic); two Authorization headers are none.
func TestEverySpellingOfABearerHeader(t *testing.T) {
	cases := []struct {
		name      string
		headers   []string
		status    int
		wantToken []string // what reached LoginBearer
	}{
		{"Bearer", []string{"Bearer " + goodToken}, 201, []string{goodToken}},
		{"lower case", []string{"bearer " + goodToken}, 201, []string{goodToken}},
		{"upper case", []string{"BEARER " + goodToken}, 201, []string{goodToken}},
		{"trailing space", []string{"Bearer " + goodToken + " "}, 201, []string{goodToken}},
		{"padding", []string{"Bearer " + goodToken + "=="}, 401, []string{goodToken + "=="}},
		{"no token", []string{"Bearer"}, 401, []string{""}},
		{"empty token", []string{"Bearer "}, 401, []string{""}},
		{"space inside", []string{"Bearer abc def"}, 401, []string{""}},
		{"quote inside", []string{`Bearer abc"def`}, 401, []string{""}},
		{"padding inside", []string{"Bearer ab=c"}, 401, []string{""}},
		{"too long", []string{"Bearer " + strings.Repeat("a", session.MaxBearerLen+1)}, 401, []string{""}},
		{"tab", []string{"Bearer\t" + goodToken}, 401, nil},
		{"no space", []string{"Bearer" + goodToken}, 401, nil},
		{"two headers", []string{"Bearer " + goodToken, "Bearer " + goodToken}, 401, nil},
		{"Bearer and Basic", []string{"Bearer " + goodToken, basic(goodLogin, goodPass)}, 401, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{httpapi.SessionPath, httpapi.LegacySessionPath} {
				svc := &fakeFederated{}
				h := httpapi.New(svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
				req := httptest.NewRequest("POST", path, nil)
				for _, v := range c.headers {
					req.Header.Add("Authorization", v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				want := c.status
				if path == httpapi.LegacySessionPath && want == 201 {
					want = 200
				}
				if rec.Code != want {
					t.Errorf("%s: %d %s; want %d", path, rec.Code, rec.Body, want)
				}
				if strings.Join(svc.tokens, ",") != strings.Join(c.wantToken, ",") {
					t.Errorf("%s: LoginBearer got %q; want %q", path, svc.tokens, c.wantToken)
				}
				if len(svc.calls) != 0 {
					t.Errorf("%s: a bearer header reached %v", path, svc.calls)
				}
				if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") != httpapi.ChallengeFederated {
					t.Errorf("%s: challenge %q; want %q", path, rec.Header().Get("WWW-Authenticate"), httpapi.ChallengeFederated)
				}
			}
		})
	}
}

// TestWithoutBearerLogInATokenIsMalformedCredentials: a service that takes
// no tokens counts a bearer header as a log-in without Basic credentials,
// and offers Basic only.
func TestWithoutBearerLogInATokenIsMalformedCredentials(t *testing.T) {
	svc := &fakeService{}
	h := httpapi.New(svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest("POST", httpapi.SessionPath, nil)
	req.Header.Set("Authorization", "Bearer "+goodToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || svc.refused != 1 || rec.Header().Get("WWW-Authenticate") != httpapi.Challenge || rec.Body.String() != unauthenticated {
		t.Errorf("%d %q %s, refused %d; want the Basic 401, counted as malformed", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, svc.refused)
	}
}
