package httpapi

import (
	"net/http"
	"strings"

	"github.com/cis-session/cis-session/internal/session"
)

// errReservedHeader is why a call sending a reserved header is refused.
var (
	errReservedHeader     = session.Errorf(session.EINVALID, "the request sends a header reserved to the service")
	errReservedHeaderAuth = session.Errorf(session.EUNAUTHENTICATED, "the request sends a header reserved to the service")
)

// ReservedPrefix begins the name of every header the service sets on a call
// it forwards to the upstream (HeaderUser, HeaderSessionCreated,
// HeaderAssertion): the upstream believes what comes under these names, so
// a client may send none of them.
const ReservedPrefix = "vmware-cis-"

// ReservedHeader returns the first header of h whose name, read as CGI,
// PHP and WSGI servers read it and then some (case-folded, and every
// character that is not a letter or a digit as '-'), begins with
// ReservedPrefix, or "" when there is none. Such a name would reach an
// upstream as one the service sets (HTTP_VMWARE_CIS_USER is both
// "vmware-cis-user" and "vmware_cis_user"; some servers read '.' as '_'
// too, and nothing says which punctuation the next one folds), so the
// front door refuses the call rather than pick which spelling an upstream
// will believe: vmware.cis.user, vmware~cis~user and vmware+cis+user are
// all the service's.
//
// How it refuses: on /api/* and /rest/*, vAPI's 401 unauthenticated, as
// for a call without a live session, because that is all the deployed
// gateway can say (the authorizer can only deny, and API Gateway's
// ACCESS_DENIED response has one status, 401); make run's gateway says the
// same. On JSON-RPC, where the function answers itself, vAPI's
// invalid_request. Either way before any storage request, and the log
// line's outcome is "reserved_header".
//
// The session id under any other spelling of its header's name
// (vmware_api_session_id, vmware.api.session.id) is refused the same way:
// nothing reads it there but an upstream that folds names, which must
// never see it, and a deployed gateway cannot remove every spelling
// (docs/FRONTDOOR.md).
func ReservedHeader(h http.Header) string {
	for name := range h {
		if Reserved(name) || (foldsTo(name, HeaderSessionID, true) && !strings.EqualFold(name, HeaderSessionID)) {
			return name
		}
	}
	return ""
}

// Reserved reports whether a header name is reserved to the service: see
// ReservedHeader.
func Reserved(name string) bool { return foldsTo(name, ReservedPrefix, false) }

// foldsTo reports whether a header name, read as the most lenient server
// reads it (letters lower-cased, every character that is not an ASCII
// letter or digit as '-': "é" is one character, so one '-'), begins with
// folded (lower-case letters, digits and '-'), or with whole is it. It
// allocates nothing: it runs for every header of every call.
func foldsTo(name, folded string, whole bool) bool {
	i := 0
	for _, c := range name {
		if i == len(folded) {
			return !whole
		}
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case ('a' <= c && c <= 'z') || ('0' <= c && c <= '9'):
		default:
			c = '-'
		}
		if byte(c) != folded[i] {
			return false
		}
		i++
	}
	return i == len(folded)
}

// refuseReserved is the front door's verdict on a call that sends a header
// reserved to the service (see ReservedHeader), decided before any storage
// request.
func (d *FrontDoor) refuseReserved(r *http.Request, path string) (Verdict, bool) {
	name := ReservedHeader(r.Header)
	if name == "" {
		return Verdict{}, false
	}
	ctx := r.Context()
	d.log.InfoContext(ctx, "authorize", "request_id", RequestID(ctx), "outcome", "reserved_header",
		"header", strings.ToLower(name))
	if path == JSONRPCPath {
		return Verdict{Status: errInvalidRequest.status, Body: errorJSON(surfaceOf(path), errInvalidRequest), err: errReservedHeader}, true
	}
	return Verdict{Status: errUnauthenticated.status, Body: errorJSON(surfaceOf(path), errUnauthenticated), err: errReservedHeaderAuth}, true
}
