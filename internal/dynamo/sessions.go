// Package dynamo stores sessions and users in Amazon DynamoDB. It is the only
// package that imports the DynamoDB SDK; it implements the interfaces of
// package session and must never import HTTP or Lambda code.
//
// The endpoint comes from the SDK's own configuration, so the standard
// AWS_ENDPOINT_URL_DYNAMODB points the same binary at AWS, DynamoDB Local,
// moto or dynalite.
package dynamo

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/internal/session"
)

// Attribute names of the sessions table.
const (
	attrTokenHash = "token_hash" // S, hex SHA-256 of the token: the key
	attrUser      = "user"       // S, canonical name@domain
	attrUserKey   = "user_key"   // S, session.IdentityKey: lower-case name@domain, and a federated user's issuer
	// attrIdP is the issuer URL of the identity provider that vouched for
	// a federated user (session.Session.IdP); absent for a local user, as
	// on every item stored before federated users had their own.
	attrIdP          = "idp"
	attrCreated      = "created_ms"       // N, Unix milliseconds
	attrLastAccessed = "last_accessed_ms" // N, Unix milliseconds
	// attrSeal is log-in's seal over the token hash, user (and idp) and creation time
	// (session.Sealer): S, 22 characters. No role that only touches
	// sessions may name it (TouchAttributes).
	attrSeal = "seal"
	// attrHome is the region that made the session, its one writer in a
	// multi-region deployment (Sessions.Region; docs/REGIONS.md): S.
	attrHome = "home"
	// What log-in records of a session's origin (session.Origin), for the
	// operator; all S, absent when empty. None is written after log-in.
	attrSource     = "source_addr"
	attrUserAgent  = "user_agent"
	attrSurface    = "surface"
	attrMethod     = "login_method"
	attrSubject    = "oidc_sub"
	attrSID        = "oidc_sid"
	attrSubjectKey = "oidc_subject" // the SessionsBySubject key: issuer, a space, sub
	attrSIDKey     = "oidc_sid_key" // the SessionsBySID key: issuer, a tab, sid
	// attrCalls counts a session's uses: N, added to by every touch, in
	// the touch's one write.
	attrCalls = "calls"
	// AttrExpires is the TTL attribute (Unix seconds). TTL only cleans up:
	// an item past its lifetime is treated as absent whether or not TTL has
	// removed it yet.
	AttrExpires = "expires_at"
)

// SessionsByUser is the sessions table's global secondary index of a
// user's sessions: partition key user_key, projecting besides the keys only
// created_ms, which never changes. Nothing a get writes is in it, so a get
// writes one item, never an index entry (docs/SESSIONS.md). It replaces
// "by-user", which projected last_accessed_ms: an index's projection cannot
// change in place, so the new one has a new name.
const SessionsByUser = "by-user-v2"

// API is the part of the DynamoDB client the stores use.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Sessions is a session.SessionStore on a DynamoDB table.
type Sessions struct {
	DB    API
	Table string

	countPage int32 // index entries a count reads per request; 0: a full page (tests set it)

	// ReadOnFailedCondition is for engines that ignore
	// ReturnValuesOnConditionCheckFailure (dynalite): a touch whose condition
	// fails then asks again, to tell a session touched by a request whose
	// clock is ahead from one that is gone. DynamoDB, DynamoDB Local and moto
	// return the item with the failure, so there a touch is always one request.
	ReadOnFailedCondition bool

	// Seals, when set, seals every session Create stores, and makes Touch
	// and Delete refuse as no session (ENOTFOUND, session.ErrUnsealed) an
	// item whose seal is missing or not its own: one log-in did not make.
	// The functions that hold the seal key set it (docs/UPSTREAM.md).
	Seals session.Sealer

	// Region, when set, is the region this store serves in a multi-region
	// deployment (docs/REGIONS.md): Create records it as the session's home,
	// and Touch, Delete and End write only sessions whose home it is (or
	// that have none), handing any other to the home region's replica
	// (Peers), so that no two regions write one session item.
	Region string
	// Peers are the stores of the other regions' replicas of the table, by
	// region name, each with its own Region set and no Peers.
	Peers map[string]*Sessions
	// recorder records the take-overs (RecordTakeOvers); nil: none.
	recorder session.Recorder
}

