package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
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
	// The lockout, per class of source (classAttrs): no clean-up job, a
	// window that has ended is simply ignored and replaced by the next
	// attempt. The unfamiliar class keeps the names the single class of
	// earlier versions had, so that a running window carries over.
	attrFailedCount = "failed_count"    // N, attempts counted in the window
	attrFailedSince = "failed_since_ms" // N, Unix milliseconds of the window's first attempt
	// What the log-in defence remembers, bounded (session.MaxSources,
	// session.MaxStale): digests, never an address or a password.
	attrSources   = "sources"         // M, source digest -> N Unix ms of its last log-in
	attrSourceKey = "source_key"      // S, the key of the source digests
	attrStale     = "stale_passwords" // M, wrong-password digest -> N Unix ms it was last tried
)

// classAttrs names the attributes of one class of sources' lockout;
// pending (N) counts the window's attempts reserved and not yet settled,
// settled (N) those settled, and both are reset with the window.
type classAttrs struct{ count, pending, settled, since, until, streak string }

var classes = map[session.Class]classAttrs{
	session.Unfamiliar: {attrFailedCount, "pending_count", "settled_count", attrFailedSince, "lock_until_ms", "lock_streak"},
	session.Familiar: {"familiar_" + attrFailedCount, "familiar_pending_count", "familiar_settled_count",
		"familiar_" + attrFailedSince, "familiar_lock_until_ms", "familiar_lock_streak"},
}

// all lists the class's attributes.
func (a classAttrs) all() []string {
	return []string{a.count, a.pending, a.settled, a.since, a.until, a.streak}
}

// notLocked is the condition that class a is not locked at :now.
func (a classAttrs) notLocked() string {
	return "(attribute_not_exists(" + a.until + ") OR " + a.until + " <= :now)"
}

// Users is a session.UserStore on a DynamoDB table, with the operations the
// admin tool needs.
type Users struct {
	DB    API
	Table string
	// ReadOnFailedCondition is for engines that ignore
	// ReturnValuesOnConditionCheckFailure (dynalite): a reservation whose
	// condition failed, and whose log-in's read did not already show the
	// class locked with nothing in flight, reads the item to learn why.
	// AWS returns the item with the failure (ReturnValuesOnConditionCheckFailure
	// ALL_OLD), at no extra request and no read capacity.
	ReadOnFailedCondition bool
}

var _ session.UserStore = (*Users)(nil)

func (u *Users) key(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUserKeyPK: &types.AttributeValueMemberS{Value: session.UserKey(name)}}
}

