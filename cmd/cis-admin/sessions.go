package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/cis-session/cis-session/internal/dynamo"
	"github.com/cis-session/cis-session/internal/session"
)

// userSessions returns the user name of idp ("" for the local user) and
// the sessions stored for it. A federated user (docs/FEDERATION.md) is in
// no users table: a name with sessions is a user all the same, and never
// the local user of the same name. A name with neither is an error, not an
// empty list.
func userSessions(ctx context.Context, users *dynamo.Users, sessions *dynamo.Sessions, name, idp string) (session.User, []session.Record, error) {
	var u session.User
	var uerr error = session.Errorf(session.ENOTFOUND, "no federated user %s of %s", name, idp)
	if idp == "" {
		u, uerr = users.User(ctx, name)
	}
	if uerr != nil && session.ErrorCode(uerr) != session.ENOTFOUND {
		return session.User{}, nil, uerr
	}
	recs, err := sessions.ListUser(ctx, name, idp)
	switch {
	case err != nil:
		return session.User{}, nil, err
	case uerr == nil:
		return u, recs, nil
	case len(recs) == 0:
		return session.User{}, nil, uerr
	}
	return session.User{Name: recs[0].User}, recs, nil
}

// listSessions prints the user's stored sessions, oldest first: never a
// token, only a prefix of its hash to name it by. The last line says which
// kind of user they are: local, or federated by which identity provider.
func listSessions(ctx context.Context, stdout io.Writer, users *dynamo.Users, sessions *dynamo.Sessions, l session.Lifetime, name, idp string) error {
	u, recs, err := userSessions(ctx, users, sessions, name, idp)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HASH\tCREATED\tLAST ACCESS\tIDLE EXPIRY\tABSOLUTE EXPIRY\tSTATE")
	live := 0
	for _, r := range recs {
		state := "live"
		switch {
		case now.Sub(r.Created) >= l.Absolute:
			state = "expired (absolute)"
		case now.Sub(r.LastAccessed) >= l.Idle:
			state = "expired (idle)"
		default:
			live++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Hash.String()[:session.HashPrefixLen],
			stamp(r.Created), stamp(r.LastAccessed), stamp(r.LastAccessed.Add(l.Idle)), stamp(r.Created.Add(l.Absolute)), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s (%s): %s, %d live\n", u.Name, kind(idp), plural(len(recs), "session"), live)
	return err
}

// endSession ends the one session of the user whose token hash starts with
// prefix.
func endSession(ctx context.Context, stdout io.Writer, users *dynamo.Users, sessions *dynamo.Sessions, name, idp, prefix string) error {
	u, recs, err := userSessions(ctx, users, sessions, name, idp)
	if err != nil {
		return err
	}
	r, err := session.FindByPrefix(recs, u.Name, prefix)
	if err != nil {
		return err
	}
	if err := sessions.End(ctx, name, idp, r.Hash); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "ended session %s of %s (%s)\n", r.Hash.String()[:session.HashPrefixLen], u.Name, kind(idp))
	return err
}

// endAllSessions gives the user a new revision, so that a log-in in flight
// keeps no session, then ends every session the user holds.
// It returns how many it ended. A federated user has no revision (nor a
// password to change): their sessions are ended all the same, and the
// identity provider is what stops new ones (docs/FEDERATION.md). Only the
// user of idp is touched: a local user and a federated one of the same
// name are two users.
func endAllSessions(ctx context.Context, stdout io.Writer, users *dynamo.Users, revoke session.Revocation, name, idp string) (int, error) {
	var rerr error = session.Errorf(session.ENOTFOUND, "no federated user %s of %s", name, idp)
	if idp == "" {
		rerr = users.Revise(ctx, name)
	}
	if rerr != nil && session.ErrorCode(rerr) != session.ENOTFOUND {
		return 0, rerr
	}
	ended, err := revoke.EndAll(ctx, name, idp)
	if err != nil {
		return 0, err
	}
	if rerr != nil && ended == 0 {
		return 0, rerr // no such user, and no sessions of a federated one
	}
	_, err = fmt.Fprintf(stdout, "ended %s of %s (%s)\n", plural(ended, "session"), name, kind(idp))
	return ended, err
}

// kind says which kind of user the sessions of idp are: "local", or
// "federated by ISSUER".
func kind(idp string) string {
	if idp == "" {
		return "local"
	}
	return "federated by " + idp
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
