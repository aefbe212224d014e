package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/cis-session/cis-session/internal/session"
)

// A surface is one wire form of the session service. Both serve the same
// operations over the same sessions, and errors are mapped to a wireError
// once (toWire); a surface decides only how requests present the session id
// and how answers and errors are shaped.
type surface interface {
	// action returns the ~action a request names: "" for none. It fails
	// for a query that does not parse or names ~action empty or twice.
	action(r *http.Request) (string, error)
	// sessionID returns the session id the request presents, or "".
	sessionID(r *http.Request) string
	loggedIn(w http.ResponseWriter, r *http.Request, tok session.Token)
	info(w http.ResponseWriter, info Info)
	loggedOut(w http.ResponseWriter, r *http.Request)
	errorBody(we wireError) any
}

// surfaceOf returns the surface a path belongs to.
func surfaceOf(path string) surface {
	if path == LegacyBase || strings.HasPrefix(path, LegacyBase+"/") {
		return legacy{}
	}
	return modern{}
}

// modern is the /api surface: bare bodies, the id in a header only.
type modern struct{}

// Query parameters name nothing on /api.
func (modern) action(*http.Request) (string, error) { return "", nil }

// The id is never read from a cookie here: a browser attaches cookies to
// cross-site requests by itself, a header it does not (CSRF).
func (modern) sessionID(r *http.Request) string { return headerSessionID(r) }

func (modern) loggedIn(w http.ResponseWriter, _ *http.Request, tok session.Token) {
	writeJSON(w, http.StatusCreated, string(tok))
}

func (modern) info(w http.ResponseWriter, info Info) { writeJSON(w, http.StatusOK, info) }

func (modern) loggedOut(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

func (modern) errorBody(we wireError) any { return we.body }

// legacy is the deprecated /rest surface that govmomi's REST client and
// everything built on it speak: answers wrapped in {"value": …}, errors in
// {"type": …, "value": …}, the id from a header or the session cookie, the
// operation named by the method and ~action together.
type legacy struct{}

// LegacyBase is the base path of the legacy surface.
const LegacyBase = "/rest"

// HeaderUseHeaderAuthn, "true" on a /rest log-in, asks for no cookie.
const HeaderUseHeaderAuthn = "vmware-use-header-authn"

// CookieSessionID carries the session id on /rest for clients that did
// not ask for header authentication.
const CookieSessionID = "vmware-api-session-id"

// ActionParam names a /rest operation beyond what the method says.
const ActionParam = "~action"

func (legacy) action(r *http.Request) (string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	switch vals := q[ActionParam]; {
	case len(vals) == 0:
		return "", nil
	case len(vals) == 1 && vals[0] != "":
		return vals[0], nil
	default:
		return "", errors.New(ActionParam + " given empty or more than once")
	}
}

// The header wins over the cookie: a client that sends the header means it.
func (legacy) sessionID(r *http.Request) string {
	if len(r.Header.Values(HeaderSessionID)) > 0 {
		return headerSessionID(r)
	}
	var found []string
	for _, c := range r.Cookies() {
		if c.Name == CookieSessionID {
			found = append(found, c.Value)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

func (legacy) loggedIn(w http.ResponseWriter, r *http.Request, tok session.Token) {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get(HeaderUseHeaderAuthn)), "true") {
		http.SetCookie(w, sessionCookie(string(tok), 0))
	}
	writeJSON(w, http.StatusOK, valueOf[string]{string(tok)})
}

func (legacy) info(w http.ResponseWriter, info Info) {
	writeJSON(w, http.StatusOK, valueOf[Info]{info})
}

// A logged-out client's cookie names nothing any more: tell it to drop it.
func (legacy) loggedOut(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(CookieSessionID); err == nil {
		http.SetCookie(w, sessionCookie("", -1))
	}
	w.WriteHeader(http.StatusOK)
}

func (legacy) errorBody(we wireError) any {
	return legacyError{
		Type:  "com.vmware.vapi.std.errors." + strings.ToLower(we.body.ErrorType),
		Value: legacyErrorValue{Messages: we.body.Messages, Challenge: we.body.Challenge},
	}
}

// sessionCookie is the /rest session cookie as vCenter sets it, and
// SameSite=Strict besides: it authenticates, so no other site may make a
// browser send it. maxAge < 0 expires it (Max-Age=0 on the wire).
func sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieSessionID,
		Value:    value,
		Path:     LegacyBase,
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

// valueOf is a /rest answer: the result wrapped in {"value": …}.
type valueOf[T any] struct {
	Value T `json:"value"`
}

// legacyError is a vAPI error as /rest sends it.
type legacyError struct {
	Type  string           `json:"type"`
	Value legacyErrorValue `json:"value"`
}

type legacyErrorValue struct {
	Messages  []message `json:"messages"`
	Challenge string    `json:"challenge,omitempty"`
}
