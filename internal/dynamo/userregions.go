package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/internal/session"
)

// One writer per user item (docs/REGIONS.md, "Users"): a global table's
// replicas resolve concurrent writes of an item by last writer, so a
// log-in's write in one region, made before a password reset in another
// has reached it, would bring the old password back. With a region
// (Users.Region), the user's item (name, password hash, revision) is
// written only by the operator's actions, and what the log-in defence
// keeps (counts, locks, familiar sources, recent wrong passwords, a
// rehash) is in one item per region, keyed by the user's key, a NUL and
// the region's name, written only by that region's log-ins at that
// region's replica (and by an unlock, sent to the same replica). A user
// name never holds a NUL (session.QualifyName refuses control
// characters), so no such key is a user's. Log-in reads the user's item
// and every region's defence item in one BatchGetItem.

// Attributes of a region's defence item besides the user item's defence
// attributes (classAttrs, sources, source_key, stale_passwords).
const (
	attrDefenceOf  = "defence_of"  // S, the user's key: marks the item as a defence item
	attrRehashFrom = "rehash_from" // S, the stored hash a rehash replaced
	attrRehashTo   = "rehash_to"   // S, its replacement, in force while the user's hash is still rehash_from
	defenceSep     = "\x00"        // between the user's key and the region's name
)

// InRegion makes u the users table of region in a multi-region
// deployment, reaching the other regions' replicas with the clients of
// s's peers (Sessions.InRegion), where an unlock clears their defence
// items.
func (u *Users) InRegion(region string, s *Sessions) {
	u.Region, u.Peers = region, map[string]API{}
	for name, p := range s.Peers {
		u.Peers[name] = p.DB
	}
}

// defenceKey is the key of region's defence item for the user name.
func (u *Users) defenceKey(name, region string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUserKeyPK: &types.AttributeValueMemberS{Value: session.UserKey(name) + defenceSep + region}}
}

// regionNames is this region and its peers, sorted.
func (u *Users) regionNames() []string {
	return slices.Sorted(func(yield func(string) bool) {
		if !yield(u.Region) {
			return
		}
		for r := range maps.Keys(u.Peers) {
			if !yield(r) {
				return
			}
		}
	})
}

// eachDefence calls do for every region (this one and its peers, in name
// order) with the client of that region's replica: a region's
// defence item is written only at its own replica, so that one replica's
// conditions judge every write of it. It stops at the first error, naming
// its region. With no region it does nothing.
func (u *Users) eachDefence(do func(region string, db API) error) error {
	if u.Region == "" {
		return nil
	}
	for _, r := range u.regionNames() {
		db := u.DB
		if r != u.Region {
			db = u.Peers[r]
		}
		if err := do(r, db); err != nil {
			return fmt.Errorf("region %s: %w", r, err)
		}
	}
	return nil
}

