package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cis-session/cis-session/internal/assertion"
	"github.com/cis-session/cis-session/internal/httpapi"
)

// TestTheJWKSIsServedWithoutASession: GET /.well-known/jwks.json answers
// the signer's public keys, cacheable, to anyone; a handler that signs
// nothing answers an empty set; other methods are operation_not_found.
func TestTheJWKSIsServedWithoutASession(t *testing.T) {
	v, err := assertion.NewSecretValue("")
	if err != nil {
		t.Fatal(err)
	}
	seeds, _ := assertion.ParseSecrets(v, "")
	ks, _ := assertion.NewKeySet(seeds)
	s, _ := assertion.NewSigner(ks, "https://vc.example.com", 0)
	signing := httpapi.New(&fakeService{}, slog.New(slog.DiscardHandler)).WithAssertions(&httpapi.Assertions{Signer: s})
	plain := httpapi.New(&fakeService{}, slog.New(slog.DiscardHandler))
	for name, c := range map[string]struct {
		h      http.Handler
		method string
		status int
		body   string
	}{
		"TheKeys":        {signing, http.MethodGet, 200, string(ks.JWKS())},
		"NoSignerNoKeys": {plain, http.MethodGet, 200, `{"keys":[]}`},
		"APostIsNoRoute": {signing, http.MethodPost, 404, operationNotFound},
		"AHeadIsNoRoute": {signing, http.MethodHead, 404, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c.h.ServeHTTP(w, httptest.NewRequest(c.method, httpapi.JWKSPath, nil))
			if w.Code != c.status || (c.body != "" && w.Body.String() != c.body) {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, c.status, c.body)
			}
			if c.status != 200 {
				return
			}
			if w.Header().Get("Cache-Control") != httpapi.JWKSCacheControl || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", w.Header())
			}
			var set struct{ Keys []map[string]any }
			if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || strings.Contains(w.Body.String(), `"d"`) {
				t.Errorf("body %s", w.Body)
			}
		})
	}
}

// TestTheAssertionHeaderIsPackageAssertions: httpapi names the header
// itself (so that get and delete link no signing code); it must be the one
// package assertion documents.
func TestTheAssertionHeaderIsPackageAssertions(t *testing.T) {
	if httpapi.HeaderAssertion != assertion.Header {
		t.Errorf("httpapi.HeaderAssertion = %q, assertion.Header = %q", httpapi.HeaderAssertion, assertion.Header)
	}
	var _ httpapi.Signer = (*assertion.Signer)(nil)
}

// TestTheServedJWKSDropsARetiredKeyOnTime: GET /.well-known/jwks.json
// serves the previous key of a rotation until the rotation time plus the
// assertions' life, by the handler's clock, and not after.
func TestTheServedJWKSDropsARetiredKeyOnTime(t *testing.T) {
	old, _ := assertion.NewSecretValue("")
	pending, _ := assertion.NewPendingValue(old, "2")
	rotatedAt := time.Unix(1_800_000_000, 0)
	current, _ := assertion.PromotedValue(pending, rotatedAt)
	seeds, err := assertion.ParseSecretVersions(assertion.Versions{Current: current, Previous: old, Epoch: "3"})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := assertion.NewKeySet(seeds)
	oldSeeds, _ := assertion.ParseSecrets(old, "")
	oldKeys, _ := assertion.NewKeySet(oldSeeds)
	const life = 5*time.Minute + 10*time.Second
	s, _ := assertion.NewSigner(ks, "https://vc.example.com", life)
	now := rotatedAt
	h := httpapi.New(&fakeService{}, slog.New(slog.DiscardHandler)).WithAssertions(&httpapi.Assertions{Signer: s, Now: func() time.Time { return now }})
	for _, c := range []struct {
		at        time.Duration
		published bool
	}{{0, true}, {life - time.Second, true}, {life, false}, {time.Hour, false}} {
		now = rotatedAt.Add(c.at)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, httpapi.JWKSPath, nil))
		if got := strings.Contains(w.Body.String(), oldKeys.CurrentID()); w.Code != 200 || got != c.published {
			t.Errorf("%s after the rotation: %d, retired key published = %v, want %v", c.at, w.Code, got, c.published)
		}
		if !strings.Contains(w.Body.String(), ks.CurrentID()) {
			t.Errorf("%s after the rotation: the signing key is not served", c.at)
		}
	}
}
