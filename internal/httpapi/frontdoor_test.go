package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

func TestProtectedIsEveryOtherPathUnderAPIAndRest(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/vcenter/vm":                  true,
		"/api/session/extra":               true,
		"/api/":                            true,
		"/rest/vcenter/vm":                 true,
		"/rest/com/vmware/cis/session/x":   true,
		"/rest/com/vmware/cis/tagging/tag": true,
		httpapi.SessionPath:                false, // the session service's own
		httpapi.LegacySessionPath:          false,
		httpapi.JSONRPCPath:                false, // JSON-RPC authorizes inside the call
		"/rest":                            false,
		"/apiary/x":                        false,
		"/restful/x":                       false,
		"/":                                false,
		"/ui/vcenter":                      false,
	} {
		if got := httpapi.Protected(path); got != want {
			t.Errorf("Protected(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestFrontDoorReadsTheSessionWhereGetReadsIt: Check presents the service
// with the id get would read (the header on /api; on /rest the header,
// else the one session cookie), and a refusal is the error the session
// routes give, shaped for the path's surface.
func TestFrontDoorReadsTheSessionWhereGetReadsIt(t *testing.T) {
	backend := session.Errorf(session.EUNAVAILABLE, "touch session: dial tcp 10.1.2.3:443: i/o timeout")
	cases := []struct {
		name    string
		path    string
		header  []string // vmware-api-session-id values, each its own header
		cookie  string
		err     error // every call of the service fails with it
		getID   string
		allowed bool
		status  int
		body    string
	}{
		{"APIHeader", "/api/vcenter/vm", []string{liveID}, "", nil, liveID, true, 0, ""},
		{"APIHeaderIsTrimmed", "/api/vcenter/vm", []string{" " + liveID + " "}, "", nil, liveID, true, 0, ""},
		{"APIUnknownSession", "/api/vcenter/vm", []string{unknownID}, "", nil, unknownID, false, 401, unauthenticated},
		{"APINoSession", "/api/vcenter/vm", nil, "", nil, "", false, 401, unauthenticated},
		{"APINeverReadsTheCookie", "/api/vcenter/vm", nil, "vmware-api-session-id=" + liveID, nil, "", false, 401, unauthenticated},
		{"APITwoHeadersAreNone", "/api/vcenter/vm", []string{liveID, liveID}, "", nil, "", false, 401, unauthenticated},
		{"RestCookie", "/rest/vcenter/vm", nil, "a=b; vmware-api-session-id=" + liveID, nil, liveID, true, 0, ""},
		{"RestHeaderWinsOverTheCookie", "/rest/vcenter/vm", []string{unknownID}, "vmware-api-session-id=" + liveID, nil, unknownID, false, 401, restUnauthenticated},
		{"RestTwoCookiesAreNone", "/rest/vcenter/vm", nil, "vmware-api-session-id=" + liveID + "; vmware-api-session-id=" + unknownID, nil, "", false, 401, restUnauthenticated},
		{"APIBackendFailureIsUnavailable", "/api/vcenter/vm", []string{liveID}, "", backend, liveID, false, 503, unavailable},
		{"RestBackendFailureIsUnavailable", "/rest/vcenter/vm", []string{liveID}, "", backend, liveID, false, 503, restUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := &fakeService{err: c.err}
			var logs bytes.Buffer
			door := httpapi.NewFrontDoor(svc, slog.New(slog.NewJSONHandler(&logs, nil)))
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			for _, v := range c.header {
				r.Header.Add(httpapi.HeaderSessionID, v)
			}
			if c.cookie != "" {
				r.Header.Set("Cookie", c.cookie)
			}
			v := door.Check(r)
			if want := []string{"Get " + c.getID}; !slices.Equal(svc.calls, want) {
				t.Errorf("service calls %q, want %q (one touch)", svc.calls, want)
			}
			if v.Allowed != c.allowed || v.Status != c.status || v.Body != c.body {
				t.Errorf("verdict allowed=%v %d %s\nwant allowed=%v %d %s", v.Allowed, v.Status, v.Body, c.allowed, c.status, c.body)
			}
			if c.allowed && (v.Session.User != liveSession.User || v.Created() != "2025-07-16T07:18:48.517Z") {
				t.Errorf("allowed for %q created %s, want %q created 2025-07-16T07:18:48.517Z", v.Session.User, v.Created(), liveSession.User)
			}
			for _, secret := range []string{liveID, unknownID} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("a session id reached the log:\n%s", logs.String())
				}
			}
			if strings.Contains(v.Body, "10.1.2.3") {
				t.Errorf("the refusal discloses the backend: %s", v.Body)
			}
		})
	}
}

// TestFrontDoorCheckCallTakesAnIDFoundElsewhere: JSON-RPC's seam: the id the
// call presents in its body, the refusal shaped for the path given.
func TestFrontDoorCheckCallTakesAnIDFoundElsewhere(t *testing.T) {
	svc := &fakeService{}
	door := httpapi.NewFrontDoor(svc, slog.New(slog.DiscardHandler))
	r := httptest.NewRequest(http.MethodPost, httpapi.JSONRPCPath, nil)
	if v := door.CheckCall(r, httpapi.JSONRPCPath, liveID); !v.Allowed || v.Session != liveSession {
		t.Errorf("live id: %+v", v)
	}
	if v := door.CheckCall(r, "/rest/vcenter/vm", "not-a-session-id"); v.Allowed || v.Status != 401 || v.Body != restUnauthenticated {
		t.Errorf("malformed id on /rest: %+v", v)
	}
	if !slices.Equal(svc.calls, []string{"Get " + liveID, "Get not-a-session-id"}) {
		t.Errorf("service calls %q", svc.calls)
	}
}