// User returns the user named name, compared case-insensitively. The read is
// strongly consistent so that a password change or removal takes effect at
// once.
func (u *Users) User(ctx context.Context, name string) (session.User, error) {
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

// Reserve counts an attempt in one conditional UpdateItem, chosen by
// seen: one more in the running window if it holds fewer than
// p.MaxFailures and the class is not locked, or the first of a new window
// when none is running; either also counts the attempt as pending. A
// request whose condition fails learns the class's state from the failure
// (ALL_OLD), or on an engine that does not return it by a read
// (ReadOnFailedCondition), and tries the branch that state calls for, up to
// three requests in all; a class that is locked or full is refused at once
// with that state, which tells the caller whether attempts are in flight
// (session.Lockout.Busy). A class seen locked with nothing in flight gets
// one request, so that it costs what any refusal does. With seen nil (no
// user was found) it makes exactly one request.
func (u *Users) Reserve(ctx context.Context, name string, c session.Class, seen *session.Failures, now time.Time, p session.Lockout) (session.Failures, bool, error) {
	a := classes[c]
	cutoff := now.Add(-p.Window)
	// A window runs from its first attempt, whatever its count: a refund
	// may have brought the count to 0.
	runs := func(f session.Failures) bool { return !f.Since.IsZero() && now.Sub(f.Since) < p.Window }
	running := seen != nil && runs(*seen)
	quiet := seen != nil && p.Locked(*seen, now) && seen.Pending == 0
	attempts := 3
	if seen == nil || quiet {
		attempts = 1
	}
	var last session.Failures
	if seen != nil {
		last = *seen
	}
	for i := range attempts {
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String(u.Table),
			Key:       u.key(name),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one":    &types.AttributeValueMemberN{Value: "1"},
				":cutoff": millis(cutoff),
				":now":    millis(now),
			},
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		if running {
			in.UpdateExpression = aws.String("ADD " + a.count + " :one, " + a.pending + " :one")
			in.ConditionExpression = aws.String(a.since + " > :cutoff AND " + a.count + " < :max AND " + a.notLocked())
			in.ExpressionAttributeValues[":max"] = &types.AttributeValueMemberN{Value: strconv.Itoa(p.MaxFailures)}
		} else {
			// attribute_exists keeps an attempt from creating a user; the
			// new window forgets what was pending in the last.
			in.UpdateExpression = aws.String("SET " + a.count + " = :one, " + a.pending + " = :one, " + a.since + " = :now REMOVE " + a.settled)
			in.ConditionExpression = aws.String("attribute_exists(" + attrUserKeyPK + ") AND (attribute_not_exists(" +
				a.since + ") OR " + a.since + " <= :cutoff) AND " + a.notLocked())
		}
		out, err := u.DB.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			if err != nil {
				return session.Failures{}, false, session.Unavailable("reserve log-in attempt", err)
			}
			f, ok := decodeFailures(out.Attributes, a)
			if !ok {
				return session.Failures{}, false, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode user: malformed lockout")}
			}
			return f, true, nil
		}
		if seen == nil {
			break
		}
		item := ccf.Item
		if len(item) == 0 && u.ReadOnFailedCondition {
			if quiet {
				// What the log-in read explains the refusal: no read.
				return last, false, nil
			}
			got, err := u.DB.GetItem(ctx, &dynamodb.GetItemInput{
				TableName:            aws.String(u.Table),
				Key:                  u.key(name),
				ConsistentRead:       aws.Bool(true),
				ProjectionExpression: aws.String(strings.Join(append(a.all(), attrUserKeyPK), ", ")),
			})
			if err != nil {
				return session.Failures{}, false, session.Unavailable("read log-in attempts", err)
			}
			item = got.Item
		}
		if len(item) == 0 {
			// ALL_OLD of no item: the user was removed meanwhile.
			return session.Failures{}, false, session.Errorf(session.ENOTFOUND, "no such user")
		}
		f, ok := decodeFailures(item, a)
		if !ok {
			return session.Failures{}, false, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode user: malformed lockout")}
		}
		last = f
		if p.Locked(f, now) || i == attempts-1 {
			return f, false, nil
		}
		running = runs(f)
	}
	if seen == nil {
		return session.Failures{}, false, session.Errorf(session.ENOTFOUND, "no such user")
	}
	return last, false, nil
}

