package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/internal/session"
)

// Attribute names of the users table.
const (
	attrUserKeyPK    = "user_key"      // S, lower-case name@domain: the key
	attrName         = "name"          // S, canonical name@domain
	attrPasswordHash = "password_hash" // S, argon2id PHC string
	attrUserCreated  = "created_ms"    // N, Unix milliseconds
	attrUserUpdated  = "updated_ms"    // N, Unix milliseconds of the last password change
	// A random value replaced whenever the user's sessions must end (new
	// password, end-sessions; a user added again has a new one): a log-in
	// keeps its session only if it has not changed. Absent on users stored
	// before it existed.
	attrRevision = "revision" // S, 32 hex digits
	// The lockout, per class of source (classAttrs): a count per window,
	// under a name that holds the window (failures_<window>), so that one
	// ADD counts in the right window with no write that starts one; the
	// count of an earlier window is simply ignored, and removed by a later
	// count.
	// What the log-in defence remembers, bounded (session.MaxSources,
	// session.MaxStale): digests, never an address or a password.
	attrSources   = "sources"         // M, source digest -> N Unix ms of its last log-in
	attrSourceKey = "source_key"      // S, the key of the source digests
	attrStale     = "stale_passwords" // M, wrong-password digest -> N Unix ms it was last tried
)

// classAttrs names the attributes of one class of sources' lockout: the
// prefix of its per-window counts, its lock's end and its row of locks,
// and (legacy) what the reservations of earlier versions kept, which
// is read as nothing counted and removed by the next write.
type classAttrs struct {
	counts, until, streak string
	legacy                []string
}

var classes = map[session.Class]classAttrs{
	session.Unfamiliar: {"failures_", "lock_until_ms", "lock_streak",
		[]string{"failed_count", "failed_since_ms", "pending_count", "settled_count"}},
	session.Familiar: {"familiar_failures_", "familiar_lock_until_ms", "familiar_lock_streak",
		[]string{"familiar_failed_count", "familiar_failed_since_ms", "familiar_pending_count", "familiar_settled_count"}},
}

// count is the attribute that counts window w's wrong passwords.
func (a classAttrs) count(w int64) string { return a.counts + strconv.FormatInt(w, 10) }

// open is the condition that the class is neither locked at :now nor
// full (#cur holds :max wrong passwords).
func (a classAttrs) open() string {
	return "(attribute_not_exists(" + a.until + ") OR " + a.until + " <= :now) AND (attribute_not_exists(#cur) OR #cur < :max)"
}

// Users is a session.UserStore on a DynamoDB table, with the operations the
// admin tool needs.
type Users struct {
	DB    API
	Table string
	// Region is this region's name in a multi-region deployment
	// (InRegion): the log-in defence's state is then kept in this
	// region's own item, never on the user's (userregions.go). "": one
	// region, everything on the user's item.
	Region string
	// Peers are the other regions' replicas of the table, by region name:
	// where an unlock clears their defence items.
	Peers map[string]API
}

var _ session.UserStore = (*Users)(nil)

func (u *Users) key(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUserKeyPK: &types.AttributeValueMemberS{Value: session.UserKey(name)}}
}

// User returns the user named name, compared case-insensitively. The read is
// strongly consistent so that a password change or removal takes effect at
// once.
func (u *Users) User(ctx context.Context, name string) (session.User, error) {
	if u.Region != "" {
		return u.userInRegions(ctx, name)
	}
	out, err := u.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(u.Table),
		Key:            u.key(name),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return session.User{}, session.Unavailable("get user", err)
	}
	if out.Item == nil {
		return session.User{}, session.Errorf(session.ENOTFOUND, "no user %q", name)
	}
	return decodeUser(out.Item)
}

