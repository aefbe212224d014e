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

// Attribute names of the users table.
const (
	attrUserKeyPK    = "user_key"      // S, lower-case name@domain: the key
	attrName         = "name"          // S, canonical name@domain
	attrPasswordHash = "password_hash" // S, argon2id PHC string
	attrUserCreated  = "created_ms"    // N, Unix milliseconds
	attrUserUpdated  = "updated_ms"    // N, Unix milliseconds of the last password change
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

// Add stores a new user; ENOTFOUND is never returned, and an existing user
// of the same name (case-insensitively) is an EINVALID error.
func (u *Users) Add(ctx context.Context, user session.User, now time.Time) error {
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	_, err := u.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(u.Table),
		Item: map[string]types.AttributeValue{
			attrUserKeyPK:    &types.AttributeValueMemberS{Value: session.UserKey(user.Name)},
			attrName:         &types.AttributeValueMemberS{Value: user.Name},
			attrPasswordHash: &types.AttributeValueMemberS{Value: user.PasswordHash},
			attrUserCreated:  &types.AttributeValueMemberN{Value: ms},
			attrUserUpdated:  &types.AttributeValueMemberN{Value: ms},
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

// SetPassword replaces an existing user's password hash.
func (u *Users) SetPassword(ctx context.Context, name, hash string, now time.Time) error {
	_, err := u.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(u.Table),
		Key:                 u.key(name),
		UpdateExpression:    aws.String("SET " + attrPasswordHash + " = :h, " + attrUserUpdated + " = :now"),
		ConditionExpression: aws.String("attribute_exists(" + attrUserKeyPK + ")"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":h":   &types.AttributeValueMemberS{Value: hash},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.Errorf(session.ENOTFOUND, "no user %q", name)
	}
	if err != nil {
		return session.Unavailable("set password", err)
	}
	return nil
}

// Remove deletes a user. Sessions the user already holds live on until
// they end; log-in is refused at once.
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

// List returns every user's canonical name, in no particular order.
func (u *Users) List(ctx context.Context) ([]string, error) {
	var names []string
	var start map[string]types.AttributeValue
	for {
		out, err := u.DB.Scan(ctx, &dynamodb.ScanInput{
			TableName:            aws.String(u.Table),
			ProjectionExpression: aws.String("#n"),
			ExpressionAttributeNames: map[string]string{
				"#n": attrName,
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, session.Unavailable("list users", err)
		}
		for _, item := range out.Items {
			if n, ok := stringAttr(item, attrName); ok {
				names = append(names, n)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return names, nil
		}
		start = out.LastEvaluatedKey
	}
}

func decodeUser(item map[string]types.AttributeValue) (session.User, error) {
	name, ok1 := stringAttr(item, attrName)
	hash, ok2 := stringAttr(item, attrPasswordHash)
	if !ok1 || !ok2 {
		return session.User{}, &session.Error{Code: session.EUNAVAILABLE, Err: errors.New("decode user: malformed item")}
	}
	return session.User{Name: name, PasswordHash: hash}, nil
}