// Settle settles an attempt in one UpdateItem, whatever it was: an attempt
// refused without a reservation sends one whose condition never holds. A
// settlement in the window of its reservation is no longer pending.
func (u *Users) Settle(ctx context.Context, name string, c session.Class, st session.Settlement) error {
	a := classes[c]
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(u.Table),
		Key:                       u.key(name),
		ExpressionAttributeValues: map[string]types.AttributeValue{},
	}
	values := in.ExpressionAttributeValues
	switch {
	case st.Window.Since.IsZero():
		in.UpdateExpression = aws.String("REMOVE " + attrStale)
		in.ConditionExpression = aws.String("attribute_exists(" + attrUserKeyPK + ") AND attribute_not_exists(" + attrUserKeyPK + ")")
		values = nil
	case st.Refund:
		in.UpdateExpression = aws.String("ADD " + a.count + " :minus, " + a.pending + " :minus, " + a.settled + " :one")
		in.ConditionExpression = aws.String(a.since + " = :since AND " + a.count + " > :zero")
		values[":minus"] = &types.AttributeValueMemberN{Value: "-1"}
		values[":one"] = &types.AttributeValueMemberN{Value: "1"}
		values[":zero"] = &types.AttributeValueMemberN{Value: "0"}
		values[":since"] = millis(st.Window.Since)
	default:
		set := []string{}
		if st.Stale != nil {
			set = append(set, attrStale+" = :stale")
			values[":stale"] = marks(st.Stale)
		}
		if !st.Lock.Until.IsZero() {
			set = append(set, a.until+" = :until", a.streak+" = :streak")
			values[":until"] = millis(st.Lock.Until)
			values[":streak"] = &types.AttributeValueMemberN{Value: strconv.Itoa(st.Lock.Streak)}
		}
		// A checked attempt stays counted; it is no longer pending.
		update := "ADD " + a.pending + " :minus, " + a.settled + " :one"
		if len(set) > 0 {
			update = "SET " + strings.Join(set, ", ") + " " + update
		}
		in.UpdateExpression = aws.String(update)
		in.ConditionExpression = aws.String(a.since + " = :since")
		values[":since"] = millis(st.Window.Since)
		values[":minus"] = &types.AttributeValueMemberN{Value: "-1"}
		values[":one"] = &types.AttributeValueMemberN{Value: "1"}
		if !st.Lock.Until.IsZero() {
			// The lock holds only if the window is still as full as this
			// attempt found it: a right password that was in flight and
			// has given its attempt back since did not fill it. Then (only
			// when attempts were in flight together) a second request
			// settles the attempt without the lock.
			in.ConditionExpression = aws.String(a.since + " = :since AND " + a.count + " >= :full")
			values[":full"] = &types.AttributeValueMemberN{Value: strconv.Itoa(st.Window.Count)}
			_, err := u.DB.UpdateItem(ctx, in)
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				if err != nil {
					return session.Unavailable("settle log-in attempt", err)
				}
				return nil
			}
			st.Lock = session.Failures{}
			return u.Settle(ctx, name, c, st)
		}
	}
	in.ExpressionAttributeValues = values
	_, err := u.DB.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return session.Unavailable("settle log-in attempt", err)
	}
	return nil
}

// Succeed gives back the attempt reserved in window, ends class c's lock
// and row of locks, and keeps sources, in one UpdateItem that returns the
// user after it. The other attempts of the window stay counted: a right
// password forgives no wrong one, so that neither the owner's log-ins nor
// right passwords sent among wrong ones at once let more than
// MaxFailures wrong passwords be checked in a window. When the window has
// ended or been cleared since the reservation (its condition fails), a
// second UpdateItem records the success without giving anything back.
func (u *Users) Succeed(ctx context.Context, name string, c session.Class, window session.Failures, sources []session.Mark, key string, now time.Time) (session.User, error) {
	a := classes[c]
	set := "SET " + attrSourceKey + " = if_not_exists(" + attrSourceKey + ", :key)"
	remove := " REMOVE " + strings.Join([]string{a.until, a.streak}, ", ")
	values := map[string]types.AttributeValue{
		":key": &types.AttributeValueMemberS{Value: key},
	}
	if len(sources) > 0 {
		set += ", " + attrSources + " = :sources"
		values[":sources"] = marks(sources)
	} else {
		remove += ", " + attrSources
	}
	exists := "attribute_exists(" + attrUserKeyPK + ")"
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(u.Table),
		Key:                       u.key(name),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String(exists),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	}
	refund := !window.Since.IsZero()
	if refund {
		refunded := maps.Clone(values)
		refunded[":minus"] = &types.AttributeValueMemberN{Value: "-1"}
		refunded[":one"] = &types.AttributeValueMemberN{Value: "1"}
		refunded[":zero"] = &types.AttributeValueMemberN{Value: "0"}
		refunded[":since"] = millis(window.Since)
		first := *in
		first.UpdateExpression = aws.String(set + remove + " ADD " + a.count + " :minus, " + a.pending + " :minus, " + a.settled + " :one")
		first.ConditionExpression = aws.String(exists + " AND " + a.since + " = :since AND " + a.count + " > :zero")
		first.ExpressionAttributeValues = refunded
		out, err := u.DB.UpdateItem(ctx, &first)
		var ccf *types.ConditionalCheckFailedException
		if err == nil {
			return decodeUser(out.Attributes)
		}
		if !errors.As(err, &ccf) {
			return session.User{}, session.Unavailable("settle log-in", err)
		}
		// The window is gone: nothing to give back in it.
	}
	out, err := u.DB.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.User{}, session.Errorf(session.ENOTFOUND, "no such user")
	}
	if err != nil {
		return session.User{}, session.Unavailable("settle log-in", err)
	}
	return decodeUser(out.Attributes)
}