// TestVerdictWriteAnswersAsTheSessionRoutes: the refusal's status and body,
// the challenge on a 401 only, never stored.
func TestVerdictWriteAnswersAsTheSessionRoutes(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		challenge string
	}{
		{"Unauthenticated", nil, httpapi.Challenge},
		{"Unavailable", errors.New("engine down"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			door := httpapi.NewFrontDoor(&fakeService{err: c.err}, slog.New(slog.DiscardHandler))
			v := door.CheckCall(httptest.NewRequest(http.MethodGet, "/api/vcenter/vm", nil), "/api/vcenter/vm", unknownID)
			w := httptest.NewRecorder()
			v.Write(w)
			if w.Code != v.Status || w.Body.String() != v.Body {
				t.Errorf("wrote %d %s, want %d %s", w.Code, w.Body, v.Status, v.Body)
			}
			for name, want := range map[string]string{"Cache-Control": "no-store", "Content-Type": "application/json", "WWW-Authenticate": c.challenge} {
				if got := w.Header().Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestOperationNotFoundIsShapedForThePath(t *testing.T) {
	for path, want := range map[string]string{"/api/vcenter/vm": operationNotFound, "/rest/vcenter/vm": restOperationNotFound} {
		w := httptest.NewRecorder()
		httpapi.WriteOperationNotFound(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != 404 || w.Body.String() != want || w.Header().Get("Cache-Control") != "no-store" || httpapi.OperationNotFoundBody(path) != want {
			t.Errorf("%s: %d %v %s, want 404 %s, not stored", path, w.Code, w.Header(), w.Body, want)
		}
	}
}

// TestGatewayBodyIsAnErrorOfBothSurfaces: what API Gateway answers without
// knowing the path reads as the error on /api and on /rest alike.
func TestGatewayBodyIsAnErrorOfBothSurfaces(t *testing.T) {
	for kind, errorType := range map[string]string{"unauthenticated": "UNAUTHENTICATED", "unavailable": "SERVICE_UNAVAILABLE", "not_found": "NOT_FOUND"} {
		var both struct {
			ErrorType string            `json:"error_type"`
			Messages  []json.RawMessage `json:"messages"`
			Type      string            `json:"type"`
			Value     struct {
				Messages []json.RawMessage `json:"messages"`
			} `json:"value"`
		}
		body := httpapi.GatewayBody(kind)
		if err := json.Unmarshal([]byte(body), &both); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if both.ErrorType != errorType || len(both.Messages) != 1 ||
			both.Type != "com.vmware.vapi.std.errors."+strings.ToLower(errorType) || len(both.Value.Messages) != 1 {
			t.Errorf("%s: %s is not the %s error of both surfaces", kind, body, errorType)
		}
	}
}

// TestFrontDoorRefusesEveryReservedSpelling: a header whose name reads, to
// a CGI, PHP or WSGI upstream (case-folded, '_' as '-'), as one the service
// sets upstream is refused with vAPI's 401 for the path's surface (all the
// deployed gateway can answer to an authorizer's deny), before
// the session is looked at; names that merely resemble one pass.
func TestFrontDoorRefusesEveryReservedSpelling(t *testing.T) {
	cases := []struct {
		name    string
		refused bool
	}{
		{"vmware-cis-user", true},
		{"vmware_cis_user", true},
		{"VMWARE_CIS_USER", true},
		{"Vmware-Cis-User", true},
		{"vmware_cis-user", true},
		{"vmware-cis_user", true},
		{"vmware-cis-assertion", true},
		{"Vmware_Cis_Assertion", true},
		{"vmware_cis_session_created", true},
		{"VMWARE-CIS-SESSION_CREATED", true},
		{"vmware-cis-anything-new", true},
		{"vmware-cis-", true},
		{"vmware-api-session-id", false},
		{"vmware-cisuser", false},
		{"x-vmware-cis-user", false},
		{"vmware.cis.user", true},
		{"vmware~cis~user", true},
		{"vmware+cis+user", true},
		{"VMWARE.CIS.ASSERTION", true},
		{"vmware!cis#user", true},
		{"vmware|cis'session.created", true},
		{"vmware\u00e9cis-user", true}, // a UTF-8 byte is punctuation too
		{"vmware cis user", true},
		{"vmware--cis-user", false},
		{"vmwarecis-user", false},
		// The session id under another spelling: nothing but a folding
		// upstream reads it there.
		{"vmware.api.session.id", true},
		{"vmware_api_session_id", true},
		{"Vmware-Api-Session_Id", true},
		{"VMWARE-API-SESSION-ID", false},
		{"vmware-api-session-idx", false},
		{"vmware", false},
	}
	for _, c := range cases {
		for _, path := range []string{"/api/vcenter/vm", "/rest/vcenter/vm"} {
			t.Run(c.name+path, func(t *testing.T) {
				svc := &fakeService{}
				door := httpapi.NewFrontDoor(svc, slog.New(slog.DiscardHandler))
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.Header[c.name] = []string{"root@evil.example"} // as sent, not canonicalised
				r.Header.Set(httpapi.HeaderSessionID, liveID)
				v := door.Check(r)
				if !c.refused {
					if !v.Allowed {
						t.Errorf("refused %+v", v)
					}
					return
				}
				want := unauthenticated
				if strings.HasPrefix(path, "/rest/") {
					want = restUnauthenticated
				}
				if v.Allowed || v.Status != 401 || v.Body != want {
					t.Errorf("verdict %+v, want the 401 %s", v, want)
				}
				if len(svc.calls) != 0 {
					t.Errorf("service calls %q, want none", svc.calls)
				}
			})
		}
	}
}
