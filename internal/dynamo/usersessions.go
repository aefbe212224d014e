package dynamo

import (
	"context"
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

var _ session.UserSessionStore = (*Sessions)(nil)

// batchGetMax is the most keys one BatchGetItem may ask for.
const batchGetMax = 100

// deleteWorkers bounds the deletes of dead sessions a log-in at the cap
// sends at once.
const deleteWorkers = 8

// countLiveExactly counts the live sessions of the identity key
// (session.IdentityKey) from the table itself,
// and deletes the dead ones it meets (best effort: the count does not
// depend on it).
func (s *Sessions) countLiveExactly(ctx context.Context, key string, now time.Time, l session.Lifetime) (int, error) {
	hashes, err := s.userHashes(ctx, key, now.Add(-l.Absolute))
	if err != nil {
		return 0, err
	}
	recs, err := s.records(ctx, hashes)
	if err != nil {
		return 0, err
	}
	n := 0
	var dead []session.TokenHash
	for _, r := range recs {
		if l.Live(r.Session, now) {
			n++
		} else {
			dead = append(dead, r.Hash)
		}
	}
	s.deleteDead(ctx, dead, now, l)
	return n, nil
}

// userHashes returns the token hashes the index holds for the identity key
// (session.IdentityKey), of sessions created after createdAfter (all of
// them when it is zero).
func (s *Sessions) userHashes(ctx context.Context, key string, createdAfter time.Time) ([]session.TokenHash, error) {
	in := s.userIndexQuery(key)
	in.ProjectionExpression = aws.String(attrTokenHash)
	if !createdAfter.IsZero() {
		in.FilterExpression = aws.String(candidateFilter)
		in.ExpressionAttributeValues[":abs_cutoff"] = millis(createdAfter)
	}
	var hashes []session.TokenHash
	for pages := dynamodb.NewQueryPaginator(s.DB, in); pages.HasMorePages(); {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, session.Unavailable("list sessions of user", err)
		}
		for _, item := range out.Items {
			if h, ok := hashAttr(item); ok {
				hashes = append(hashes, h)
			}
		}
	}
	return hashes, nil
}

// records reads the sessions hashes name from the table, strongly
// consistent, in BatchGetItem requests of up to 100 keys; a session deleted
// meanwhile is left out.
func (s *Sessions) records(ctx context.Context, hashes []session.TokenHash) ([]session.Record, error) {
	var recs []session.Record
	for len(hashes) > 0 {
		n := min(len(hashes), batchGetMax)
		keys := make([]map[string]types.AttributeValue, n)
		for i, h := range hashes[:n] {
			keys[i] = s.key(h)
		}
		hashes = hashes[n:]
		req := map[string]types.KeysAndAttributes{s.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for delay := 25 * time.Millisecond; len(req) > 0; delay = min(2*delay, time.Second) {
			out, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, session.Unavailable("read sessions", err)
			}
			for _, item := range out.Responses[s.Table] {
				r, err := decodeRecord(item)
				if err != nil {
					return nil, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode session: malformed item")}
				}
				recs = append(recs, r)
			}
			req = out.UnprocessedKeys
			if len(req) == 0 {
				break
			}
			// DynamoDB left some keys for later (throttling, or a response
			// over 16 MB): ask again after a pause, as its guide says.
			select {
			case <-ctx.Done():
				return nil, session.Unavailable("read sessions", ctx.Err())
			case <-time.After(delay):
			}
		}
	}
	return recs, nil
}

// deleteDead deletes sessions that are dead at now, each on condition that
// it still is, a few at a time. Failures are ignored: the sessions are dead
// whether or not they are stored, and TTL removes them too, later.
func (s *Sessions) deleteDead(ctx context.Context, dead []session.TokenHash, now time.Time, l session.Lifetime) {
	work := make(chan session.TokenHash)
	var wg sync.WaitGroup
	for range min(deleteWorkers, len(dead)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				_, _ = s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
					TableName:           aws.String(s.Table),
					Key:                 s.key(h),
					ConditionExpression: aws.String("NOT (" + liveFilter + ")"),
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":idle_cutoff": millis(now.Add(-l.Idle)),
						":abs_cutoff":  millis(now.Add(-l.Absolute)),
					},
				})
			}
		}()
	}
	for _, h := range dead {
		work <- h
	}
	close(work)
	wg.Wait()
}

// ListUser returns the stored sessions of the user name vouched for by idp
// ("" for a local user), live or not, oldest first: the index names them,
// the table (read strongly consistent) says what they are now.
func (s *Sessions) ListUser(ctx context.Context, name, idp string) ([]session.Record, error) {
	key := session.IdentityKey(name, idp)
	hashes, err := s.userHashes(ctx, key, time.Time{})
	if err != nil {
		return nil, err
	}
	recs, err := s.records(ctx, hashes)
	if err != nil {
		return nil, err
	}
	// The table is the truth: an index entry can outlive its item a moment.
	kept := recs[:0]
	for _, r := range recs {
		if session.IdentityKey(r.User, r.IdP) == key {
			kept = append(kept, r)
		}
	}
	sort.Slice(kept, func(i, j int) bool {
		if !kept[i].Created.Equal(kept[j].Created) {
			return kept[i].Created.Before(kept[j].Created)
		}
		return kept[i].Hash.String() < kept[j].Hash.String()
	})
	return kept, nil
}

// End deletes the session h if it is the user name's of idp, live or not. In a
// multi-region deployment a session made in another region is deleted
// there (Sessions.Region).
func (s *Sessions) End(ctx context.Context, name, idp string, h session.TokenHash) error {
	err := s.end(ctx, name, idp, h, "")
	if home, ok := awayHome(err); ok {
		_, err = s.atHome(ctx, home, h, func(p *Sessions) (session.Session, error) { return session.Session{}, p.End(ctx, name, idp, h) },
			func() (session.Session, error) { return session.Session{}, s.end(ctx, name, idp, h, home) })
	}
	return err
}

func (s *Sessions) end(ctx context.Context, name, idp string, h session.TokenHash, takeOver string) error {
	in := &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.Table),
		Key:                 s.key(h),
		ConditionExpression: aws.String(attrUserKey + " = :user"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":user": &types.AttributeValueMemberS{Value: session.IdentityKey(name, idp)},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	s.homeOnly(in.ConditionExpression, nil, in.ExpressionAttributeValues, takeOver)
	_, err := s.DB.DeleteItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if aerr := s.awayAfterFailure(ctx, s.key(h), ccf.Item, takeOver); aerr != nil {
			return aerr
		}
		return session.Errorf(session.ENOTFOUND, "%s has no session %s", name, h.String()[:session.HashPrefixLen])
	}
	if err != nil {
		return session.Unavailable("end session", err)
	}
	return nil
}

// hashAttr reads an item's key back into a TokenHash.
func hashAttr(item map[string]types.AttributeValue) (session.TokenHash, bool) {
	var h session.TokenHash
	v, ok := stringAttr(item, attrTokenHash)
	if !ok || hex.DecodedLen(len(v)) != len(h) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(v)); err != nil {
		return h, false
	}
	return h, true
}
