package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
)

// TestJSONRPCLogInsRefusedBeforeTheServiceAreCounted: a JSON-RPC create
// without user_pass credentials is refused before Login and counted as a
// malformed log-in (RefuseMalformed), as a log-in without Basic
// credentials is on the other surfaces; a create that reaches Login, and
// any call that is no log-in, is not.
func TestJSONRPCLogInsRefusedBeforeTheServiceAreCounted(t *testing.T) {
	userPass := func(members string) string {
		return strings.Replace(createBody("0", goodLogin, goodPass),
			`{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"`+goodLogin+`","password":"`+goodPass+`"}`, members, 1)
	}
	cases := []struct {
		name, op, body string
		refused        int
		calls          []string
	}{
		{"NoSecurityContext", "create", strings.Replace(createBody("0", goodLogin, goodPass), `,"securityCtx":{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"`+goodLogin+`","password":"`+goodPass+`"}`, "", 1), 1, nil},
		{"ASessionIDContext", "create", sessionBody("0", "create", liveID), 1, nil},
		{"ASAMLToken", "create", userPass(`{"schemeId":"com.vmware.vapi.std.security.saml_bearer_token","token":"PHNhbWw+"}`), 1, nil},
		{"NoScheme", "create", userPass(`{"userName":"` + goodLogin + `","password":"` + goodPass + `"}`), 1, nil},
		{"NoPassword", "create", userPass(`{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"` + goodLogin + `"}`), 1, nil},
		{"APasswordThatIsNoString", "create", userPass(`{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"` + goodLogin + `","password":7}`), 1, nil},
		{"AWrongPasswordReachesLoginAndIsNotCountedHere", "create", createBody("0", goodLogin, "wrong-pass-1"), 0, []string{"Login " + goodLogin}},
		{"AGetWithoutASessionIsNoLogIn", "get", sessionBody("1", "get", ""), 0, []string{"Get "}},
		// A log-in the per-source WAF rule could fail to count is refused
		// before any password is checked (wafVisible).
		{"ABodyLongerThanWAFReads", "create", strings.Replace(createBody("0", goodLogin, goodPass), `"opId":"`,
			`"pad":"`+strings.Repeat("x", httpapi.MaxWAFBody)+`","opId":"`, 1), 1, nil},
		{"AnEscapedOperation", "create", strings.Replace(createBody("0", goodLogin, goodPass), `"operationId":"create"`, `"operationId":"cr\u0065ate"`, 1), 1, nil},
		{"AnEscapedService", "create", strings.Replace(createBody("0", goodLogin, goodPass), `"serviceId":"com.vmware.cis.session"`, `"serviceId":"com.vmware.cis.sessio\u006e"`, 1), 1, nil},
		{"AnOperationNamedTwice", "create", strings.Replace(createBody("0", goodLogin, goodPass), `"operationId":"create"`, `"operationId":"get","operationId":"create"`, 1), 1, nil},
		{"AnOperationKeyInAnotherCase", "create", strings.Replace(createBody("0", goodLogin, goodPass), `"operationId":"create"`, `"OperationID":"create"`, 1), 1, nil},
		{"SpacingIsNoMatter", "create", strings.Replace(createBody("0", goodLogin, "wrong-pass-1"), `"operationId":"create"`, `"operationId" :  "create"`, 1), 0, []string{"Login " + goodLogin}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := &fakeService{}
			h := httpapi.New(svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
			r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(c.body))
			for k, v := range sdkHeaders(c.op) {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			rpcUnauthenticated.check(t, sdkAnswer(t, w, `"`+map[string]string{"create": "0", "get": "1"}[c.op]+`"`).vapiError(t))
			if svc.refused != c.refused || !slices.Equal(svc.calls, c.calls) {
				t.Errorf("refused %d, calls %q; want %d, %q", svc.refused, svc.calls, c.refused, c.calls)
			}
		})
	}
}

// TestJSONRPCTokenLogInsPassTheSameVisibilityCheckAsPasswordOnes: an oauth
// create the per-source WAF rule could fail to count (longer than it
// reads, an escaped or re-cased service or operation name, a name given
// twice) is refused before the token reaches the identity provider, and
// counted as a malformed log-in, as a password create is.
func TestJSONRPCTokenLogInsPassTheSameVisibilityCheckAsPasswordOnes(t *testing.T) {
	oauth := strings.Replace(createBody("0", goodLogin, goodPass),
		`{"schemeId":"com.vmware.vapi.std.security.user_pass","userName":"`+goodLogin+`","password":"`+goodPass+`"}`,
		`{"schemeId":"com.vmware.vapi.std.security.oauth","accessToken":"`+goodToken+`"}`, 1)
	cases := []struct {
		name, body string
		refused    bool
	}{
		{"AVisibleTokenLogIn", oauth, false},
		{"ABodyLongerThanWAFReads", strings.Replace(oauth, `"opId":"`, `"pad":"`+strings.Repeat("x", httpapi.MaxWAFBody)+`","opId":"`, 1), true},
		{"AnEscapedOperation", strings.Replace(oauth, `"operationId":"create"`, `"operationId":"cr\u0065ate"`, 1), true},
		{"AnEscapedService", strings.Replace(oauth, `"serviceId":"com.vmware.cis.session"`, `"serviceId":"com.vmware.cis.sessio\u006e"`, 1), true},
		{"AReCasedOperationKey", strings.Replace(oauth, `"operationId":"create"`, `"OperationID":"create"`, 1), true},
		{"AReCasedServiceKey", strings.Replace(oauth, `"serviceId"`, `"ServiceId"`, 1), true},
		{"AnOperationNamedTwice", strings.Replace(oauth, `"operationId":"create"`, `"operationId":"get","operationId":"create"`, 1), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := &fakeFederated{}
			h := httpapi.New(svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
			r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(c.body))
			for k, v := range sdkHeaders("create") {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !c.refused {
				if len(svc.tokens) != 1 || svc.refused != 0 {
					t.Fatalf("tokens %q, refused %d; want the token at the service", svc.tokens, svc.refused)
				}
				return
			}
			// The answer of a refused token: unauthenticated, with the
			// challenge of a service that takes tokens.
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"OPTIONAL":"UNAUTHENTICATED"`) || !strings.Contains(challengeOf(t, w.Body.Bytes()), "Bearer") {
				t.Errorf("answer %d %s; want 200 and vAPI unauthenticated with the Bearer challenge", w.Code, w.Body)
			}
			if len(svc.tokens) != 0 || svc.refused != 1 {
				t.Errorf("tokens %q, refused %d; want none at the service and one malformed log-in", svc.tokens, svc.refused)
			}
		})
	}
}
