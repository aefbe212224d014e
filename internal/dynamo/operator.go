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

// ProviderSessions is the sessions of one provider session (SID), or of
// one subject (SID ""), found through SessionsBySubject: a
// session.UserSessionStore whose "name" is a SubjectKey, so that
// session.Revocation sweeps them as it sweeps a user's. Make one per
// logout (NewProviderSessions): End ends only a session its ListUser found,
// through Sessions.End, so at the session's home region when it has one.
type ProviderSessions struct {
	Sessions *Sessions
	SID      string // "": every session of the subject

	mu    sync.Mutex
	users map[session.TokenHash][2]string // the user and idp of each session found
}

// NewProviderSessions is the store of sid's sessions (every session of the
// subject when sid is "") in s.
func NewProviderSessions(s *Sessions, sid string) *ProviderSessions {
	return &ProviderSessions{Sessions: s, SID: sid, users: map[session.TokenHash][2]string{}}
}

var _ session.UserSessionStore = (*ProviderSessions)(nil)

// ListUser returns the sessions the index holds for the subject key (of
// SID, when set; idp is in the key), each with its user and idp: the index
// projects no more.
func (p *ProviderSessions) ListUser(ctx context.Context, key, _ string) ([]session.Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(p.Sessions.Table),
		IndexName:                 aws.String(SessionsBySubject),
		KeyConditionExpression:    aws.String(attrSubjectKey + " = :key"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":key": &types.AttributeValueMemberS{Value: key}},
	}
	if p.SID != "" {
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