var _ session.SessionStore = (*Sessions)(nil)

// The touch condition: the item exists, has neither idled out nor outlived
// its absolute lifetime, and the write would not move last access backwards.
const touchCondition = "attribute_exists(" + attrTokenHash + ") AND " +
	liveFilter + " AND " + attrLastAccessed + " <= :now"

// liveFilter keeps the sessions that have neither idled out nor outlived
// their absolute lifetime: Lifetime.Live as a filter.
const liveFilter = attrLastAccessed + " > :idle_cutoff AND " + attrCreated + " > :abs_cutoff"

// TouchAttributes are the attributes a touch (Touch, and its re-check on
// engines that need one) names, in its key, update and condition: all that
// the roles that only touch sessions may name (template.yaml's
// dynamodb:Attributes condition, which internal/stack holds to this). The
// user is not among them, so whatever such a role writes authorizes no one.
var TouchAttributes = []string{attrTokenHash, attrLastAccessed, AttrExpires, attrCreated, attrHome, attrCalls}

// laterAccessUpdate and laterAccessCondition are the re-check's.
const (
	laterAccessUpdate    = "SET " + attrLastAccessed + " = " + attrLastAccessed
	laterAccessCondition = "attribute_exists(" + attrTokenHash + ") AND " + attrLastAccessed + " > :now"
)

// TouchUpdate is the get's update expression. It may set no attribute that
// is a key of, or projected into, an index (a test holds it to that): then a
// get writes the one item and nothing else.
// The call count rides in the same write (ADD), so counting costs no
// request; its clause comes first, so that the SET clause ends the
// expression and a take-over can extend it (homeOnly).
const TouchUpdate = "ADD " + attrCalls + " :one SET " + attrLastAccessed + " = :now, " + AttrExpires + " = :exp"

// Create stores a new session, never overwriting an existing item.
func (s *Sessions) Create(ctx context.Context, r session.Record, l session.Lifetime) error {
	item := map[string]types.AttributeValue{
		attrTokenHash:    &types.AttributeValueMemberS{Value: r.Hash.String()},
		attrUser:         &types.AttributeValueMemberS{Value: r.User},
		attrUserKey:      &types.AttributeValueMemberS{Value: session.IdentityKey(r.User, r.IdP)},
		attrCreated:      millis(r.Created),
		attrLastAccessed: millis(r.LastAccessed),
		AttrExpires:      ttl(earliest(r.LastAccessed.Add(l.Idle), r.Created.Add(l.Absolute))),
	}
	if s.Region != "" {
		item[attrHome] = &types.AttributeValueMemberS{Value: s.Region}
	}
	if r.IdP != "" {
		item[attrIdP] = &types.AttributeValueMemberS{Value: r.IdP}
	}
	// What log-in records of where the session came from; the provider is
	// the idp above.
	o := r.Origin
	for name, v := range map[string]string{attrSource: o.Source, attrUserAgent: o.UserAgent, attrSurface: o.Surface,
		attrMethod: o.Method, attrSubject: o.Subject, attrSID: o.SID} {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	if r.IdP != "" && o.Subject != "" {
		item[attrSubjectKey] = &types.AttributeValueMemberS{Value: SubjectKey(r.IdP, o.Subject)}
	}
	if r.IdP != "" && o.SID != "" {
		item[attrSIDKey] = &types.AttributeValueMemberS{Value: SIDKey(r.IdP, o.SID)}
	}
	if s.Seals != nil {
		// Sealed over the creation time as stored: Unix milliseconds.
		item[attrSeal] = &types.AttributeValueMemberS{Value: s.Seals.Seal(r.Hash[:], r.Identity(), time.UnixMilli(r.Created.UnixMilli()))}
	}
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.Table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(" + attrTokenHash + ")"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
	case errors.As(err, &ccf) && ccf.Item != nil && sameSession(ccf.Item, r.Session):
		// The SDK retried a write whose answer was lost, and this is the
		// item the first attempt stored: the session exists.
	case errors.As(err, &ccf):
		// 128 random bits collided: the random source is broken.
		return &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("create session: token collision")}
	default:
		return session.Unavailable("create session", err)
	}
	return nil
}

