package lambda_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/local"
	"github.com/cis-session/cis-session/internal/config"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/lambda"
	"github.com/cis-session/cis-session/internal/session"
)

// TestTheAuthorizerSignsTheUpstreamsAssertion: an Allow carries, in the
// context the integration maps to vmware-cis-assertion, an assertion that
// verifies with the published keys: issued by the API's base URL as API
// Gateway names it (the execute-api host of the method ARN and the stage),
// or as configured (a custom domain), whatever Host header the client
// sent; for the audience, naming the user and its kind, ending no later
// than the session. Still one UpdateItem.
func TestTheAuthorizerSignsTheUpstreamsAssertion(t *testing.T) {
	f := dynamotest.Setup(t, dynamotest.Engines(t)[0])
	var svc *session.Service
	st, c := newCountingStackOf(t, f, func(s *session.Service, log *slog.Logger) http.Handler {
		svc = s
		return httpapi.New(s, log)
	})
	cfg := config.Config{AssertionKeyFile: filepath.Join(t.TempDir(), "key.json"), Audience: "https://vc.example.com",
		AssertionLifetime: 5 * time.Minute, Policy: session.Policy{Lifetime: svc.Lifetime}}
	a, err := local.Assertions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Now = st.clock.Now
	authz := lambda.NewAuthorizer(httpapi.NewFrontDoor(svc, slog.New(slog.DiscardHandler)).WithAssertions(a), slog.New(slog.DiscardHandler))
	live := st.login()
	loggedIn := st.clock.Now()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(a.Signer.JWKS(st.clock.Now()), &set); err != nil {
		t.Fatal(err)
	}
	const executeAPI = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"
	for _, tc := range []struct{ configured, host, iss string }{
		{"", "abc123.execute-api.us-east-1.amazonaws.com", executeAPI},
		{"", "evil.example", executeAPI},
		{"", "vc-api.example.com", executeAPI},
		{"https://vc-api.example.com", "vc-api.example.com", "https://vc-api.example.com"},
		{"https://vc-api.example.com", "evil.example", "https://vc-api.example.com"},
	} {
		host, iss := tc.host, tc.iss
		a.Issuer = tc.configured
		ev := authEvent("GET", "/api/vcenter/vm", map[string]string{"vmware-api-session-id": live, "host": host})
		c.Reset()
		r := st.mustAuthorize(authz, ev)
		if got := c.Reset(); !slices.Equal(got, []string{"UpdateItem"}) {
			t.Errorf("DynamoDB requests %v, want the one touch", got)
		}
		token, _ := r.Context[lambda.ContextAssertion].(string)
		if r.Effect != "Allow" || token == "" {
			t.Fatalf("%+v, want an Allow with an assertion", r)
		}
		tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var claims jwt.Claims
		if err := tok.Claims(set, &claims); err != nil {
			t.Fatal(err)
		}
		if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: iss, AnyAudience: jwt.Audience{"https://vc.example.com"}, Subject: adminName, Time: st.clock.Now()}, 0); err != nil {
			t.Errorf("%s: %v (claims %+v)", host, err, claims)
		}
		if exp := claims.Expiry.Time(); exp.After(loggedIn.Add(svc.Lifetime.Absolute)) || exp.After(st.clock.Now().Add(5*time.Minute)) {
			t.Errorf("exp %v", exp)
		}
		if strings.Contains(token, live) {
			t.Error("the session id is in the assertion")
		}
		var kind struct {
			IdP string `json:"idp"`
		}
		if err := tok.Claims(set, &kind); err != nil || kind.IdP != session.LocalIdP {
			t.Errorf("idp claim %q, %v; want %q", kind.IdP, err, session.LocalIdP)
		}
	}
}
