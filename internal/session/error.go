package session

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP surface alone maps them to statuses and vAPI bodies.
const (
	EUNAUTHENTICATED = "unauthenticated" // no credentials, bad credentials, or no such live session
	ENOTFOUND        = "not_found"       // a stored thing does not exist (or is expired)
	EINVALID         = "invalid"         // the request is malformed
	ELIMIT           = "limit"           // a user has too many sessions
	EUNAVAILABLE     = "unavailable"     // the backend failed; details go to the log only
	EINTERNAL        = "internal"        // a bug
)

// Error is a domain error with a machine code. Code is all a client may
// learn of it (the HTTP surface chooses the words); Message and the wrapped
// Err say what happened, for the operator's log only.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Code + ": " + e.Err.Error()
	default:
		return e.Code + ": " + e.Message
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a backend failure: the client learns only that the
// service is unavailable.
func Unavailable(op string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Err: fmt.Errorf("%s: %w", op, err)}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, EINTERNAL for any other non-nil error, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// SessionLimitError is why a log-in was refused at the per-user session cap
// (code ELIMIT): the facts, which the HTTP surface words as vCenter does.
type SessionLimitError struct {
	Limit    int    // the cap in force
	Existing int    // the user's live sessions when it was checked
	User     string // canonical name@domain of the user
}

func (e *SessionLimitError) Error() string {
	return fmt.Sprintf("user %s has %d live sessions, the cap is %d", e.User, e.Existing, e.Limit)
}
