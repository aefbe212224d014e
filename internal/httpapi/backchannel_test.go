package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// fakeBackchannel accepts the token "good", is down for "down", and
// refuses anything else; it records what reached it.
type fakeBackchannel struct{ got []string }

func (f *fakeBackchannel) Logout(_ context.Context, token string) (int, error) {
	f.got = append(f.got, token)
	switch token {
	case "good":
		return 2, nil
	case "down":
		return 0, session.Errorf(session.EUNAVAILABLE, "table down")
	}
	return 0, session.Errorf(session.EINVALID, "refused")
}

// TestBackchannelLogoutAnswersAsTheSpecificationSays: 200 and no-store when
// done, 400 {"error":"invalid_request"} for any request that is not one
// form-encoded logout_token or whose token is refused, 503 when the
// sessions cannot be reached; whatever the client tries.
func TestBackchannelLogoutAnswersAsTheSpecificationSays(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	for _, c := range []struct {
		name, ctype, query, body string
		status                   int
		reached                  string // the token the service got, if any
	}{
		{"a good token", form, "", "logout_token=good", 200, "good"},
		{"a form with its charset", form + "; charset=UTF-8", "", "logout_token=good", 200, "good"},
		{"a refused token", form, "", "logout_token=forged", 400, "forged"},
		{"storage down", form, "", "logout_token=down", 503, "down"},
		{"no token", form, "", "other=1", 400, ""},
		{"an empty token", form, "", "logout_token=", 400, ""},
		{"two tokens", form, "", "logout_token=good&logout_token=good", 400, ""},
		{"the token in the query string", form, "?logout_token=good", "", 400, ""},
		{"JSON", "application/json", "", `{"logout_token":"good"}`, 400, ""},
		{"no content type", "", "", "logout_token=good", 400, ""},
		{"a body past the bound", form, "", "logout_token=" + strings.Repeat("a", 32<<10), 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fb := &fakeBackchannel{}
			h := httpapi.New(&fakeService{}, slog.New(slog.NewJSONHandler(io.Discard, nil))).WithBackchannel(fb)
			req := httptest.NewRequest("POST", httpapi.BackchannelLogoutPath+c.query, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.status || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%d, Cache-Control %q; want %d, no-store", w.Code, w.Header().Get("Cache-Control"), c.status)
			}
			want := map[int]string{200: "", 400: `{"error":"invalid_request"}`, 503: `{"error":"temporarily_unavailable"}`}[c.status]
			if w.Body.String() != want {
				t.Errorf("body %q, want %q", w.Body.String(), want)
			}
			if reached := strings.Join(fb.got, ","); reached != c.reached {
				t.Errorf("the service got %q, want %q", reached, c.reached)
			}
		})
	}
}

func TestWithoutAProviderEveryLogoutTokenIsRefused(t *testing.T) {
	h := httpapi.New(&fakeService{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	req := httptest.NewRequest("POST", httpapi.BackchannelLogoutPath, strings.NewReader(url.Values{"logout_token": {"good"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest || w.Body.String() != `{"error":"invalid_request"}` {
		t.Errorf("%d %s; want 400 invalid_request", w.Code, w.Body)
	}
}