// Fail records a refused log-in in one UpdateItem (session.UserStore).
// Counting is one ADD to the window's own attribute, so there is no branch
// to choose and nothing to retry: the condition alone decides, against
// the item as it is at the write.
func (u *Users) Fail(ctx context.Context, name string, c session.Class, f session.Failure, now time.Time, p session.Lockout) (int, error) {
	a := classes[c]
	exists := "attribute_exists(" + attrUserKeyPK + ")"
	in := &dynamodb.UpdateItemInput{TableName: aws.String(u.Table), Key: u.key(name)}
	set := "SET " + attrStale + " = :stale"
	if u.Region != "" {
		// This region's defence item, made by its first count: the
		// user's existence is the read's to check.
		in.Key, exists = u.defenceKey(name, u.Region), ""
		set += ", " + attrDefenceOf + " = :of"
	}
	if f.Digest == "" {
		// Nothing to count: a request like the counting one, whose
		// condition never holds, so that every refusal costs the same.
		in.UpdateExpression = aws.String("REMOVE " + attrStale)
		in.ConditionExpression = aws.String("attribute_exists(" + attrUserKeyPK + ") AND attribute_not_exists(" + attrUserKeyPK + ")")
	} else {
		w := p.WindowOf(now)
		// The counts of windows before the last go (the last window's
		// stays: a log-in that began in it may still write against it).
		remove := a.legacy
		for i, e := range f.Earlier {
			if e > 0 && e < w-1 && !slices.Contains(f.Earlier[:i], e) {
				remove = append(remove, a.count(e))
			}
		}
		in.UpdateExpression = aws.String(set + " ADD #cur :one REMOVE " + strings.Join(remove, ", "))
		in.ConditionExpression = aws.String(a.open() + " AND (attribute_not_exists(#stale.#d) OR #stale.#d <= :cutoff)")
		if exists != "" {
			in.ConditionExpression = aws.String(exists + " AND " + *in.ConditionExpression)
		}
		in.ExpressionAttributeNames = map[string]string{"#cur": a.count(w), "#stale": attrStale, "#d": f.Digest}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":stale":  marks(f.Stale),
			":one":    &types.AttributeValueMemberN{Value: "1"},
			":max":    &types.AttributeValueMemberN{Value: strconv.Itoa(p.MaxFailures)},
			":now":    millis(now),
			":cutoff": millis(now.Add(-p.Window)),
		}
		if u.Region != "" {
			in.ExpressionAttributeValues[":of"] = &types.AttributeValueMemberS{Value: session.UserKey(name)}
		}
		in.ReturnValues = types.ReturnValueUpdatedNew
	}
	out, err := u.DB.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return 0, nil
	}
	if err != nil {
		return 0, session.Unavailable("count failed log-in", err)
	}
	n, _ := out.Attributes[in.ExpressionAttributeNames["#cur"]].(*types.AttributeValueMemberN)
	if n == nil {
		return 0, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("count failed log-in: no count returned")}
	}
	count, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, &session.Error{Code: session.EUNAVAILABLE, Err: fmt.Errorf("count failed log-in: %w", err)}
	}
	return count, nil
}

// Lock sets class c's lock in one UpdateItem, unless one ending later is
// set (session.UserStore).
func (u *Users) Lock(ctx context.Context, name string, c session.Class, lock session.Failures) error {
	a := classes[c]
	key := u.key(name)
	if u.Region != "" {
		key = u.defenceKey(name, u.Region) // made by the count that filled the window
	}
	_, err := u.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(u.Table),
		Key:              key,
		UpdateExpression: aws.String("SET " + a.until + " = :until, " + a.streak + " = :streak"),
		ConditionExpression: aws.String("attribute_exists(" + attrUserKeyPK + ") AND (attribute_not_exists(" +
			a.until + ") OR " + a.until + " < :until)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until":  millis(lock.Until),
			":streak": &types.AttributeValueMemberN{Value: strconv.Itoa(lock.Streak)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return session.Unavailable("lock log-ins", err)
	}
	return nil
}

// Succeed records a right password in one conditional UpdateItem that
// returns the user after it (session.UserStore): only while the class is
// neither locked nor full, so that a right password checked while wrong
// ones filled its window is refused as they are. It forgives none of the
// window's wrong passwords.
func (u *Users) Succeed(ctx context.Context, name string, c session.Class, sources []session.Mark, key string, now time.Time, p session.Lockout) (session.User, bool, error) {
	a := classes[c]
	set := "SET " + attrSourceKey + " = if_not_exists(" + attrSourceKey + ", :key)"
	remove := append([]string{a.until, a.streak}, a.legacy...)
	values := map[string]types.AttributeValue{
		":key": &types.AttributeValueMemberS{Value: key},
	}
	if u.Region != "" {
		set += ", " + attrDefenceOf + " = :of"
		values[":of"] = &types.AttributeValueMemberS{Value: session.UserKey(name)}
	}
	if len(sources) > 0 {
		set += ", " + attrSources + " = :sources"
		values[":sources"] = marks(sources)
	} else {
		remove = append(remove, attrSources)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(u.Table),
		Key:                       u.key(name),
		UpdateExpression:          aws.String(set + " REMOVE " + strings.Join(remove, ", ")),
		ConditionExpression:       aws.String("attribute_exists(" + attrUserKeyPK + ")"),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	}
	if p.MaxFailures > 0 {
		in.ConditionExpression = aws.String(*in.ConditionExpression + " AND " + a.open())
		in.ExpressionAttributeNames = map[string]string{"#cur": a.count(p.WindowOf(now))}
		values[":now"] = millis(now)
		values[":max"] = &types.AttributeValueMemberN{Value: strconv.Itoa(p.MaxFailures)}
	}
	if u.Region != "" {
		return u.succeedInRegion(ctx, name, in)
	}
	out, err := u.DB.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.User{}, false, nil
	}
	if err != nil {
		return session.User{}, false, session.Unavailable("record log-in", err)
	}
	user, err := decodeUser(out.Attributes)
	return user, err == nil, err
}

