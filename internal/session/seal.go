package session

import (
	"errors"
	"time"
)

// Sealer seals a session at log-in and tells a sealed session from an item
// log-in did not make (written straight into storage, restored and edited,
// made by a role that may only touch sessions). The store that holds one
// seals what Create stores and refuses, as no session, what a touch finds
// unsealed. Package assertion's KeySet is the one that ships: its key is
// held by the functions that log in and the front door only.
type Sealer interface {
	// Seal returns the seal of the session of tokenHash, made by user at
	// created; user is the session's Identity (a federated user's carries
	// its issuer).
	Seal(tokenHash []byte, user string, created time.Time) string
	// Sealed reports whether seal is that session's seal.
	Sealed(tokenHash []byte, user string, created time.Time, seal string) bool
}

// Why a stored item is no session, for the operator's log: the client is
// told only that there is no live session (ENOTFOUND, then the same 401
// as for an unknown one).
var (
	// ErrUnsealed: the item carries no seal, or one that is not its own: log-in
	// did not make it (or made it before seals existed).
	ErrUnsealed = errors.New("unsealed_session: the item carries no valid log-in seal")
	// ErrMalformed: the item lacks what log-in writes (a user, a creation
	// time), so log-in did not make it.
	ErrMalformed = errors.New("malformed_session: the item lacks what log-in writes")
)

// RefusedCause names why err refused a session that was stored but is no
// session ("unsealed_session", "malformed_session"), or "" for any other
// error: a log attribute operators can filter and count on.
func RefusedCause(err error) string {
	switch {
	case errors.Is(err, ErrUnsealed):
		return "unsealed_session"
	case errors.Is(err, ErrMalformed):
		return "malformed_session"
	}
	return ""
}