// sameSession reports whether item is the session s as Create stores it (or
// touched since).
func sameSession(item map[string]types.AttributeValue, s session.Session) bool {
	got, err := decodeSession(item)
	return err == nil && got.User == s.User && got.IdP == s.IdP && got.Created.Equal(s.Created) && !got.LastAccessed.Before(s.LastAccessed)
}

// Touch moves a live session's last access to now in one conditional
// UpdateItem that returns the updated item. In a multi-region deployment
// that is so for a session made in this region; one made in another is
// touched there (Sessions.Region).
func (s *Sessions) Touch(ctx context.Context, h session.TokenHash, now time.Time, l session.Lifetime) (session.Session, error) {
	sess, err := s.touch(ctx, h, now, l, "")
	if home, ok := awayHome(err); ok {
		return s.atHome(ctx, home, h, func(p *Sessions) (session.Session, error) { return p.Touch(ctx, h, now, l) },
			func() (session.Session, error) { return s.touch(ctx, h, now, l, home) })
	}
	return sess, err
}

// touch is Touch in this region's replica. takeOver names the home region
// whose session this region takes over (its replica unreachable): the
// touch then makes this region the session's home.
func (s *Sessions) touch(ctx context.Context, h session.TokenHash, now time.Time, l session.Lifetime, takeOver string) (session.Session, error) {
	key := s.key(h)
	in := &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 key,
		UpdateExpression:    aws.String(TouchUpdate),
		ConditionExpression: aws.String(touchCondition),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":         millis(now),
			":idle_cutoff": millis(now.Add(-l.Idle)),
			":abs_cutoff":  millis(now.Add(-l.Absolute)),
			// The absolute end is not known here without a read; the
			// condition enforces it, TTL only cleans up a little later.
			":exp": ttl(now.Add(l.Idle)),
			":one": &types.AttributeValueMemberN{Value: "1"},
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	s.homeOnly(in.ConditionExpression, in.UpdateExpression, in.ExpressionAttributeValues, takeOver)
	out, err := s.DB.UpdateItem(ctx, in)
	if err == nil {
		sess, derr := s.decodeSealed(out.Attributes, h)
		if derr != nil {
			return session.Session{}, derr
		}
		return sess, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return session.Session{}, session.Unavailable("touch session", err)
	}
	// The condition failed: the session is gone or expired, or another
	// request already recorded a later access (clocks of concurrent
	// invocations differ). Only the last case is a live session.
	item := ccf.Item
	if item == nil && s.ReadOnFailedCondition {
		// Ask about the one case that is still a live session with the one
		// action the get function is allowed: an UpdateItem that changes
		// nothing, on condition that a later access is recorded (in a
		// multi-region deployment, on condition that there is an item: its
		// home may be elsewhere).
		item, err = s.laterAccess(ctx, key, now)
		if err != nil {
			return session.Session{}, err
		}
	}
	if item == nil {
		return session.Session{}, session.Errorf(session.ENOTFOUND, "no session")
	}
	if err := s.away(item, takeOver); err != nil {
		return session.Session{}, err
	}
	sess, derr := s.decodeSealed(item, h)
	if derr != nil {
		return session.Session{}, derr
	}
	if !sess.LastAccessed.After(now) || !l.Live(sess, now) {
		return session.Session{}, session.Errorf(session.ENOTFOUND, "no session")
	}
	return sess, nil
}

// CountLive counts a user's live sessions. The index holds no last access
// (a get would then write it), so it can tell only sessions past their
// absolute lifetime: a Query of SessionsByUser that returns only the count
// of the others, the candidates, is one request (more only past a page of
// about 1 MB, and while the count is short of enough). Fewer candidates than
// enough means fewer live sessions than enough: that count is the answer.
// At enough or more, some may have idled out: the candidates' last accesses
// are read from the table itself (strongly consistent BatchGetItem) and the
// live ones counted exactly; the dead ones are deleted, so that the next
// log-in finds the cheap case again. The index is eventually consistent: on
// DynamoDB a session created a moment ago may not be counted yet.
func (s *Sessions) CountLive(ctx context.Context, name, idp string, now time.Time, l session.Lifetime, enough int) (int, error) {
	key := session.IdentityKey(name, idp)
	n, err := s.countCandidates(ctx, key, now, l, enough)
	if err != nil || (enough > 0 && n < enough) {
		return n, err
	}
	return s.countLiveExactly(ctx, key, now, l)
}