// ClearFailures forgets a user's failed log-ins and locks, in every class,
// in one UpdateItem.
func (u *Users) ClearFailures(ctx context.Context, name string) error {
	var attrs []string
	for _, c := range session.Classes {
		attrs = append(attrs, classes[c].all()...)
	}
	attrs = append(attrs, attrStale)
	return u.updateExisting(ctx, "clear failed log-ins", name, "REMOVE "+strings.Join(attrs, ", "), nil)
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
	_, err := u.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(u.Table),
		Key:                       u.key(name),
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
func (u *Users) Rehash(ctx context.Context, name, old, new string) error {
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

// List returns every user's name and failed log-ins (not password
// hashes), in no particular order.
func (u *Users) List(ctx context.Context) ([]session.User, error) {
	var users []session.User
	var start map[string]types.AttributeValue
	for {
		out, err := u.DB.Scan(ctx, &dynamodb.ScanInput{
			TableName:            aws.String(u.Table),
			ProjectionExpression: aws.String("#n, " + lockoutProjection()),
			ExpressionAttributeNames: map[string]string{
				"#n": attrName,
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, session.Unavailable("list users", err)
		}
		for _, item := range out.Items {
			n, ok := stringAttr(item, attrName)
			uf, ok1 := decodeFailures(item, classes[session.Unfamiliar])
			ff, ok2 := decodeFailures(item, classes[session.Familiar])
			if ok && ok1 && ok2 {
				users = append(users, session.User{Name: n, Failures: uf, FamiliarFailures: ff})
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return users, nil
		}
		start = out.LastEvaluatedKey
	}
}

// lockoutProjection names every lockout attribute, for List.
func lockoutProjection() string {
	var attrs []string
	for _, c := range session.Classes {
		attrs = append(attrs, classes[c].all()...)
	}
	return strings.Join(attrs, ", ")
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

// decodeFailures reads one class's lockout from a user item: absent is none.
func decodeFailures(item map[string]types.AttributeValue, a classAttrs) (session.Failures, bool) {
	var f session.Failures
	if _, ok := item[a.count]; ok {
		n, ok1 := item[a.count].(*types.AttributeValueMemberN)
		since, ok2 := millisAttr(item, a.since)
		if !ok1 || !ok2 {
			return session.Failures{}, false
		}
		count, err := strconv.Atoi(n.Value)
		if err != nil {
			return session.Failures{}, false
		}
		// A refund's condition (count > 0) keeps DynamoDB's count at 0 or
		// more; an engine whose conditional writes are not atomic (moto)
		// can let two refunds pass it. Below 0 is no attempt counted, not
		// a user that cannot be read.
		f.Count, f.Since = max(count, 0), since
		if n, ok := item[a.pending].(*types.AttributeValueMemberN); ok {
			// Below 0 only for attempts reserved by a version that kept no
			// pending count and settled by this one: none in flight.
			if p, err := strconv.Atoi(n.Value); err == nil && p > 0 {
				f.Pending = p
			}
		}
		if n, ok := item[a.settled].(*types.AttributeValueMemberN); ok {
			if k, err := strconv.Atoi(n.Value); err == nil && k > 0 {
				f.Settled = k
			}
		}
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
