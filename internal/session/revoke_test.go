package session

import (
	"strings"
	"testing"
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
