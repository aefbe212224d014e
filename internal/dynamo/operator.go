package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/internal/session"
)

// SessionsBySubject is the sessions table's sparse global secondary index
// of federated sessions by their provider and subject (attribute
// oidc_subject), projecting besides the keys only oidc_sid, user and idp,
// which never change: what a back-channel logout needs to find a subject's
// or a provider session's sessions and end each as its user's. Only a federated log-in writes it; a get never does.
const SessionsBySubject = "by-oidc-subject"

// SessionsBySID is the sessions table's sparse global secondary index of
// federated sessions by their provider session (attribute oidc_sid_key,
// SIDKey), projecting besides the keys only user and idp: what a logout
// token that names a sid and no sub needs to end that provider session's
// sessions. Only a federated log-in whose token had a sid writes it; a get
// never does.
const SessionsBySID = "by-oidc-sid"

// SessionsBySIDKey is the hash key of SessionsBySID (type S).
const SessionsBySIDKey = attrSIDKey

// SessionsBySIDProjection lists what SessionsBySID includes beside the keys.
func SessionsBySIDProjection() []string { return []string{attrUser, attrIdP} }

// SIDKey is the SessionsBySID key of issuer's provider session sid: an
// issuer is a URL, which holds no tab, so one provider's sid never matches
// another's.
func SIDKey(issuer, sid string) string { return issuer + "\t" + sid }

// SessionsBySubjectKey is the hash key of SessionsBySubject (type S).
const SessionsBySubjectKey = attrSubjectKey

// SessionsBySubjectProjection lists what SessionsBySubject includes beside the keys.
func SessionsBySubjectProjection() []string { return []string{attrSID, attrUser, attrIdP} }

// SubjectKey is the SessionsBySubject key of issuer's subject sub: an
// issuer is a URL, which holds no space.
func SubjectKey(issuer, sub string) string { return issuer + " " + sub }

// ListStored returns every session the table holds, live or not, newest
// activity first, each with what log-in recorded of it: a strongly
// consistent Scan, for the operator's view (never on a request's path). It
// reads the whole table whatever it keeps, so it keeps all: Lifetime.Live
// tells the live ones.
func (s *Sessions) ListStored(ctx context.Context) ([]session.Record, error) {
	in := &dynamodb.ScanInput{
		TableName:        aws.String(s.Table),
		ConsistentRead:   aws.Bool(true),
		FilterExpression: aws.String("attribute_exists(" + attrUserKey + ")"), // not a logout token's jti
	}
	var recs []session.Record
	for pages := dynamodb.NewScanPaginator(s.DB, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, session.Unavailable("list sessions", err)
		}
		for _, item := range out.Items {
			if r, err := decodeRecord(item); err == nil {
				recs = append(recs, r)
			}
		}
	}
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].LastAccessed.Equal(recs[j].LastAccessed) {
			return recs[i].LastAccessed.After(recs[j].LastAccessed)
		}
		return recs[i].Hash.String() < recs[j].Hash.String()
	})
	return recs, nil
}

// ProviderSessions is the sessions of one provider session or of one
// subject, found through SessionsBySubject or SessionsBySID: a
// session.UserSessionStore whose "name" is the index key (SubjectKey or
// SIDKey), so that session.Revocation sweeps them as it sweeps a user's.
// Make one per logout (ProviderSessionsOf, or a literal): End ends only a session its
// ListUser found, through Sessions.End, so at the session's home region
// when it has one.
type ProviderSessions struct {
	Sessions *Sessions
	Index    string // SessionsBySubject or SessionsBySID
	SID      string // on SessionsBySubject, only that sid's sessions; "": every session of the subject

	mu    sync.Mutex
	users map[session.TokenHash][2]string // the user and idp of each session found
}

// ProviderSessionsOf finds in s the sessions a logout token names
// (session.ProviderSessionStores): a subject's through SessionsBySubject,
// only those of sid when the token names one too (a session made before
// SessionsBySID is found so as well); a sid's alone through SessionsBySID.
func ProviderSessionsOf(s *Sessions) session.ProviderSessionStores {
	return func(issuer, sub, sid string) (session.UserSessionStore, string) {
		if sub == "" {
			return &ProviderSessions{Sessions: s, Index: SessionsBySID}, SIDKey(issuer, sid)
		}
		return &ProviderSessions{Sessions: s, Index: SessionsBySubject, SID: sid}, SubjectKey(issuer, sub)
	}
}

