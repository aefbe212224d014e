package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
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
	// The failure window of the lockout: no clean-up job, a window that has
	// ended is simply ignored and replaced by the next failure.
	attrFailedCount = "failed_count"    // N, failed log-ins in the window
	attrFailedSince = "failed_since_ms" // N, Unix milliseconds of the window's first failure
)

// Conditional updates of the failure window. Each condition says which
// state of the window the update is right for, so that concurrent log-ins
// never lose a count: a request that guessed the state wrong fails its
// condition and tries the other.
const (
	// A window is running: count one more in it.
	addFailureUpdate    = "ADD " + attrFailedCount + " :one"
	addFailureCondition = attrFailedSince + " > :cutoff"
	// None is running (never was, has ended, or was cleared): start one.
	// attribute_exists keeps a failed log-in from creating a user.
	startFailuresUpdate    = "SET " + attrFailedCount + " = :one, " + attrFailedSince + " = :now"
	startFailuresCondition = "attribute_exists(" + attrUserKeyPK + ") AND (attribute_not_exists(" +
		attrFailedSince + ") OR " + attrFailedSince + " <= :cutoff)"
)

// Users is a session.UserStore on a DynamoDB table, with the operations the
// admin tool needs.
type Users struct {
	DB    API
	Table string
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

// CountFailure counts a failed log-in in one conditional UpdateItem, chosen
// by seen; a concurrent log-in that changed the window since seen was read
// costs one or two more. With seen nil (no user was found) it makes exactly
// one request, which counts nothing unless the user has appeared since.
func (u *Users) CountFailure(ctx context.Context, name string, seen *session.Failures, now time.Time, window time.Duration) error {
	cutoff := now.Add(-window)
	running := seen != nil && seen.Count > 0 && seen.Since.After(cutoff)
	attempts := 3
	if seen == nil {
		attempts = 1
	}
	for range attempts {
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String(u.Table),
			Key:       u.key(name),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one":    &types.AttributeValueMemberN{Value: "1"},
				":cutoff": millis(cutoff),
			},
		}
		if running {
			in.UpdateExpression, in.ConditionExpression = aws.String(addFailureUpdate), aws.String(addFailureCondition)
		} else {
			in.UpdateExpression, in.ConditionExpression = aws.String(startFailuresUpdate), aws.String(startFailuresCondition)
			in.ExpressionAttributeValues[":now"] = millis(now)
		}
		_, err := u.DB.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			if err != nil {
				return session.Unavailable("count failed log-in", err)
			}
			return nil
		}
		running = !running
	}
	return session.Errorf(session.ENOTFOUND, "failed log-in of %q not counted: no such user, or its window kept changing", name)
}

// ClearFailures forgets a user's failed log-ins in one UpdateItem.
func (u *Users) ClearFailures(ctx context.Context, name string) error {
	return u.updateExisting(ctx, "clear failed log-ins", name, "REMOVE "+attrFailedCount+", "+attrFailedSince, nil)
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
			ProjectionExpression: aws.String("#n, " + attrFailedCount + ", " + attrFailedSince),
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
			f, fok := decodeFailures(item)
			if ok && fok {
				users = append(users, session.User{Name: n, Failures: f})
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return users, nil
		}
		start = out.LastEvaluatedKey
	}
}

func decodeUser(item map[string]types.AttributeValue) (session.User, error) {
	name, ok1 := stringAttr(item, attrName)
	hash, ok2 := stringAttr(item, attrPasswordHash)
	failures, ok3 := decodeFailures(item)
	if !ok1 || !ok2 || !ok3 {
		return session.User{}, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode user: malformed item")}
	}
	rev, _ := stringAttr(item, attrRevision) // absent on users stored before revisions
	return session.User{Name: name, PasswordHash: hash, Failures: failures, Revision: rev}, nil
}

// decodeFailures reads the failure window of a user item: absent is none.
func decodeFailures(item map[string]types.AttributeValue) (session.Failures, bool) {
	_, hasCount := item[attrFailedCount]
	_, hasSince := item[attrFailedSince]
	if !hasCount && !hasSince {
		return session.Failures{}, true
	}
	n, ok1 := item[attrFailedCount].(*types.AttributeValueMemberN)
	since, ok2 := millisAttr(item, attrFailedSince)
	if !ok1 || !ok2 {
		return session.Failures{}, false
	}
	count, err := strconv.Atoi(n.Value)
	if err != nil || count < 0 {
		return session.Failures{}, false
	}
	return session.Failures{Count: count, Since: since}, true
}