// ClearFailures forgets a user's failed log-ins and locks, in every class,
// in one UpdateItem that reads the item's count attributes back first
// (their names hold their windows): an operator's command, not a log-in.
//
// With a region, each region's defence item is cleared too, at that
// region's replica (Peers), so that every write of it is still judged
// by one replica: a region that cannot be reached keeps its counts and
// locks, and the command fails saying so (run it again).
func (u *Users) ClearFailures(ctx context.Context, name string) error {
	if err := u.clearFailures(ctx, u.DB, name, u.key(name)); err != nil {
		return err
	}
	return u.eachDefence(func(r string, db API) error {
		err := u.clearFailures(ctx, db, name, u.defenceKey(name, r))
		if session.ErrorCode(err) == session.ENOTFOUND {
			return nil
		}
		return err
	})
}

// clearFailures removes the defence's counts and locks from the item of
// key, at db: ENOTFOUND if there is none.
func (u *Users) clearFailures(ctx context.Context, db API, name string, key map[string]types.AttributeValue) error {
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(u.Table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return session.Unavailable("read user", err)
	}
	attrs := []string{attrStale}
	for _, c := range session.Classes {
		a := classes[c]
		attrs = append(append(attrs, a.until, a.streak), a.legacy...)
		for k := range got.Item {
			if _, ok := windowOf(k, a); ok {
				attrs = append(attrs, k)
			}
		}
	}
	if u.Region != "" {
		// Several regions: write an item only if it holds something to
		// clear. The user's item, above all, is the operator's: a write
		// of it that changes nothing would still be a whole version
		// racing another region's reset under last-writer-wins.
		if got.Item == nil {
			return session.Errorf(session.ENOTFOUND, "no user %q", name)
		}
		attrs = slices.DeleteFunc(attrs, func(a string) bool { _, ok := got.Item[a]; return !ok })
		if len(attrs) == 0 {
			return nil
		}
	}
	return u.updateExistingAt(ctx, db, key, "clear failed log-ins", name, "REMOVE "+strings.Join(attrs, ", "), nil)
}

// marks encodes digests with their times as a map.
func marks(ms []session.Mark) *types.AttributeValueMemberM {
	m := make(map[string]types.AttributeValue, len(ms))
	for _, mk := range ms {
		m[mk.Digest] = millis(mk.At)
	}
	return &types.AttributeValueMemberM{Value: m}
}

// decodeMarks reads a map of digests and times; absent or malformed
// entries are left out (what they remember is only ever a convenience).
func decodeMarks(item map[string]types.AttributeValue, name string) []session.Mark {
	m, ok := item[name].(*types.AttributeValueMemberM)
	if !ok {
		return nil
	}
	out := make([]session.Mark, 0, len(m.Value))
	for d := range m.Value {
		if at, ok := millisAttr(m.Value, d); ok {
			out = append(out, session.Mark{Digest: d, At: at})
		}
	}
	return out
}

// updateExisting applies update (with values) to the user name in one
// UpdateItem, on condition that the user exists: ENOTFOUND if not, and a
// backend failure of op otherwise.
func (u *Users) updateExisting(ctx context.Context, op, name, update string, values map[string]types.AttributeValue) error {
	return u.updateExistingAt(ctx, u.DB, u.key(name), op, name, update, values)
}

// updateExistingAt is updateExisting of the item of key, at db.
func (u *Users) updateExistingAt(ctx context.Context, db API, key map[string]types.AttributeValue, op, name, update string, values map[string]types.AttributeValue) error {
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(u.Table),
		Key:                       key,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(" + attrUserKeyPK + ")"),
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.Errorf(session.ENOTFOUND, "no user %q", name)
	}
	if err != nil {
		return session.Unavailable(op, err)
	}
	return nil
}

