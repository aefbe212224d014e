package session

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fedStub is an identity provider that names user, or refuses with err.
type fedStub struct {
	user string
	err  error
}

func (f fedStub) Verify(context.Context, string) (Identity, error) {
	return Identity{Name: f.user, Issuer: "https://idp.example", Subject: "s-" + f.user}, f.err
}
func (fedStub) Issuer() string { return "https://idp.example" }

// events records what the service records.
type events []Event

func (e *events) Record(_ context.Context, ev Event) { *e = append(*e, ev) }

// noUsers fails the test if a bearer log-in reads the users table.
type noUsers struct{ UserStore }

func (noUsers) User(context.Context, string) (User, error) {
	panic("a bearer log-in read the users table")
}

func newBearerService(fed Federation, sessions stubSessions, max int) (*Service, *events) {
	rec := &events{}
	return &Service{Sessions: sessions, Users: noUsers{}, Passwords: plainPasswords{}, Federation: fed, Recorder: rec,
		Policy: Policy{Lifetime: DefaultLifetime, DefaultDomain: "vsphere.local", MaxSessionsPerUser: max}}, rec
}

func TestFederatedNamesHaveADomainOfTheirOwn(t *testing.T) {
	for claim, want := range map[string]string{
		"alice@corp.example":          "alice@corp.example",
		"Alice.Smith@Corp.Example":    "Alice.Smith@Corp.Example",
		"alice":                       "", // would become the local alice@vsphere.local
		"administrator@vsphere.local": "", // the local domain is the users table's
		"administrator@VSPHERE.LOCAL": "",
		`CORP\alice`:                  "", // the Windows form is a password log-in's
		"alice@":                      "",
		"@corp.example":               "",
		"a@b@corp.example":            "",
		"alice\n@corp.example":        "",
		strings.Repeat("a", MaxUserLen) + "@corp.example": "",
	} {
		got, ok := FederatedName(claim, "vsphere.local")
		if got != want || ok != (want != "") {
			t.Errorf("FederatedName(%q) = %q, %v; want %q", claim, got, ok, want)
		}
	}
}

func TestABearerLogInOpensASessionWithoutTheUsersTable(t *testing.T) {
	svc, rec := newBearerService(fedStub{user: "alice@corp.example"}, stubSessions{}, 550)
	tok, sess, err := svc.LoginBearer(context.Background(), "a.b.c")
	if err != nil || sess.User != "alice@corp.example" || tok == "" {
		t.Fatalf("LoginBearer = %q, %+v, %v", tok, sess, err)
	}
	if len(*rec) != 1 || (*rec)[0].Kind != EventLogin || (*rec)[0].User != "alice@corp.example" {
		t.Errorf("recorded %+v; want one log-in of alice@corp.example", *rec)
	}
}

func TestEveryRefusedBearerIsTheWrongPasswordsCodeWithItsCauseRecorded(t *testing.T) {
	cases := []struct {
		name  string
		fed   Federation
		token string
		cause Cause
	}{
		{"FederationOff", nil, "a.b.c", CauseNoFederation},
		{"Empty", fedStub{user: "alice@corp.example"}, "", CauseMalformed},
		{"TooLong", fedStub{user: "alice@corp.example"}, strings.Repeat("a", MaxBearerLen+1), CauseMalformed},
		{"Expired", fedStub{err: &TokenError{Cause: CauseExpired, Err: errors.New("exp")}}, "a.b.c", CauseExpired},
		{"NotInGroup", fedStub{user: "alice@corp.example", err: &TokenError{Cause: CauseNotInGroup, Err: errors.New("g")}}, "a.b.c", CauseNotInGroup},
		{"LocalDomain", fedStub{user: "root@vsphere.local"}, "a.b.c", CauseBadUserClaim},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc, rec := newBearerService(c.fed, stubSessions{}, 0)
			_, _, err := svc.LoginBearer(context.Background(), c.token)
			if ErrorCode(err) != EUNAUTHENTICATED {
				t.Fatalf("LoginBearer = %v; want %s", err, EUNAUTHENTICATED)
			}
			if len(*rec) != 1 || (*rec)[0].Kind != EventLoginRefused || (*rec)[0].Cause != c.cause {
				t.Errorf("recorded %+v; want one refusal for %s", *rec, c.cause)
			}
			if c.token != "" && strings.Contains(err.Error(), c.token) {
				t.Errorf("the error holds the token: %v", err)
			}
		})
	}
}

func TestAnUnreachableIssuerIsUnavailableNotARefusal(t *testing.T) {
	svc, rec := newBearerService(fedStub{err: Unavailable("oidc discovery", errors.New("connection refused"))}, stubSessions{}, 0)
	if _, _, err := svc.LoginBearer(context.Background(), "a.b.c"); ErrorCode(err) != EUNAVAILABLE {
		t.Fatalf("LoginBearer = %v; want %s", err, EUNAVAILABLE)
	}
	if len(*rec) != 1 || (*rec)[0].Kind != EventBackendFailure || (*rec)[0].Op != "oidc" {
		t.Errorf("recorded %+v; want one backend failure of oidc", *rec)
	}
}

func TestABearerLogInKeepsTheSessionCap(t *testing.T) {
	svc, _ := newBearerService(fedStub{user: "alice@corp.example"}, stubSessions{count: 3}, 3)
	_, _, err := svc.LoginBearer(context.Background(), "a.b.c")
	var capped *SessionLimitError
	if ErrorCode(err) != ELIMIT || !errors.As(err, &capped) || capped.User != "alice@corp.example" {
		t.Fatalf("LoginBearer = %v; want %s for alice@corp.example", err, ELIMIT)
	}
}
