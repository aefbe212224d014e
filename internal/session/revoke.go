package session

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// UserSessionStore is the operator's handle on one user's sessions: what
// revocation, `cis-admin list-sessions` and `end-sessions` need.
type UserSessionStore interface {
	// ListUser returns the stored sessions of the user name (compared
	// case-insensitively) vouched for by idp ("" for a local user), live or not, as the table holds them now (the
	// index that finds them may lag a moment behind sessions just created).
	ListUser(ctx context.Context, name, idp string) ([]Record, error)
	// End removes the session h of the user name of idp, live or not;
	// ENOTFOUND when that user has no such session.
	End(ctx context.Context, name, idp string, h TokenHash) error
}

// Revocation ends every session of a user after the user's credentials have
// changed (a new password, a removal, an operator's order), in sweeps of
// the user's index entries until Quiet has passed without finding one.
//
// Why that is enough: a log-in confirms, after writing its session, that
// the user's revision is still the one whose password it checked (Service
// .Login); so every session a client received was written before the change,
// and is found by a sweep once the index shows it. A log-in that sees the
// change deletes its own session and never hands out its token. What the
// sweep can miss is a session written before the change whose index entry
// took longer than Quiet to appear.
type Revocation struct {
	Store UserSessionStore
	// Quiet is how long after the change a sweep must keep finding nothing
	// before the revocation is done: the index lag it allows for.
	Quiet time.Duration
	// Poll is the pause between sweeps; Quiet/4, at most 250 ms, when zero.
	Poll time.Duration
	// MaxSweeps bounds the sweeps: when sessions are still being found
	// after that many, EndAll gives up with EUNAVAILABLE. Zero: four times
	// the sweeps Quiet takes, and at least 8.
	MaxSweeps int
}

// DefaultRevocationQuiet is the index lag a revocation allows for. DynamoDB
// documents no bound; under normal conditions a global secondary index
// follows its table within a fraction of a second.
const DefaultRevocationQuiet = 2 * time.Second

// EndAll ends every session of the user name vouched for by idp ("" for
// a local user) and returns how many it ended. Call it after the change that stops new log-ins of the old
// credentials has been stored.
//
// A session is ended once: one the index lists again (its entry not yet
// gone, or stale) is not tried again and does not restart the quiet
// period, so an entry that outlives its item cannot keep the sweep going.
// Sessions that keep appearing (log-ins racing the change) end it after
// MaxSweeps with EUNAVAILABLE; so does ctx.
func (r Revocation) EndAll(ctx context.Context, name, idp string) (int, error) {
	poll := r.Poll
	if poll <= 0 {
		poll = min(r.Quiet/4, 250*time.Millisecond)
	}
	sweeps := r.MaxSweeps
	if sweeps <= 0 {
		sweeps = max(8, 4*int(r.Quiet/max(poll, time.Millisecond)))
	}
	ended := 0
	tried := map[TokenHash]bool{}
	lastSeen := time.Now()
	for sweep := 1; ; sweep++ {
		recs, err := r.Store.ListUser(ctx, name, idp)
		if err != nil {
			return ended, err
		}
		found := false
		for _, rec := range recs {
			if tried[rec.Hash] {
				continue
			}
			found = true
			switch err := r.Store.End(ctx, name, idp, rec.Hash); ErrorCode(err) {
			case "":
				ended++
			case ENOTFOUND: // gone meanwhile: a log-out, or a log-in undoing itself
			default:
				return ended, err
			}
			tried[rec.Hash] = true
		}
		if found {
			lastSeen = time.Now()
		} else if time.Since(lastSeen) >= r.Quiet {
			return ended, nil
		}
		if sweep >= sweeps {
			return ended, Errorf(EUNAVAILABLE, "end sessions of %s: sessions still appearing after %d sweeps", name, sweep)
		}
		select {
		case <-ctx.Done():
			return ended, fmt.Errorf("end sessions of %s: %w", name, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// HashPrefixLen is how many hex digits of a session's token hash name it
// to an operator: 48 bits, unique among a user's sessions in practice; a
// longer prefix settles a clash.
const HashPrefixLen = 12

// FindByPrefix returns the one record whose token hash (hex) starts with
// prefix. An empty, non-hex, unknown or ambiguous prefix is an error that
// says which.
func FindByPrefix(recs []Record, user, prefix string) (Record, error) {
	p := strings.ToLower(prefix)
	if p == "" || len(p) > 2*len(TokenHash{}) {
		return Record{}, Errorf(EINVALID, "%q is not a session hash prefix: give 1 to %d hex digits", prefix, 2*len(TokenHash{}))
	}
	if _, err := hex.DecodeString(p + strings.Repeat("0", len(p)%2)); err != nil {
		return Record{}, Errorf(EINVALID, "%q is not a session hash prefix: hex digits only", prefix)
	}
	var found []Record
	for _, r := range recs {
		if strings.HasPrefix(r.Hash.String(), p) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return Record{}, Errorf(ENOTFOUND, "%s has no session whose hash starts with %s", user, p)
	case 1:
		return found[0], nil
	}
	return Record{}, Errorf(EINVALID, "%s names %d sessions of %s: give more digits of the hash", p, len(found), user)
}

// keep checks, after a log-in has written its session, that the user as
// read again (u, or err) is still the one whose password it checked: same
// revision. If not (the password was reset, the user removed, added again,
// or their sessions ended meanwhile), it deletes the session and refuses the
// log-in, so that a revocation cannot miss a session whose token a client
// holds.
func (s *Service) keep(ctx context.Context, u User, err error, checked User, h TokenHash, now time.Time) error {
	if err == nil && u.Revision == checked.Revision {
		return nil
	}
	if derr := s.Sessions.Delete(ctx, h, now, s.Lifetime); derr != nil && ErrorCode(derr) != ENOTFOUND {
		// Its token is never handed out, so the session is of no use to
		// anyone: the failure is only the operator's to know.
		return derr
	}
	switch ErrorCode(err) {
	case "", ENOTFOUND:
		return Errorf(EUNAUTHENTICATED, "the account %s changed during the log-in", checked.Name)
	}
	return err
}