// countCandidates counts the sessions of the identity key (IdentityKey)
// not past their absolute lifetime, live or idle, stopping once the count
// reaches enough.
func (s *Sessions) countCandidates(ctx context.Context, key string, now time.Time, l session.Lifetime, enough int) (int, error) {
	in := s.userIndexQuery(key)
	in.FilterExpression = aws.String(candidateFilter)
	in.ExpressionAttributeValues[":abs_cutoff"] = millis(now.Add(-l.Absolute))
	in.Select = types.SelectCount
	n := 0
	for pages := dynamodb.NewQueryPaginator(s.DB, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return 0, session.Unavailable("count sessions", err)
		}
		n += int(out.Count)
		if enough > 0 && n >= enough {
			break
		}
	}
	return n, nil
}

// userIndexQuery is a query of the entries of the identity key
// (session.IdentityKey) in the sessions index, countPage of them a page
// when set.
func (s *Sessions) userIndexQuery(key string) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		IndexName:              aws.String(SessionsByUser),
		KeyConditionExpression: aws.String(attrUserKey + " = :user"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":user": &types.AttributeValueMemberS{Value: key},
		},
	}
	if s.countPage > 0 {
		in.Limit = aws.Int32(s.countPage)
	}
	return in
}

// candidateFilter keeps the index entries of sessions not past their
// absolute lifetime: all the index can tell.
const candidateFilter = attrCreated + " > :abs_cutoff"

// laterAccess returns the item of a session whose last access is already
// later than now, or nil when there is no such item. It writes nothing: the
// update sets an attribute to its own value.
func (s *Sessions) laterAccess(ctx context.Context, key map[string]types.AttributeValue, now time.Time) (map[string]types.AttributeValue, error) {
	cond, values := laterAccessCondition, map[string]types.AttributeValue{":now": millis(now)}
	if s.Region != "" {
		cond, values = "attribute_exists("+attrTokenHash+")", nil
	}
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String(laterAccessUpdate),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return nil, nil
		}
		return nil, session.Unavailable("re-check session after failed touch", err)
	}
	return out.Attributes, nil
}

// Delete removes a session in one DeleteItem, conditional on its existence.
// An expired item is removed too, but reported as not found: to the client
// it was already gone. In a multi-region deployment a session made in
// another region is removed there (Sessions.Region).
func (s *Sessions) Delete(ctx context.Context, h session.TokenHash, now time.Time, l session.Lifetime) error {
	err := s.delete(ctx, h, now, l, "")
	if home, ok := awayHome(err); ok {
		_, err = s.atHome(ctx, home, h, func(p *Sessions) (session.Session, error) { return session.Session{}, p.Delete(ctx, h, now, l) },
			func() (session.Session, error) { return session.Session{}, s.delete(ctx, h, now, l, home) })
	}
	return err
}

func (s *Sessions) delete(ctx context.Context, h session.TokenHash, now time.Time, l session.Lifetime, takeOver string) error {
	in := &dynamodb.DeleteItemInput{
		TableName:                           aws.String(s.Table),
		Key:                                 s.key(h),
		ConditionExpression:                 aws.String("attribute_exists(" + attrTokenHash + ")"),
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if s.Region != "" {
		in.ExpressionAttributeValues = map[string]types.AttributeValue{}
		s.homeOnly(in.ConditionExpression, nil, in.ExpressionAttributeValues, takeOver)
	}
	out, err := s.DB.DeleteItem(ctx, in)
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			if aerr := s.awayAfterFailure(ctx, s.key(h), ccf.Item, takeOver); aerr != nil {
				return aerr
			}
			return session.Errorf(session.ENOTFOUND, "no session")
		}
		return session.Unavailable("delete session", err)
	}
	// Removed either way: an item that is no session is no loss.
	sess, derr := s.decodeSealed(out.Attributes, h)
	if derr != nil {
		return derr
	}
	if !l.Live(sess, now) {
		return session.Errorf(session.ENOTFOUND, "no session")
	}
	return nil
}

