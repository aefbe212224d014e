package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Key attributes of the tables (string hash keys). template.yaml declares the
// same; a test holds the two together.
const (
	SessionsKey = attrTokenHash
	UsersKey    = attrUserKeyPK
)

// Tables names the service's tables.
type Tables struct {
	Sessions string
	Users    string
}

// CreateTables creates the sessions and users tables if they do not exist,
// with the sessions table's indexes (SessionsByUser, SessionsBySubject, SessionsBySID), waits until all are
// active (refusing a sessions table made without the index), and turns on TTL for sessions.
// It is what the admin tool and the local runner use; a deployed stack gets
// its tables from template.yaml instead.
func CreateTables(ctx context.Context, db *Client, t Tables) error {
	inputs := createTableInputs(t)
	for _, in := range inputs {
		_, err := db.CreateTable(ctx, in)
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	for _, in := range inputs {
		w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = time.Second
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 2*time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	for _, idx := range []*types.GlobalSecondaryIndex{sessionsByUser(), sessionsBySubject(), sessionsBySID()} {
		if err := ensureIndex(ctx, db, t.Sessions, idx); err != nil {
			return err
		}
	}
	return enableTTL(ctx, db, t.Sessions)
}

// createTableInputs defines the tables as CreateTables creates them.
func createTableInputs(t Tables) []*dynamodb.CreateTableInput {
	specs := []struct {
		name, key string
		indexes   []*types.GlobalSecondaryIndex
	}{
		{t.Sessions, SessionsKey, []*types.GlobalSecondaryIndex{sessionsByUser(), sessionsBySubject(), sessionsBySID()}},
		{t.Users, UsersKey, nil},
	}
	var inputs []*dynamodb.CreateTableInput
	for _, s := range specs {
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(s.name),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(s.key), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(s.key), KeyType: types.KeyTypeHash},
			},
		}
		for _, idx := range s.indexes {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
				AttributeName: idx.KeySchema[0].AttributeName, AttributeType: types.ScalarAttributeTypeS})
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, *idx)
		}
		inputs = append(inputs, in)
	}
	return inputs
}

// sessionsByUser is the definition of the SessionsByUser index.
func sessionsByUser() *types.GlobalSecondaryIndex {
	return &types.GlobalSecondaryIndex{
		IndexName: aws.String(SessionsByUser),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(SessionsByUserKey), KeyType: types.KeyTypeHash},
		},
		Projection: &types.Projection{
			ProjectionType:   types.ProjectionTypeInclude,
			NonKeyAttributes: SessionsByUserProjection(),
		},
	}
}

// sessionsBySubject is the definition of the SessionsBySubject index.
func sessionsBySubject() *types.GlobalSecondaryIndex {
	return &types.GlobalSecondaryIndex{
		IndexName: aws.String(SessionsBySubject),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(SessionsBySubjectKey), KeyType: types.KeyTypeHash},
		},
		Projection: &types.Projection{
			ProjectionType:   types.ProjectionTypeInclude,
			NonKeyAttributes: SessionsBySubjectProjection(),
		},
	}
}

// sessionsBySID is the definition of the SessionsBySID index.
func sessionsBySID() *types.GlobalSecondaryIndex {
	return &types.GlobalSecondaryIndex{
		IndexName: aws.String(SessionsBySID),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(SessionsBySIDKey), KeyType: types.KeyTypeHash},
		},
		Projection: &types.Projection{
			ProjectionType:   types.ProjectionTypeInclude,
			NonKeyAttributes: SessionsBySIDProjection(),
		},
	}
}

// SessionsByUserKey is the hash key of the SessionsByUser index (type S).
const SessionsByUserKey = attrUserKey

// SessionsByUserProjection lists the attributes the SessionsByUser index
// includes beside the keys: only what never changes after a session is
// created (the count filters on it, the admin tool lists it).
func SessionsByUserProjection() []string { return []string{attrCreated} }

// OldSessionsByUser is the index SessionsByUser replaces; create-tables names
// it when it finds a table that has it instead.
const OldSessionsByUser = "by-user"

// ensureIndex checks that table has idx, active. A table made before the
// index existed is refused with what to do: without the index no log-in
// could count sessions. (dynalite cannot add an index to a table, so this
// does not try.)
func ensureIndex(ctx context.Context, db *Client, table string, idx *types.GlobalSecondaryIndex) error {
	name := aws.ToString(idx.IndexName)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", table, err)
		}
		i := slices.IndexFunc(d.Table.GlobalSecondaryIndexes, func(g types.GlobalSecondaryIndexDescription) bool {
			return aws.ToString(g.IndexName) == name
		})
		if i < 0 {
			return fmt.Errorf("table %s has no index %s: add it (partition key %s, projection INCLUDE %v), "+
				"wait for it to be ACTIVE, then remove %s if the table has it (docs/SESSIONS.md, Migration), or recreate the table",
				table, name, aws.ToString(idx.KeySchema[0].AttributeName), idx.Projection.NonKeyAttributes, OldSessionsByUser)
		}
		if d.Table.GlobalSecondaryIndexes[i].IndexStatus == types.IndexStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %s of table %s: %w", name, table, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// enableTTL turns on TTL clean-up of expired sessions. Engines without TTL
// (dynalite) refuse it; correctness does not depend on it, so that refusal
// is not an error.
func enableTTL(ctx context.Context, db *Client, table string) error {
	d, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && d.TimeToLiveDescription != nil &&
		(d.TimeToLiveDescription.TimeToLiveStatus == types.TimeToLiveStatusEnabled ||
			d.TimeToLiveDescription.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpires),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && isUnsupported(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enable TTL on %s: %w", table, err)
	}
	return nil
}

// isUnsupported reports whether err is an engine's refusal of an operation it
// does not implement.
func isUnsupported(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnknownOperationException", "NotImplemented", "UnsupportedOperation":
		return true
	}
	return false
}
