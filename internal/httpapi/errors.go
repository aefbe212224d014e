package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/cis-session/cis-session/internal/session"
)

// Challenge is what the endpoint accepts, in WWW-Authenticate syntax. It is
// both the header of a 401 and the vAPI Unauthenticated error's challenge:
// of every 401 but a log-in's with federation on (ChallengeFederated),
// whatever the deployment (get, delete, the front door).
const Challenge = `Basic realm="VAPI endpoint"`

// ChallengeFederated is the challenge of a log-in (create, on each
// surface) when bearer log-in is on: two challenges in one header,
// comma-separated (RFC 7235 section 4.1), the second RFC 6750's. Only the
// log-in offers Bearer, for only the log-in takes a token: RFC 7235
// section 3.1 asks a 401 for challenges "applicable to the target
// resource", and a get or a delete takes a session id, never a token. So
// the challenge is the operation's, not the process's, and the deployed
// get and delete functions, which do not know the identity provider,
// answer as `make run` does. It carries no error="invalid_token" (RFC 6750
// section 3.1): a refused token is answered exactly as a wrong password is.
const ChallengeFederated = Challenge + `, Bearer realm="VAPI endpoint"`

// message is a Vapi.Std.LocalizableMessage.
type message struct {
	Args           []string `json:"args"`
	DefaultMessage string   `json:"default_message"`
	ID             string   `json:"id"`
}

// vapiError is a Vapi.Std.Errors.Error as the /api surface sends it.
type vapiError struct {
	ErrorType string    `json:"error_type"`
	Messages  []message `json:"messages"`
	Challenge string    `json:"challenge,omitempty"`
}

// wireError is one error as a client sees it, whatever the surface.
type wireError struct {
	status int
	body   vapiError
}

// vAPI error types and the statuses they travel with.
var (
	errUnauthenticated = wireError{http.StatusUnauthorized, vapiError{
		ErrorType: "UNAUTHENTICATED",
		Messages:  []message{{Args: []string{}, DefaultMessage: "Authentication required.", ID: "com.vmware.vapi.endpoint.method.authentication.required"}},
		Challenge: Challenge,
	}}
	errUnavailable = wireError{http.StatusServiceUnavailable, vapiError{
		ErrorType: "SERVICE_UNAVAILABLE",
		Messages:  []message{{Args: []string{}, DefaultMessage: "Service unavailable.", ID: "com.vmware.vapi.std.errors.service_unavailable"}},
	}}
	errNotFound = wireError{http.StatusNotFound, vapiError{
		ErrorType: "NOT_FOUND",
		Messages:  []message{{Args: []string{}, DefaultMessage: "Not found.", ID: "com.vmware.vapi.rest.httpNotFound"}},
	}}
	errOperationNotFound = wireError{http.StatusNotFound, vapiError{
		ErrorType: "OPERATION_NOT_FOUND",
		Messages:  []message{{Args: []string{}, DefaultMessage: "Operation not found.", ID: "com.vmware.vapi.rest.operationNotFound"}},
	}}
	errInvalidRequest = wireError{http.StatusBadRequest, vapiError{
		ErrorType: "INVALID_REQUEST",
		Messages:  []message{{Args: []string{}, DefaultMessage: "Invalid request.", ID: "com.vmware.vapi.rest.badRequest"}},
	}}
)

// toWire maps a domain error to what the client sees. This is the one place
// that knows which code becomes which status and which words.
func toWire(err error) wireError {
	var capped *session.SessionLimitError
	switch code := session.ErrorCode(err); {
	case code == session.EUNAUTHENTICATED:
		return errUnauthenticated
	case code == session.ENOTFOUND:
		// The service says when a missing thing means "log in again"
		// (EUNAUTHENTICATED); what is left is a resource that is not there.
		return errNotFound
	case code == session.EINVALID:
		return errInvalidRequest
	case code == session.ELIMIT && errors.As(err, &capped):
		return errTooManySessions(capped)
	default:
		// EUNAVAILABLE, and anything unexpected: the client learns only
		// that the service cannot answer now; the log has the detail.
		return errUnavailable
	}
}

// errTooManySessions is vCenter's answer to a log-in past the per-user
// session cap: 503, with the limit, the count and the user as arguments.
func errTooManySessions(e *session.SessionLimitError) wireError {
	l, n := strconv.Itoa(e.Limit), strconv.Itoa(e.Existing)
	return wireError{http.StatusServiceUnavailable, vapiError{
		ErrorType: "SERVICE_UNAVAILABLE",
		Messages: []message{{
			Args:           []string{l, n, e.User},
			DefaultMessage: "User session count is limited to " + l + ". Existing session count is " + n + " for user " + e.User,
			ID:             "com.vmware.vapi.endpoint.failedToLoginMaxUserSessionCountReached",
		}},
	}}
}

// InvalidRequestBody is the body of a 400 for a request to path that cannot
// be parsed at all, for adapters that reject it before the handler sees it.
func InvalidRequestBody(path string) string {
	b, _ := json.Marshal(surfaceOf(path).errorBody(errInvalidRequest))
	return string(b)
}
