package lambda_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cis-session/cis-session/dev/dynamotest"
	"github.com/cis-session/cis-session/dev/logscan"
	"github.com/cis-session/cis-session/internal/httpapi"
	"github.com/cis-session/cis-session/internal/session"
)

// cost returns the storage requests and password checks made so far.
func (cs proxiedStack) cost() (requests, checks int64) {
	return cs.proxy.Forwarded(), cs.passwords.n.Load()
}

func TestOversizedInputsAreRefusedBeforeHashingOrStorage(t *testing.T) {
	cs := newProxiedStack(t, dynamotest.Engines(t)[0])
	tok := cs.login()
	authOf := func(userpass string) map[string]string {
		return map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))}
	}
	longestUser := strings.Repeat("u", session.MaxUserLen-len("@vsphere.local")) + "@vsphere.local"
	cases := []struct {
		name    string
		method  string
		headers map[string]string
	}{
		{"UserOneByteTooLong", "POST", authOf("u" + longestUser + ":" + adminPass)},
		{"PasswordOneByteTooLong", "POST", authOf(adminName + ":" + strings.Repeat("p", session.MaxPasswordLen+1))},
		{"AuthorizationOneByteTooLong", "POST", map[string]string{"authorization": "Basic " + strings.Repeat("A", httpapi.MaxAuthorizationLen-len("Basic ")+1)}},
		{"AuthorizationOfAMegabyte", "POST", authOf(adminName + ":" + strings.Repeat("p", 1<<20))},
		{"SessionIDOneCharTooLong", "GET", sid(tok + "0")},
		{"SessionIDOneCharTooShort", "GET", sid(tok[1:])},
		{"SessionIDOfAMegabyte", "GET", sid(strings.Repeat(tok, 1<<15))},
		{"DeleteWithSessionIDOfAMegabyte", "DELETE", sid(strings.Repeat(tok, 1<<15))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requests, checks := cs.cost()
			wantError(t, cs.v2(c.method, "/api/session", c.headers, ""), 401, "UNAUTHENTICATED")
			if r, h := cs.cost(); r != requests || h != checks {
				t.Fatalf("refusing it took %d storage requests and %d password checks, want none", r-requests, h-checks)
			}
		})
	}
	// The counters count: inputs within the limits are checked and looked up.
	t.Run("LongestAcceptedInputsAreChecked", func(t *testing.T) {
		requests, checks := cs.cost()
		wantError(t, cs.v2("POST", "/api/session", authOf(longestUser+":"+strings.Repeat("p", session.MaxPasswordLen)), ""), 401, "UNAUTHENTICATED")
		if r, h := cs.cost(); r == requests || h != checks+1 {
			t.Fatalf("a log-in at the limits took %d storage requests and %d password checks, want some and 1", r-requests, h-checks)
		}
		requests, _ = cs.cost()
		if r := cs.v2("GET", "/api/session", sid(strings.ToUpper(tok)), ""); r.Status != 200 {
			t.Fatalf("get with the token in upper case = %d", r.Status)
		}
		if r, _ := cs.cost(); r == requests {
			t.Fatal("a get made no storage request")
		}
	})
}

func TestResponsesCarryingATokenAreNeverStored(t *testing.T) {
	cs := newProxiedStack(t, dynamotest.Engines(t)[0])
	carried := 0
	for _, payload := range []string{"2.0", "1.0"} {
		for _, rt := range httpapi.Routes {
			if rt.Op == httpapi.OpJWKS {
				continue // public keys, no session's: meant to be cached
			}
			t.Run(payload+"/"+rt.Method, func(t *testing.T) {
				tok := cs.login()
				headers := sid(tok)
				if rt.Op == httpapi.OpCreate {
					headers = basic(adminName, adminPass)
				}
				ok := cs.send(payload, rt.Method, rt.Path, headers)
				failed := cs.send(payload, rt.Method, rt.Path, nil)
				for _, r := range []response{ok, failed} {
					if carriesAToken(r) {
						carried++
					}
					// Every answer concerns one client's session: none is
					// for a cache, whether it carries a token or not.
					if got := r.header("Cache-Control"); got != "no-store" {
						t.Errorf("%d answer with body %q has Cache-Control %q, want no-store", r.Status, r.Body, got)
					}
				}
			})
		}
	}
	if carried == 0 {
		t.Fatal("no route answered with a token: nothing was checked")
	}
}

func (s *stack) send(payload, method, path string, headers map[string]string) response {
	s.t.Helper()
	if payload == "1.0" {
		return s.v1(method, path, headers)
	}
	return s.v2(method, path, headers, "")
}

// carriesAToken reports whether a response holds something shaped like a
// token anywhere: body, headers or cookies.
func carriesAToken(r response) bool {
	all, _ := json.Marshal(r)
	return logscan.TokenLike.Match(all)
}
