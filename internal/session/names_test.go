package session

import "testing"

// lookAlikes are names that read, in a log line or an upstream's header,
// as alice@corp.example or administrator@vsphere.local do, or as nothing
// at all where they differ.
var lookAlikes = map[string]string{
	"trailing space":            "alice@corp.example ",
	"leading space":             " alice@corp.example",
	"trailing dot":              "alice@corp.example.",
	"no-break space inside":     "alice\u00a0@corp.example",
	"zero-width space inside":   "ali\u200bce@corp.example",
	"zero-width joiner":         "alice@corp\u200d.example",
	"zero-width non-joiner":     "alice@corp\u200c.example",
	"word joiner":               "alice\u2060@corp.example",
	"byte order mark":           "\ufeffalice@corp.example",
	"soft hyphen":               "al\u00adice@corp.example",
	"left-to-right mark":        "alice@corp.example\u200e",
	"right-to-left override":    "alice@\u202eelpmaxe.proc",
	"tab":                       "alice\t@corp.example",
	"line separator":            "alice\u2028@corp.example",
	"ideographic space":         "alice\u3000@corp.example",
	"variation selector":        "alice\ufe0f@corp.example",
	"combining grapheme joiner": "alice\u034f@corp.example",
	"Hangul filler":             "alice\u3164@corp.example",
	"braille blank":             "alice\u2800@corp.example",
	"delete":                    "alice\x7f@corp.example",
	"C1 control":                "alice\u0085@corp.example",
	"private use":               "alice\ue000@corp.example",
	"replacement character":     "alice\ufffd@corp.example",
	"trailing space, admin":     "administrator@vsphere.local ",
}

func TestLookAlikeNamesAreNoUsersNames(t *testing.T) {
	for why, name := range lookAlikes {
		if got, ok := QualifyName(name, "vsphere.local"); ok {
			t.Errorf("%s: QualifyName(%q) = %q; want refused", why, name, got)
		}
		if got, ok := FederatedName(name, "vsphere.local"); ok {
			t.Errorf("%s: FederatedName(%q) = %q; want refused", why, name, got)
		}
	}
	// The Windows form and a bare name are qualified first, and held to
	// the same rule.
	for _, name := range []string{`CORP.\alice`, "alice\u200b", `CORP\ alice`} {
		if got, ok := QualifyName(name, "vsphere.local"); ok {
			t.Errorf("QualifyName(%q) = %q; want refused", name, got)
		}
	}
}

func TestCanonicalNamesStillLogIn(t *testing.T) {
	for _, name := range []string{"alice@corp.example", "Alice.Smith@Corp.Example", "o'brien@corp.example",
		"jürgen@corp.example", "李@corp.example", "a-b_c+d@sub.corp.example"} {
		if got, ok := QualifyName(name, "vsphere.local"); !ok || got != name {
			t.Errorf("QualifyName(%q) = %q, %v; want it unchanged", name, got, ok)
		}
	}
}

func TestALocalAndAFederatedUserOfOneNameAreTwoIdentities(t *testing.T) {
	const idp = "https://idp.example"
	local := IdentityKey("alice@corp.example", "")
	fed := IdentityKey("ALICE@corp.example", idp)
	if local == fed {
		t.Fatalf("IdentityKey: local and federated alice are both %q", local)
	}
	if local != UserKey("alice@corp.example") {
		t.Errorf("IdentityKey(local) = %q; want UserKey's %q, as stored before federated users had their own", local, UserKey("alice@corp.example"))
	}
	if IdentityKey("Alice@Corp.Example", idp) != fed {
		t.Errorf("IdentityKey: one federated user in two letter cases is two keys")
	}
	if IdentityKey("alice@corp.example", "https://other.example") == fed {
		t.Errorf("IdentityKey: two identity providers' alice are one key")
	}
	l := Session{User: "alice@corp.example"}
	f := Session{User: "alice@corp.example", IdP: idp}
	if l.Identity() == f.Identity() || l.Kind() != LocalIdP || f.Kind() != idp {
		t.Errorf("sessions: local %q/%q, federated %q/%q; want different identities and kinds local and the issuer",
			l.Identity(), l.Kind(), f.Identity(), f.Kind())
	}
}

func TestABearerLogInsSessionNamesItsIdentityProvider(t *testing.T) {
	svc, rec := newBearerService(fedStub{user: "alice@corp.example"}, stubSessions{}, 550)
	_, sess, err := svc.LoginBearer(t.Context(), "a.b.c")
	if err != nil || sess.IdP != (fedStub{}).Issuer() {
		t.Fatalf("LoginBearer = %+v, %v; want a session of idp %q", sess, err, (fedStub{}).Issuer())
	}
	// The audit trail tells the federated user from the local one too.
	if len(*rec) != 1 || (*rec)[0].IdP != (fedStub{}).Issuer() {
		t.Errorf("recorded %+v; want the log-in with its idp", *rec)
	}
}
