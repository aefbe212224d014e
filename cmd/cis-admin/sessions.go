package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// sessionLine is one session as `-json` prints it: one object a line.
// Never a token; the handle names it (session.Handle), and leads to no id.
type sessionLine struct {
	User         string `json:"user"`
	Handle       string `json:"handle"`
	Hash         string `json:"hash_prefix"`
	Created      string `json:"created"`
	LastAccessed string `json:"last_accessed"`
	Source       string `json:"source"`
	UserAgent    string `json:"user_agent"`
	Surface      string `json:"surface"`
	Method       string `json:"method"`
	Provider     string `json:"provider,omitempty"`
	Subject      string `json:"subject,omitempty"`
	SID          string `json:"sid,omitempty"`
	Calls        int64  `json:"calls"`
	State        string `json:"state"`
}

func lineOf(r session.Record, l session.Lifetime, now time.Time) sessionLine {
	state := "live"
	switch {
	case now.Sub(r.Created) >= l.Absolute:
		state = "expired (absolute)"
	case now.Sub(r.LastAccessed) >= l.Idle:
		state = "expired (idle)"
	}
	o := r.Origin
	return sessionLine{User: r.User, Handle: session.Handle(r.Hash), Hash: r.Hash.String()[:session.HashPrefixLen],
		Created: stamp(r.Created), LastAccessed: stamp(r.LastAccessed), Source: o.Source, UserAgent: o.UserAgent,
		Surface: o.Surface, Method: o.Method, Provider: o.Provider, Subject: o.Subject, SID: o.SID, Calls: r.Calls, State: state}
}

// printSessions prints recs as a table (or JSON lines), user first when
// withUser; it returns how many are live.
func printSessions(stdout io.Writer, recs []session.Record, l session.Lifetime, asJSON, withUser bool) (int, error) {
	now := time.Now()
	live := 0
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			line := lineOf(r, l, now)
			if line.State == "live" {
				live++
			}
			if err := enc.Encode(line); err != nil {
				return live, err
			}
		}
		return live, nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	head := "HANDLE\tHASH\tCREATED\tLAST ACCESS\tIDLE EXPIRY\tABSOLUTE EXPIRY\tSTATE\tSOURCE\tSURFACE\tMETHOD\tCALLS\tUSER AGENT"
	if withUser {
		head = "USER\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, r := range recs {
		line := lineOf(r, l, now)
		if line.State == "live" {
			live++
		}
		method := line.Method
		if line.Provider != "" {
			method += " (" + line.Provider + ")"
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s", line.Handle, line.Hash,
			line.Created, line.LastAccessed, stamp(r.LastAccessed.Add(l.Idle)), stamp(r.Created.Add(l.Absolute)), line.State,
			dash(line.Source), dash(line.Surface), dash(method), line.Calls, dash(strings.ReplaceAll(line.UserAgent, "\t", " ")))
		if withUser {
			row = line.User + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	return live, tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listSessions prints the user's stored sessions, oldest first: never a
// token, only its handle and a prefix of its hash to name it by. The last
// line says which kind of user they are: local, or federated by which
// identity provider.
func listSessions(ctx context.Context, stdout io.Writer, users *dynamo.Users, sessions *dynamo.Sessions, l session.Lifetime, name, idp string, asJSON bool) error {
	u, recs, err := userSessions(ctx, users, sessions, name, idp)
	if err != nil {
		return err
	}
	live, err := printSessions(stdout, recs, l, asJSON, false)
	if err != nil || asJSON {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s (%s): %s, %d live\n", u.Name, kind(idp), plural(len(recs), "session"), live)
	return err
}

// DefaultPageSize is how many sessions `cis-admin sessions` prints a page.
const DefaultPageSize = 50

// allSessions prints every live session, newest activity first, a page of
// them: `cis-admin sessions [-json] [-limit N] [-page P]`.
func allSessions(ctx context.Context, args []string, stdout, stderr io.Writer, sessions *dynamo.Sessions, l session.Lifetime) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object a line")
	limit := fs.Int("limit", DefaultPageSize, "sessions a page")
	page := fs.Int("page", 1, "which page, from 1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *limit < 1 || *page < 1 {
		return errors.New("sessions takes only -json, -limit N (1 or more) and -page P (1 or more)")
	}
	stored, err := sessions.ListStored(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var recs []session.Record
	for _, r := range stored {
		if l.Live(r.Session, now) {
			recs = append(recs, r)
		}
	}
	total := len(recs)
	from := min((*page-1)**limit, total)
	to := min(from+*limit, total)
	if _, err := printSessions(stdout, recs[from:to], l, *asJSON, true); err != nil || *asJSON {
		return err
	}
	pages := max(1, (total+*limit-1) / *limit)
	_, err = fmt.Fprintf(stdout, "%s live; page %d of %d\n", plural(total, "session"), *page, pages)
	return err
}

// findHandle returns the stored session whose handle is handle.
func findHandle(ctx context.Context, sessions *dynamo.Sessions, handle string) (session.Record, error) {
	recs, err := sessions.ListStored(ctx)
	if err != nil {
		return session.Record{}, err
	}
	for _, r := range recs {
		if session.Handle(r.Hash) == handle {
			return r, nil
		}
	}
	return session.Record{}, session.Errorf(session.ENOTFOUND, "no session has the handle %q", handle)
}

// endByHandle ends the one session whose handle is handle, on every surface.
func endByHandle(ctx context.Context, stdout io.Writer, sessions *dynamo.Sessions, handle string) (session.Record, error) {
	r, err := findHandle(ctx, sessions, handle)
	if err != nil {
		return r, err
	}
	if err := sessions.End(ctx, r.User, r.IdP, r.Hash); err != nil {
		return r, err
	}
	_, err = fmt.Fprintf(stdout, "ended session %s of %s (%s)\n", handle, r.User, kind(r.IdP))
	return r, err
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