var _ session.UserSessionStore = (*ProviderSessions)(nil)

// ListUser returns the sessions Index holds for key (of SID, when set; the
// issuer is in the key), each with its user and idp: the indexes project
// no more.
func (p *ProviderSessions) ListUser(ctx context.Context, key, _ string) ([]session.Record, error) {
	keyAttr := attrSubjectKey
	if p.Index == SessionsBySID {
		keyAttr = attrSIDKey
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(p.Sessions.Table),
		IndexName:                 aws.String(p.Index),
		KeyConditionExpression:    aws.String(keyAttr + " = :key"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":key": &types.AttributeValueMemberS{Value: key}},
	}
	if p.SID != "" && p.Index == SessionsBySubject {
		in.FilterExpression = aws.String(attrSID + " = :sid")
		in.ExpressionAttributeValues[":sid"] = &types.AttributeValueMemberS{Value: p.SID}
	}
	var recs []session.Record
	for pages := dynamodb.NewQueryPaginator(p.Sessions.DB, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, session.Unavailable("list provider sessions", err)
		}
		for _, item := range out.Items {
			h, ok := hashAttr(item)
			user, _ := stringAttr(item, attrUser)
			idp, _ := stringAttr(item, attrIdP)
			if !ok || user == "" {
				continue
			}
			recs = append(recs, session.Record{Hash: h, Session: session.Session{User: user, IdP: idp}})
			p.mu.Lock()
			if p.users == nil {
				p.users = map[session.TokenHash][2]string{}
			}
			p.users[h] = [2]string{user, idp}
			p.mu.Unlock()
		}
	}
	return recs, nil
}

// End ends the session h, found by ListUser, as its user's (Sessions.End);
// one it did not find is ENOTFOUND.
func (p *ProviderSessions) End(ctx context.Context, _, _ string, h session.TokenHash) error {
	p.mu.Lock()
	who, ok := p.users[h]
	p.mu.Unlock()
	if !ok {
		return session.Errorf(session.ENOTFOUND, "no such provider session")
	}
	return p.Sessions.End(ctx, who[0], who[1], h)
}

// LogoutTokens keeps the jti of every back-channel logout token accepted,
// until the token expires, so that each is accepted once: items of the
// sessions table under a key no token hash can have (it is not 64 hex
// digits), with TTL, and no user (so no index, count or listing sees them).
// No table of their own: the sessions table's TTL, encryption and backups
// already apply.
type LogoutTokens struct {
	DB    API
	Table string
}

// jtiKeyPrefix starts the key of a seen jti.
const jtiKeyPrefix = "logout-jti:"

// First records issuer's jti as seen until until, in one conditional
// PutItem, and reports whether it was the first time.
func (t LogoutTokens) First(ctx context.Context, issuer, jti string, until time.Time) (bool, error) {
	d := sha256.Sum256([]byte(issuer + "\x00" + jti))
	_, err := t.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.Table),
		Item: map[string]types.AttributeValue{
			attrTokenHash: &types.AttributeValueMemberS{Value: jtiKeyPrefix + hex.EncodeToString(d[:])},
			AttrExpires:   ttl(until),
		},
		ConditionExpression: aws.String("attribute_not_exists(" + attrTokenHash + ")"),
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, nil
	case err != nil:
		return false, session.Unavailable("record logout token", err)
	}
	return true, nil
}

// Forget removes issuer's jti, so that the provider may send its token
// again after a logout that failed half way.
func (t LogoutTokens) Forget(ctx context.Context, issuer, jti string) error {
	d := sha256.Sum256([]byte(issuer + "\x00" + jti))
	_, err := t.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(t.Table),
		Key:       map[string]types.AttributeValue{attrTokenHash: &types.AttributeValueMemberS{Value: jtiKeyPrefix + hex.EncodeToString(d[:])}},
	})
	if err != nil {
		return session.Unavailable("forget logout token", err)
	}
	return nil
}