// Add stores a new user; ENOTFOUND is never returned, and an existing user
// of the same name (case-insensitively) is an EINVALID error.
func (u *Users) Add(ctx context.Context, user session.User, now time.Time) error {
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	rev, err := newRevision()
	if err != nil {
		return err
	}
	_, err = u.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(u.Table),
		Item: map[string]types.AttributeValue{
			attrUserKeyPK:    &types.AttributeValueMemberS{Value: session.UserKey(user.Name)},
			attrName:         &types.AttributeValueMemberS{Value: user.Name},
			attrPasswordHash: &types.AttributeValueMemberS{Value: user.PasswordHash},
			attrUserCreated:  &types.AttributeValueMemberN{Value: ms},
			attrUserUpdated:  &types.AttributeValueMemberN{Value: ms},
			attrRevision:     &types.AttributeValueMemberS{Value: rev},
		},
		ConditionExpression: aws.String("attribute_not_exists(" + attrUserKeyPK + ")"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.Errorf(session.EINVALID, "user %s already exists", user.Name)
	}
	if err != nil {
		return session.Unavailable("add user", err)
	}
	return nil
}

// SetPassword replaces an existing user's password hash, and its revision:
// a log-in that checked the old password keeps no session. The user's
// sessions must then be ended (session.Revocation).
func (u *Users) SetPassword(ctx context.Context, name, hash string, now time.Time) error {
	rev, err := newRevision()
	if err != nil {
		return err
	}
	return u.updateExisting(ctx, "set password", name,
		"SET "+attrPasswordHash+" = :h, "+attrUserUpdated+" = :now, "+attrRevision+" = :rev",
		map[string]types.AttributeValue{
			":h":   &types.AttributeValueMemberS{Value: hash},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
			":rev": &types.AttributeValueMemberS{Value: rev},
		})
}

// Rehash replaces the user's password hash old with new, on condition that
// it is still old: an administrator's reset in between wins.
//
// With a region, a log-in never writes the user's item: the new hash goes
// into this region's defence item, with the hash it replaces, and is in
// force only while the user's hash is still that one (mergeDefence). A
// reset anywhere, once it has reached this region, ends it, whatever the
// order of the writes: the reset's item and the rehash's are different
// items, so neither can overwrite the other.
func (u *Users) Rehash(ctx context.Context, name, old, new string) error {
	if u.Region != "" {
		_, err := u.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:        aws.String(u.Table),
			Key:              u.defenceKey(name, u.Region),
			UpdateExpression: aws.String("SET " + attrRehashFrom + " = :old, " + attrRehashTo + " = :new, " + attrDefenceOf + " = :of"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":new": &types.AttributeValueMemberS{Value: new},
				":old": &types.AttributeValueMemberS{Value: old},
				":of":  &types.AttributeValueMemberS{Value: session.UserKey(name)},
			},
		})
		if err != nil {
			return session.Unavailable("rehash password", err)
		}
		return nil
	}
	_, err := u.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(u.Table),
		Key:                 u.key(name),
		UpdateExpression:    aws.String("SET " + attrPasswordHash + " = :new"),
		ConditionExpression: aws.String(attrPasswordHash + " = :old"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":new": &types.AttributeValueMemberS{Value: new},
			":old": &types.AttributeValueMemberS{Value: old},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.Errorf(session.ENOTFOUND, "user %q or its hash changed", name)
	}
	if err != nil {
		return session.Unavailable("rehash password", err)
	}
	return nil
}

// Revise gives an existing user a new revision, so that a log-in in flight
// keeps no session: the first step of ending all of a user's sessions.
func (u *Users) Revise(ctx context.Context, name string) error {
	rev, err := newRevision()
	if err != nil {
		return err
	}
	return u.updateExisting(ctx, "revise user", name, "SET "+attrRevision+" = :rev",
		map[string]types.AttributeValue{":rev": &types.AttributeValueMemberS{Value: rev}})
}

// newRevision returns a fresh random revision.
func newRevision() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", session.Errorf(session.EUNAVAILABLE, "read random revision: %v", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Remove deletes a user; log-in is refused at once, and a log-in in flight
// keeps no session. The user's sessions must then be ended
// (session.Revocation).
func (u *Users) Remove(ctx context.Context, name string) error {
	_, err := u.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(u.Table),
		Key:                 u.key(name),
		ConditionExpression: aws.String("attribute_exists(" + attrUserKeyPK + ")"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.Errorf(session.ENOTFOUND, "no user %q", name)
	}
	if err != nil {
		return session.Unavailable("remove user", err)
	}
	return nil
}

