package session

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFindByPrefixNamesOneSessionOrSaysWhyNot(t *testing.T) {
	rec := func(hexHash string) Record {
		var r Record
		for i := range r.Hash {
			r.Hash[i] = 0
		}
		copy(r.Hash[:], mustHex(t, hexHash))
		return r
	}
	recs := []Record{rec("abcd01"), rec("abcd02"), rec("ff0001")}
	cases := []struct {
		prefix  string
		want    int // index in recs, or -1
		errWant string
	}{
		{"abcd01", 0, ""},
		{"ABCD02", 1, ""},
		{"f", 2, ""},
		{"abcd", -1, "names 2 sessions"},
		{"0123", -1, "has no session whose hash starts with 0123"},
		{"", -1, "is not a session hash prefix"},
		{"abx", -1, "hex digits only"},
		{strings.Repeat("a", 65), -1, "is not a session hash prefix"},
	}
	for _, c := range cases {
		got, err := FindByPrefix(recs, "u@d", c.prefix)
		if c.want >= 0 {
			if err != nil || got.Hash != recs[c.want].Hash {
				t.Errorf("FindByPrefix(%q) = %s, %v; want %s", c.prefix, got.Hash, err, recs[c.want].Hash)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.errWant) {
			t.Errorf("FindByPrefix(%q) error = %v, want one saying %q", c.prefix, err, c.errWant)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b
}

// scriptedSessions lists what list returns on each sweep and answers End
// with end; it counts both.
type scriptedSessions struct {
	list   func(sweep int) []Record
	end    func(h TokenHash, tries int) error
	sweeps int
	ends   map[TokenHash]int
}

func (s *scriptedSessions) ListUser(context.Context, string, string) ([]Record, error) {
	s.sweeps++
	return s.list(s.sweeps), nil
}

func (s *scriptedSessions) End(_ context.Context, _, _ string, h TokenHash) error {
	if s.ends == nil {
		s.ends = map[TokenHash]int{}
	}
	s.ends[h]++
	return s.end(h, s.ends[h])
}

// TestAnIndexEntryThatOutlivesItsSessionDoesNotKeepARevocationGoing: the
// index keeps listing a session End finds gone (a stale entry), and one it
// ended; each is tried once, and the sweep ends after its quiet period.
// The old sweep retried both forever; the deadline only stops the test
// failing by hanging.
func TestAnIndexEntryThatOutlivesItsSessionDoesNotKeepARevocationGoing(t *testing.T) {
	stale, ended := Token("stale").Hash(), Token("ended").Hash()
	s := &scriptedSessions{
		list: func(int) []Record { return []Record{{Hash: stale}, {Hash: ended}} },
		end: func(h TokenHash, tries int) error {
			if h == ended && tries == 1 {
				return nil
			}
			return Errorf(ENOTFOUND, "no such session")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Revocation{Store: s, Quiet: 5 * time.Millisecond, Poll: time.Millisecond, MaxSweeps: 1 << 30}.EndAll(ctx, "alice@corp", "")
	if err != nil || n != 1 {
		t.Fatalf("EndAll = %d, %v; want 1 ended and done", n, err)
	}
	if s.ends[stale] != 1 || s.ends[ended] != 1 {
		t.Errorf("End tried the stale entry %d times and the ended one %d times, want once each", s.ends[stale], s.ends[ended])
	}
}

// TestSessionsThatKeepAppearingEndARevocationAfterMaxSweeps: a new session
// on every sweep (log-ins racing the change) never lets the quiet period
// pass; the sweep gives up after MaxSweeps as unavailable, having ended
// every one it found.
func TestSessionsThatKeepAppearingEndARevocationAfterMaxSweeps(t *testing.T) {
	s := &scriptedSessions{
		list: func(sweep int) []Record { return []Record{{Hash: Token(fmt.Sprint("s", sweep)).Hash()}} },
		end:  func(TokenHash, int) error { return nil },
	}
	n, err := Revocation{Store: s, Quiet: time.Hour, Poll: time.Nanosecond, MaxSweeps: 5}.EndAll(context.Background(), "alice@corp", "")
	if ErrorCode(err) != EUNAVAILABLE || n != 5 || s.sweeps != 5 {
		t.Fatalf("EndAll = %d, %v after %d sweeps; want 5 ended, EUNAVAILABLE after 5", n, err, s.sweeps)
	}
	// With no MaxSweeps, a bound still holds: four times the sweeps Quiet takes.
	s = &scriptedSessions{list: s.list, end: s.end}
	_, err = Revocation{Store: s, Quiet: 40 * time.Millisecond, Poll: 10 * time.Millisecond}.EndAll(context.Background(), "alice@corp", "")
	if ErrorCode(err) != EUNAVAILABLE || s.sweeps != 16 {
		t.Fatalf("default bound: %v after %d sweeps; want EUNAVAILABLE after 16", err, s.sweeps)
	}
}