// Peek returns the stored session of h, live or not, without counting as a
// use: one strongly consistent read, for tools and tests that must see what
// the table holds. A missing item is ENOTFOUND.
func (s *Sessions) Peek(ctx context.Context, h session.TokenHash) (session.Session, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: s.key(h), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return session.Session{}, session.Unavailable("peek session", err)
	}
	if out.Item == nil {
		return session.Session{}, session.Errorf(session.ENOTFOUND, "no session")
	}
	return decodeSession(out.Item)
}

// decodeRecord reads a session item with what log-in recorded of it.
func decodeRecord(item map[string]types.AttributeValue) (session.Record, error) {
	h, ok := hashAttr(item)
	sess, err := decodeSession(item)
	if !ok || err != nil {
		return session.Record{}, &session.Error{Code: session.ENOTFOUND, Err: session.ErrMalformed}
	}
	r := session.Record{Hash: h, Session: sess}
	str := func(name string) string { v, _ := stringAttr(item, name); return v }
	r.Origin = session.Origin{Source: str(attrSource), UserAgent: str(attrUserAgent), Surface: str(attrSurface),
		Method: str(attrMethod), Provider: str(attrIdP), Subject: str(attrSubject), SID: str(attrSID)}
	if v, ok := item[attrCalls].(*types.AttributeValueMemberN); ok {
		r.Calls, _ = strconv.ParseInt(v.Value, 10, 64)
	}
	return r, nil
}

func (s *Sessions) key(h session.TokenHash) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrTokenHash: &types.AttributeValueMemberS{Value: h.String()}}
}

// decodeSession reads a session item. One that lacks what log-in writes
// was not made by log-in: it is no session (ENOTFOUND, with
// session.ErrMalformed for the log), never a backend failure.
func decodeSession(item map[string]types.AttributeValue) (session.Session, error) {
	user, ok1 := stringAttr(item, attrUser)
	created, ok2 := millisAttr(item, attrCreated)
	last, ok3 := millisAttr(item, attrLastAccessed)
	if !ok1 || !ok2 || !ok3 || user == "" {
		return session.Session{}, &session.Error{Code: session.ENOTFOUND, Err: session.ErrMalformed}
	}
	idp, _ := stringAttr(item, attrIdP) // absent: a local user
	return session.Session{User: user, Created: created, LastAccessed: last, IdP: idp}, nil
}

// decodeSealed reads the session item of h and, when the store holds the
// seal key, refuses one log-in did not seal: no seal, another session's,
// another key's, another identity's (the idp is sealed with the user, so
// no write can turn a local user's session into a federated one's or back).
// Its user_key must be its identity's too, or revoking the user's sessions
// (which finds them by user_key) would miss it.
func (s *Sessions) decodeSealed(item map[string]types.AttributeValue, h session.TokenHash) (session.Session, error) {
	sess, err := decodeSession(item)
	if err != nil || s.Seals == nil {
		return sess, err
	}
	seal, _ := stringAttr(item, attrSeal)
	key, _ := stringAttr(item, attrUserKey)
	if key != session.IdentityKey(sess.User, sess.IdP) || !s.Seals.Sealed(h[:], sess.Identity(), sess.Created, seal) {
		return session.Session{}, &session.Error{Code: session.ENOTFOUND, Err: session.ErrUnsealed}
	}
	return sess, nil
}

func millis(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// ttl is the TTL attribute for an item that ends at end: Unix seconds,
// rounded up so that TTL never removes a session that is still live.
func ttl(end time.Time) *types.AttributeValueMemberN {
	sec := end.Unix()
	if end.Nanosecond() > 0 {
		sec++
	}
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(sec, 10)}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func stringAttr(item map[string]types.AttributeValue, name string) (string, bool) {
	v, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

func millisAttr(item map[string]types.AttributeValue, name string) (time.Time, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}