// RemoveDefence deletes every region's defence item of the user name,
// each at its own region's replica (eachDefence, as ClearFailures), so that
// a user added again under the name inherits no counts, locks or familiar
// sources. It fails naming the first region it cannot reach (run it
// again: a delete of an item already gone is no error). With no region
// there is nothing to delete: the user's item held it all.
func (u *Users) RemoveDefence(ctx context.Context, name string) error {
	return u.eachDefence(func(r string, db API) error {
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(u.Table), Key: u.defenceKey(name, r)})
		if err != nil {
			return session.Unavailable("remove log-in defence", err)
		}
		return nil
	})
}

// List returns every user's name and failed log-ins (not password
// hashes), in no particular order. The scan reads whole items (the count
// attributes' names hold their windows, which a projection cannot name);
// the hashes are dropped. Regions' defence items are no users: their
// counts and locks are merged into their user's, as a log-in sees them.
func (u *Users) List(ctx context.Context) ([]session.User, error) {
	var users []session.User
	userItems := map[string]map[string]types.AttributeValue{}
	defences := map[string][]map[string]types.AttributeValue{}
	var start map[string]types.AttributeValue
	for {
		out, err := u.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(u.Table), ExclusiveStartKey: start})
		if err != nil {
			return nil, session.Unavailable("list users", err)
		}
		for _, item := range out.Items {
			if owner, ok := isDefenceItem(item); ok {
				defences[owner] = append(defences[owner], item)
				continue
			}
			n, ok := stringAttr(item, attrName)
			uf, ok1 := decodeFailures(item, classes[session.Unfamiliar])
			ff, ok2 := decodeFailures(item, classes[session.Familiar])
			if ok && ok1 && ok2 {
				users = append(users, session.User{Name: n, Failures: uf, FamiliarFailures: ff})
				userItems[session.UserKey(n)] = item
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			for i, user := range users {
				key := session.UserKey(user.Name)
				if d := defences[key]; len(d) > 0 {
					if m, err := mergeDefence(userItems[key], nil, d); err == nil {
						users[i].Failures, users[i].FamiliarFailures = m.Failures, m.FamiliarFailures
					}
				}
			}
			return users, nil
		}
		start = out.LastEvaluatedKey
	}
}

func decodeUser(item map[string]types.AttributeValue) (session.User, error) {
	name, ok1 := stringAttr(item, attrName)
	hash, ok2 := stringAttr(item, attrPasswordHash)
	uf, ok3 := decodeFailures(item, classes[session.Unfamiliar])
	ff, ok4 := decodeFailures(item, classes[session.Familiar])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return session.User{}, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode user: malformed item")}
	}
	rev, _ := stringAttr(item, attrRevision) // absent on users stored before revisions
	key, _ := stringAttr(item, attrSourceKey)
	return session.User{Name: name, PasswordHash: hash, Failures: uf, FamiliarFailures: ff, Revision: rev,
		Sources: decodeMarks(item, attrSources), Stale: decodeMarks(item, attrStale), SourceKey: key}, nil
}

// windowOf reads the window of a count attribute of class a.
func windowOf(attr string, a classAttrs) (int64, bool) {
	rest, ok := strings.CutPrefix(attr, a.counts)
	if !ok {
		return 0, false
	}
	w, err := strconv.ParseInt(rest, 10, 64)
	return w, err == nil
}

// decodeFailures reads one class's lockout from a user item: absent is
// none, and so are the attributes of earlier versions' reservations.
func decodeFailures(item map[string]types.AttributeValue, a classAttrs) (session.Failures, bool) {
	var f session.Failures
	oldest := int64(0)
	for k, v := range item {
		w, ok := windowOf(k, a)
		if !ok {
			continue
		}
		if oldest == 0 || w < oldest {
			oldest = w
		}
		if f.Window != 0 && w < f.Window {
			continue
		}
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			return session.Failures{}, false
		}
		count, err := strconv.Atoi(n.Value)
		if err != nil {
			return session.Failures{}, false
		}
		f.Window, f.Count = w, count
	}
	if oldest < f.Window {
		f.Older = oldest
	}
	if _, ok := item[a.until]; ok {
		until, ok1 := millisAttr(item, a.until)
		k, ok2 := item[a.streak].(*types.AttributeValueMemberN)
		if !ok1 || !ok2 {
			return session.Failures{}, false
		}
		streak, err := strconv.Atoi(k.Value)
		if err != nil || streak < 0 {
			return session.Failures{}, false
		}
		f.Until, f.Streak = until, streak
	}
	return f, true
}