// userInRegions reads the user's item and every region's defence item in
// one BatchGetItem, strongly consistent, and merges them (mergeDefence).
func (u *Users) userInRegions(ctx context.Context, name string) (session.User, error) {
	keys := []map[string]types.AttributeValue{u.key(name)}
	for _, r := range u.regionNames() {
		keys = append(keys, u.defenceKey(name, r))
	}
	out, err := u.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		u.Table: {Keys: keys, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil {
		return session.User{}, session.Unavailable("get user", err)
	}
	if len(out.UnprocessedKeys) > 0 {
		// Only under throttling: a log-in with part of the defence's
		// state unread would count against too little, so it is a
		// backend failure (503), as a throttled GetItem is.
		return session.User{}, session.Unavailable("get user", errors.New("keys left unprocessed"))
	}
	var user, local map[string]types.AttributeValue
	var others []map[string]types.AttributeValue
	for _, item := range out.Responses[u.Table] {
		k, _ := stringAttr(item, attrUserKeyPK)
		switch {
		case k == session.UserKey(name):
			user = item
		case strings.HasSuffix(k, defenceSep+u.Region):
			local = item
		default:
			others = append(others, item)
		}
	}
	if user == nil {
		return session.User{}, session.Errorf(session.ENOTFOUND, "no user %q", name)
	}
	return mergeDefence(user, local, others)
}

// mergeDefence is the user as a log-in in this region sees it: the user's
// item, with the defence's state of every region. Per class, the count is
// the sum of every item's counts in the latest window any holds, and the
// lock the latest (so a region refuses, without checking the password, an
// account the others' replicated counts or locks have closed); Older is
// this region's own earlier window, the one its next count removes. The
// user item's own defence attributes (kept there before regions) count as
// one more region's, read only. Familiar sources are this region's (or,
// until its first log-in, the user item's); recent wrong passwords are
// every region's. A rehash made here is in force while the user's hash is
// the one it replaced: a password reset anywhere ends it.
func mergeDefence(userItem, local map[string]types.AttributeValue, others []map[string]types.AttributeValue) (session.User, error) {
	u, err := decodeUser(userItem)
	if err != nil {
		return session.User{}, err
	}
	all := append([]map[string]types.AttributeValue{userItem}, others...)
	if local != nil {
		all = append(all, local)
	}
	for _, c := range session.Classes {
		a := classes[c]
		var sum session.Failures
		for _, item := range all {
			f, ok := decodeFailures(item, a)
			if !ok {
				return session.User{}, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode user: malformed defence item")}
			}
			switch {
			case f.Window > sum.Window:
				sum.Window, sum.Count = f.Window, f.Count
			case f.Window == sum.Window && f.Window != 0:
				sum.Count += f.Count
			}
			if f.Until.After(sum.Until) {
				sum.Until = f.Until
			}
			sum.Streak = max(sum.Streak, f.Streak)
		}
		if local != nil {
			own, _ := decodeFailures(local, a)
			if own.Window != 0 && own.Window != sum.Window {
				sum.Older = own.Window
			} else {
				sum.Older = own.Older
			}
		}
		if c == session.Familiar {
			u.FamiliarFailures = sum
		} else {
			u.Failures = sum
		}
	}
	var stale []session.Mark
	for _, item := range all {
		for _, m := range decodeMarks(item, attrStale) {
			if i := slices.IndexFunc(stale, func(s session.Mark) bool { return s.Digest == m.Digest }); i < 0 {
				stale = append(stale, m)
			} else if m.At.After(stale[i].At) {
				stale[i] = m
			}
		}
	}
	u.Stale = stale
	if key, _ := stringAttr(local, attrSourceKey); key != "" {
		u.SourceKey, u.Sources = key, decodeMarks(local, attrSources)
	}
	if from, _ := stringAttr(local, attrRehashFrom); from != "" && from == u.PasswordHash {
		if to, _ := stringAttr(local, attrRehashTo); to != "" {
			u.PasswordHash = to
		}
	}
	return u, nil
}

// isDefenceItem reports whether item is a region's defence item, and whose.
func isDefenceItem(item map[string]types.AttributeValue) (string, bool) {
	k, _ := stringAttr(item, attrUserKeyPK)
	owner, _, ok := strings.Cut(k, defenceSep)
	return owner, ok
}

// succeedInRegion is Succeed with a region: the defence item is this
// region's, and the user's revision, which confirms the session, is read
// after it (one GetItem more than with no region: the user item is no
// log-in's to write, so no write can return it).
func (u *Users) succeedInRegion(ctx context.Context, name string, in *dynamodb.UpdateItemInput) (session.User, bool, error) {
	in.Key = u.defenceKey(name, u.Region)
	in.ReturnValues = types.ReturnValueNone
	// The item may not exist yet; the user's existence is the read's.
	cond := strings.TrimPrefix(*in.ConditionExpression, "attribute_exists("+attrUserKeyPK+")")
	cond = strings.TrimPrefix(cond, " AND ")
	in.ConditionExpression = nil
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	_, err := u.DB.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.User{}, false, nil
	}
	if err != nil {
		return session.User{}, false, session.Unavailable("record log-in", err)
	}
	got, err := u.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(u.Table), Key: u.key(name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return session.User{}, false, session.Unavailable("record log-in", err)
	}
	if got.Item == nil {
		return session.User{}, false, nil
	}
	user, err := decodeUser(got.Item)
	return user, err == nil, err
}
