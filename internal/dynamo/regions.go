package dynamo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cis-session/cis-session/internal/awsenv"
	"github.com/cis-session/cis-session/internal/session"
)

// A session's one writer is its home region (docs/REGIONS.md): a global
// table's replicas resolve concurrent writes of an item by last writer, so
// a touch written in one region after a log-out written in another would
// bring the session back. Here a region writes only the sessions it made;
// for any other it asks the home region's replica, whose conditions then
// judge every write of that session against one copy.

// awayError says the session's home is another region.
type awayError struct{ home string }

func (e *awayError) Error() string { return "the session's home is region " + e.home }

func awayHome(err error) (string, bool) {
	var a *awayError
	if errors.As(err, &a) {
		return a.home, true
	}
	return "", false
}

// homeOnly adds to a write's condition that the item is this region's to
// write: its home is this region, or it has none (made before regions). With
// takeOver, the condition is instead that its home is still takeOver, and
// the update (when given) makes this region its home.
func (s *Sessions) homeOnly(cond, update *string, values map[string]types.AttributeValue, takeOver string) {
	if s.Region == "" {
		return
	}
	region := &types.AttributeValueMemberS{Value: s.Region}
	if takeOver == "" {
		*cond += " AND (attribute_not_exists(" + attrHome + ") OR " + attrHome + " = :region)"
		values[":region"] = region
		return
	}
	*cond += " AND " + attrHome + " = :away_home"
	values[":away_home"] = &types.AttributeValueMemberS{Value: takeOver}
	if update != nil {
		*update += ", " + attrHome + " = :region"
		values[":region"] = region
	}
}

// away returns an awayError if item is a session whose home is another
// region (and this is no take-over, which has already checked its home).
func (s *Sessions) away(item map[string]types.AttributeValue, takeOver string) error {
	if s.Region == "" || takeOver != "" {
		return nil
	}
	if home, _ := stringAttr(item, attrHome); home != "" && home != s.Region {
		return &awayError{home: home}
	}
	return nil
}

// awayAfterFailure is away for a write whose condition failed, reading the
// item on engines that do not return it with the failure.
func (s *Sessions) awayAfterFailure(ctx context.Context, key map[string]types.AttributeValue, item map[string]types.AttributeValue, takeOver string) error {
	if s.Region == "" || takeOver != "" {
		return nil
	}
	if item == nil && s.ReadOnFailedCondition {
		var err error
		if item, err = s.laterAccess(ctx, key, time.Time{}); err != nil {
			return err
		}
	}
	if item == nil {
		return nil
	}
	return s.away(item, takeOver)
}

// atHome does there at the home region's replica. If that replica cannot
// be reached, this region takes the session over (takeOver): the one case
// in which two regions may write one session, and its cost is stated in
// docs/REGIONS.md (a revocation the lost region had not yet shared).
func (s *Sessions) atHome(ctx context.Context, home string, h session.TokenHash, there func(*Sessions) (session.Session, error), takeOver func() (session.Session, error)) (session.Session, error) {
	p := s.Peers[home]
	if p == nil {
		return session.Session{}, session.Unavailable("reach the session's home region",
			fmt.Errorf("region %s is not among the peers of region %s", home, s.Region))
	}
	// The home's store with this one's seal key, which callers may set
	// after InRegion.
	peer := *p
	peer.Seals = s.Seals
	sess, err := there(&peer)
	if !unreachable(err) {
		return sess, err
	}
	if sess, err = takeOver(); err == nil && s.recorder != nil {
		s.recorder.Record(ctx, session.TakeOver(home, h))
	}
	return sess, err
}

// unreachable reports whether err says the peer's replica could not be
// reached: no answer, or a 5xx. A 4xx (access denied, say: a peer
// misconfigured) is no reason to take its sessions over, which would make
// two writers of them; the client gets the 503 instead.
func unreachable(err error) bool {
	if session.ErrorCode(err) != session.EUNAVAILABLE {
		return false
	}
	var re *awshttp.ResponseError
	return !errors.As(err, &re) || re.HTTPStatusCode() == 0 || re.HTTPStatusCode() >= 500 // 0: no answer
}

// InRegion makes s the store of region in a multi-region deployment, its
// peers' replicas reached with a client each: peers maps a region's name
// to its DynamoDB endpoint, or to "" for AWS's endpoint of the region of
// that name. The peers share s's table name, seals and engine quirks.
// Credentials come from the environment (awsenv), as the functions' own.
func (s *Sessions) InRegion(region string, peers map[string]string, opts ...Option) error {
	s.Region, s.Peers = region, map[string]*Sessions{}
	for name, endpoint := range peers {
		cfg, err := awsenv.Config(func(k string) (string, bool) {
			switch k {
			case "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL":
				return endpoint, endpoint != ""
			case "AWS_REGION", "AWS_DEFAULT_REGION":
				if endpoint == "" {
					return name, true
				}
			}
			return os.LookupEnv(k)
		}, "AWS_ENDPOINT_URL_DYNAMODB")
		if err != nil {
			return fmt.Errorf("peer region %s: %w", name, err)
		}
		s.Peers[name] = &Sessions{DB: NewClientFromConfig(cfg, opts...), Table: s.Table,
			ReadOnFailedCondition: s.ReadOnFailedCondition, Region: name, countPage: s.countPage}
	}
	return nil
}

// RecordTakeOvers has every take-over this store makes recorded with r
// (session.TakeOver), once: an event the operator watches, wired once at
// init, so that no call pays for it but one that takes a session over.
func (s *Sessions) RecordTakeOvers(r session.Recorder) { s.recorder = r }
