package session

import (
	"strings"
	"unicode"
)

// canonicalName reports whether a qualified name (name@domain) is in the
// one form every user name takes, local or federated: no character a
// reader cannot see or tell from another (whitespace of any kind, control
// and format characters, the default-ignorable ones such as zero-width
// spaces, joiners and variation selectors), and no trailing dot. Such a
// name could look, in a log or an upstream's header, byte for byte or
// glyph for glyph like another user's ("administrator@vsphere.local "),
// so it is no user's name at all. Letter case is no difference: names are
// compared as UserKey folds them.
func canonicalName(name string) bool {
	if strings.HasSuffix(name, ".") {
		return false // "corp.example." is DNS's spelling of corp.example
	}
	for _, r := range name {
		if invisible(r) {
			return false
		}
	}
	return true
}

// invisible reports whether r is whitespace, a control or format character,
// or one Unicode says to draw as nothing (Default_Ignorable_Code_Point, or
// a blank that is a letter, such as the Hangul fillers and the braille
// blank).
func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp,
		unicode.Co, unicode.Cs, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
		r == '\u2800' || r == '\u3164' || r == '\uffa0' || r == '\u115f' || r == '\u1160' || r == '\ufffd'
}

// QualifyStoredName is QualifyName without the canonical form: for the
// operator to name, and remove, a user added before names had one form.
// No log-in takes it.
func QualifyStoredName(login, defaultDomain string) (string, bool) {
	return qualify(login, defaultDomain)
}

// LocalIdP is the identity provider of a local user (the users table), as
// the assertion's idp claim names it; a federated user's is the issuer URL
// of the identity provider that vouched for them.
const LocalIdP = "local"

// IdentityKey is the form a session's user is found by: the user's name
// as UserKey folds it, and for a federated user the issuer that vouched
// for them after a tab, which no name may hold. A local user and a
// federated one of the same name are never the same identity: their
// sessions, their cap and the operator's view of them stay apart. A local
// user's key is UserKey's, as it was before federated users had their own.
func IdentityKey(name, idp string) string {
	if idp == "" {
		return UserKey(name)
	}
	return UserKey(name) + "\t" + idp
}

// Identity is what a session's seal covers of who it is for: the user's
// name, and for a federated user the issuer after a tab (a local user's is
// the name alone, as sessions sealed before federated users had their own).
func (s Session) Identity() string {
	if s.IdP == "" {
		return s.User
	}
	return s.User + "\t" + s.IdP
}

// Kind names the identity provider of the session's user for the
// upstream and the operator: LocalIdP, or the issuer URL.
func (s Session) Kind() string {
	if s.IdP == "" {
		return LocalIdP
	}
	return s.IdP
}
