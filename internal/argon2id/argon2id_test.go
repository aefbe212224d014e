package argon2id

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fastParams keep tests that are not about cost quick.
var fastParams = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func TestMain(m *testing.M) {
	// Decoy must not hash at package init (Lambda cold start).
	n := 0
	decoys.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		println("argon2id: Decoy cache filled at package init")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestHashThenVerifyAcceptsSamePassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		params   Params
	}{
		{"ascii", "correct horse battery staple", fastParams},
		{"empty", "", fastParams},
		{"unicode", "pässwörd-密码-🔑", fastParams},
		{"dollars and commas", "$argon2id$v=19$m=1,t=1,p=1$", fastParams},
		{"long", strings.Repeat("x", 4096), fastParams},
		{"two lanes", "password", Params{MemoryKiB: 256, Iterations: 2, Parallelism: 2, SaltLen: 8, KeyLen: 16}},
		{"default params", "password", DefaultParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phc, err := Hash(tt.password, tt.params)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			ok, err := Verify(phc, tt.password)
			if err != nil || !ok {
				t.Fatalf("Verify(%q) = %v, %v; want true, nil", phc, ok, err)
			}
		})
	}
}

func TestVerifyRejectsWrongPassword(t *testing.T) {
	phc, err := Hash("password", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"", "Password", "password ", "passwor", "password\x00", "passwore"} {
		ok, err := Verify(phc, wrong)
		if err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
}

func TestHashUsesFreshSaltEachTime(t *testing.T) {
	a, err := Hash("password", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash("password", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of the same password are equal: %s", a)
	}
	_, saltA, _, _ := Decode(a)
	_, saltB, _, _ := Decode(b)
	if string(saltA) == string(saltB) {
		t.Fatalf("two hashes share salt %x", saltA)
	}
}

func TestHashEncodesItsParams(t *testing.T) {
	for _, p := range []Params{
		fastParams,
		DefaultParams,
		{MemoryKiB: 128, Iterations: 3, Parallelism: 4, SaltLen: 32, KeyLen: 64},
	} {
		phc, err := Hash("pw", p)
		if err != nil {
			t.Fatal(err)
		}
		got, salt, key, err := Decode(phc)
		if err != nil {
			t.Fatalf("Decode(%s): %v", phc, err)
		}
		if got != p || len(salt) != int(p.SaltLen) || len(key) != int(p.KeyLen) {
			t.Errorf("Decode(Hash(_, %+v)) = %+v, %d-byte salt, %d-byte key", p, got, len(salt), len(key))
		}
	}
}

func TestDefaultParamsMeetOWASPMinimum(t *testing.T) {
	// OWASP's equivalent minimum configurations (Password Storage Cheat
	// Sheet), all with p=1: DefaultParams must match or exceed one of them
	// in both memory and iterations.
	owasp := []struct{ m, t uint32 }{{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5}}
	p := DefaultParams
	meets := false
	for _, o := range owasp {
		meets = meets || p.MemoryKiB >= o.m && p.Iterations >= o.t
	}
	if !meets || p.Parallelism < 1 || p.SaltLen < 16 || p.KeyLen < 32 {
		t.Errorf("DefaultParams = %+v, below every OWASP configuration (%v), or salt under 16 or key under 32 bytes", p, owasp)
	}
	if err := p.validate(); err != nil {
		t.Error(err)
	}
}

// TestHashMatchesReferenceVectors checks against the Argon2id v1.3 vectors of
// the reference implementation, P-H-C/phc-winner-argon2 src/test.c
// (hashtest(ARGON2_VERSION_13, t, log2 m, p, pwd, salt, hex, encoded,
// Argon2_id)), with a 32-byte output. The 256 MiB vector (m=2^18) is left out.
func TestHashMatchesReferenceVectors(t *testing.T) {
	tests := []struct {
		m, t     uint32
		p        uint8
		password string
		salt     string
		hex      string
		phc      string
	}{
		{65536, 2, 1, "password", "somesalt",
			"09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7",
			"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{256, 2, 1, "password", "somesalt",
			"9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
			"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{256, 2, 2, "password", "somesalt",
			"6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037",
			"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
		{65536, 1, 1, "password", "somesalt",
			"f6a5adc1ba723dddef9b5ac1d464e180fcd9dffc9d1cbf76cca2fed795d9ca98",
			"$argon2id$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$9qWtwbpyPd3vm1rB1GThgPzZ3/ydHL92zKL+15XZypg"},
		{65536, 4, 1, "password", "somesalt",
			"9025d48e68ef7395cca9079da4c4ec3affb3c8911fe4f86d1a2520856f63172c",
			"$argon2id$v=19$m=65536,t=4,p=1$c29tZXNhbHQ$kCXUjmjvc5XMqQedpMTsOv+zyJEf5PhtGiUghW9jFyw"},
		{65536, 2, 1, "differentpassword", "somesalt",
			"0b84d652cf6b0c4beaef0dfe278ba6a80df6696281d7e0d2891b817d8c458fde",
			"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$C4TWUs9rDEvq7w3+J4umqA32aWKB1+DSiRuBfYxFj94"},
		{65536, 2, 1, "password", "diffsalt",
			"bdf32b05ccc42eb15d58fd19b1f856b113da1e9a5874fdcc544308565aa8141c",
			"$argon2id$v=19$m=65536,t=2,p=1$ZGlmZnNhbHQ$vfMrBczELrFdWP0ZsfhWsRPaHppYdP3MVEMIVlqoFBw"},
	}
	for _, tt := range tests {
		t.Run(tt.phc, func(t *testing.T) {
			p := Params{MemoryKiB: tt.m, Iterations: tt.t, Parallelism: tt.p, SaltLen: uint32(len(tt.salt)), KeyLen: 32}
			if got := hashWithSalt([]byte(tt.password), []byte(tt.salt), p); got != tt.phc {
				t.Errorf("hashWithSalt = %s\nwant            %s", got, tt.phc)
			}
			gotP, salt, key, err := Decode(tt.phc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if gotP != p || string(salt) != tt.salt || hex.EncodeToString(key) != tt.hex {
				t.Errorf("Decode = %+v, %q, %x; want %+v, %q, %s", gotP, salt, key, p, tt.salt, tt.hex)
			}
			if ok, err := Verify(tt.phc, tt.password); err != nil || !ok {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			if ok, err := Verify(tt.phc, tt.password+"x"); err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashRejectsParamsOutsideBounds(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{"zero value", Params{}},
		{"memory over 1 GiB", Params{MemoryKiB: 1<<20 + 1, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{"memory under 8 KiB per lane", Params{MemoryKiB: 31, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 32}},
		{"zero iterations", Params{MemoryKiB: 64, Iterations: 0, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{"65 iterations", Params{MemoryKiB: 64, Iterations: 65, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{"zero parallelism", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 0, SaltLen: 16, KeyLen: 32}},
		{"parallelism 17", Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 17, SaltLen: 16, KeyLen: 32}},
		{"salt 7 bytes", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 7, KeyLen: 32}},
		{"salt 65 bytes", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 65, KeyLen: 32}},
		{"key 15 bytes", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 15}},
		{"key 129 bytes", Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 129}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phc, err := Hash("password", tt.p)
			if !errors.Is(err, ErrBounds) || phc != "" {
				t.Errorf("Hash = %q, %v; want \"\", ErrBounds", phc, err)
			}
		})
	}
}

// refVector is a valid string (reference vector, m=256,t=2,p=1) that the
// malformed cases below are derived from.
const refVector = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"

func TestVerifyRejectsMalformedOrOutOfBoundsStrings(t *testing.T) {
	const key = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	const salt = "c29tZXNhbHQ"
	b := func(n int) string { return b64.EncodeToString(make([]byte, n)) }
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name string
		phc  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"only dollars", "$$$$$", ErrMalformed},
		{"no leading dollar", refVector[1:], ErrMalformed},
		{"trailing dollar", refVector + "$", ErrMalformed},
		{"leading space", " " + refVector, ErrMalformed},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA", ErrUnsupported},
		{"argon2d", "$argon2d$v=19$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"upper-case algorithm", "$ARGON2ID$v=19$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", ErrMalformed},
		{"version 16", "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"version 0x13 in hex", "$argon2id$v=13$m=256,t=2,p=1$" + salt + "$" + key, ErrUnsupported},
		{"version missing (argon2 1.0 style)", "$argon2id$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"version empty", "$argon2id$v=$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"version leading zero", "$argon2id$v=019$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"version without v=", "$argon2id$19$m=256,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"params missing", "$argon2id$v=19$" + salt + "$" + key, ErrMalformed},
		{"params empty", with(""), ErrMalformed},
		{"p missing", with("m=256,t=2"), ErrMalformed},
		{"params out of order", with("t=2,m=256,p=1"), ErrMalformed},
		{"extra keyid param", with("m=256,t=2,p=1,keyid=abc"), ErrMalformed},
		{"extra data param", with("m=256,t=2,p=1,data=YWQ"), ErrMalformed},
		{"trailing comma", with("m=256,t=2,p=1,"), ErrMalformed},
		{"m empty", with("m=,t=2,p=1"), ErrMalformed},
		{"m negative", with("m=-256,t=2,p=1"), ErrMalformed},
		{"m with plus sign", with("m=+256,t=2,p=1"), ErrMalformed},
		{"m with space", with("m= 256,t=2,p=1"), ErrMalformed},
		{"m hex", with("m=0x100,t=2,p=1"), ErrMalformed},
		{"m leading zero", with("m=0256,t=2,p=1"), ErrMalformed},
		{"m overflows uint32", with("m=4294967296,t=2,p=1"), ErrMalformed},
		{"m huge", with("m=99999999999999999999,t=2,p=1"), ErrMalformed},
		{"m 4 GiB - 1", with("m=4294967295,t=2,p=1"), ErrBounds},
		{"m just over 1 GiB", with("m=1048577,t=2,p=1"), ErrBounds},
		{"m under 8 KiB per lane", with("m=15,t=2,p=2"), ErrBounds},
		{"m zero", with("m=0,t=2,p=1"), ErrBounds},
		{"t zero", with("m=256,t=0,p=1"), ErrBounds},
		{"t 65", with("m=256,t=65,p=1"), ErrBounds},
		{"t max uint32", with("m=256,t=4294967295,p=1"), ErrBounds},
		{"p zero", with("m=256,t=2,p=0"), ErrBounds},
		{"p 17", with("m=256,t=2,p=17"), ErrBounds},
		{"p 256 (0 as uint8)", with("m=256,t=2,p=256"), ErrBounds},
		{"p 257 (1 as uint8)", with("m=256,t=2,p=257"), ErrBounds},
		{"salt missing", "$argon2id$v=19$m=256,t=2,p=1$" + key, ErrMalformed},
		{"salt empty", "$argon2id$v=19$m=256,t=2,p=1$$" + key, ErrBounds},
		{"salt 7 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + b(7) + "$" + key, ErrBounds},
		{"salt 65 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + b(65) + "$" + key, ErrBounds},
		{"salt bad base64", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ!$" + key, ErrMalformed},
		{"salt padded base64", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$" + key, ErrMalformed},
		{"salt url base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR_uIPnA4rEsF5h7TKyQwu9U1bMCHGi_4", ErrMalformed},
		{"salt non-canonical trailing bits", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$" + key, ErrMalformed},
		{"salt with newline", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNh\nbHQ$" + key, ErrMalformed},
		{"key with carriage return", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$\r" + key, ErrMalformed},
		{"salt impossible length", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQAA$" + key, ErrMalformed},
		{"key empty", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$", ErrBounds},
		{"key 15 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + b(15), ErrBounds},
		{"key 129 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + b(129), ErrBounds},
		{"key bad base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:10] + "\xff" + key[11:], ErrMalformed},
		{"too long", refVector + strings.Repeat("A", 600), ErrMalformed},
		{"invalid utf-8", "$argon2id$v=19$m=256,t=2,p=1$\xc3\x28$" + key, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(tt.phc, "password")
			if ok || !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, %v; want false, %v", ok, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "password") {
				t.Errorf("error %q repeats the password", err)
			}
			if _, _, _, err := Decode(tt.phc); !errors.Is(err, tt.want) {
				t.Errorf("Decode error = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeAcceptsBoundaryParams(t *testing.T) {
	b := func(n int) string { return b64.EncodeToString(make([]byte, n)) }
	for _, phc := range []string{
		"$argon2id$v=19$m=8,t=1,p=1$" + b(8) + "$" + b(16),
		"$argon2id$v=19$m=128,t=64,p=16$" + b(64) + "$" + b(128),
		"$argon2id$v=19$m=1048576,t=1,p=1$" + b(16) + "$" + b(32),
	} {
		p, salt, key, err := Decode(phc)
		if err != nil {
			t.Errorf("Decode(%s): %v", phc, err)
			continue
		}
		if got := encode(p, salt, key); got != phc {
			t.Errorf("encode(Decode(%s)) = %s", phc, got)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	salt16, key32 := make([]byte, 16), make([]byte, 32)
	// A base with room below it in both memory and iterations.
	cur := Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	with := func(f func(*Params)) string {
		p := cur
		f(&p)
		return encode(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
	}
	tests := []struct {
		name string
		phc  string
		want bool
	}{
		{"same params", encode(cur, salt16, key32), false},
		{"more memory", with(func(p *Params) { p.MemoryKiB = 65536 }), false},
		{"more iterations", with(func(p *Params) { p.Iterations = 3 }), false},
		{"longer salt and key", with(func(p *Params) { p.SaltLen, p.KeyLen = 32, 64 }), false},
		{"other parallelism only", with(func(p *Params) { p.Parallelism = 4 }), false},
		{"less memory", with(func(p *Params) { p.MemoryKiB = 19455 }), true},
		{"fewer iterations", with(func(p *Params) { p.Iterations = 1 }), true},
		{"more memory but fewer iterations", with(func(p *Params) { p.MemoryKiB, p.Iterations = 47104, 1 }), true},
		{"shorter salt", with(func(p *Params) { p.SaltLen = 8 }), true},
		{"shorter key", with(func(p *Params) { p.KeyLen = 16 }), true},
		{"malformed", "not a hash", true},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(tt.phc, cur); got != tt.want {
				t.Errorf("NeedsRehash(%s, %+v) = %v; want %v", tt.phc, cur, got, tt.want)
			}
		})
	}
}

func TestDummyIsComputedOnceAndMatchesNoPassword(t *testing.T) {
	p := Params{MemoryKiB: 72, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32} // used by no other test
	if _, ok := decoys.Load(p); ok {
		t.Fatal("Decoy computed before first use")
	}
	d := Decoy(p)
	if _, ok := decoys.Load(p); !ok {
		t.Fatal("Decoy not cached")
	}
	if d2 := Decoy(p); d2 != d {
		t.Fatalf("Decoy changed between calls: %s then %s", d, d2)
	}
	got, _, _, err := Decode(d)
	if err != nil || got != p {
		t.Fatalf("Decode(Decoy(p)) = %+v, %v; want %+v", got, err, p)
	}
	for _, pw := range []string{"", "password", "admin", d} {
		if ok, err := Verify(d, pw); ok || err != nil {
			t.Errorf("Verify(Decoy, %q) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	if other := Decoy(fastParams); other == d {
		t.Error("Decoy gives the same string for different params")
	}
}

func TestDummyConcurrentFirstCallsAgree(t *testing.T) {
	p := Params{MemoryKiB: 80, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32} // used by no other test
	const n = 16
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i] = Decoy(p) })
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("Decoy results differ: %s vs %s", got[i], got[0])
		}
	}
}

func TestDummyFallsBackToDefaultParamsForInvalidParams(t *testing.T) {
	d := Decoy(Params{}) // Hash would reject these
	p, _, _, err := Decode(d)
	if err != nil || p != DefaultParams {
		t.Errorf("Decode(Decoy(Params{})) = %+v, %v; want %+v", p, err, DefaultParams)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(refVector, "password")
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "password")
	f.Add("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA", "password")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "")
	f.Add("$argon2id$v=19$m=256,t=2,p=257$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "x")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$$", "x")
	f.Add("$argon2id$v=16$m=,t=,p=$=$=", "")
	f.Add("$$$$$$$", "\x00")
	f.Add("", "")
	f.Add("$argon2id$v=19$m=10,t=1,p=1$00000000000$\r00000000000000000000000", "0") // base64 decoder skips \r
	f.Fuzz(func(t *testing.T, phc, password string) {
		p, salt, key, err := Decode(phc)
		if err != nil {
			if ok, verr := Verify(phc, password); ok || verr == nil {
				t.Fatalf("Decode failed (%v) but Verify = %v, %v", err, ok, verr)
			}
			return
		}
		if err := p.validate(); err != nil {
			t.Fatalf("Decode accepted out-of-bounds params: %v", err)
		}
		if got := encode(p, salt, key); got != phc {
			t.Fatalf("Decode is not canonical: %q re-encodes as %q", phc, got)
		}
		// Hashing is bounded but can still cost a second at the bounds;
		// only run it for cheap params so fuzzing stays fast.
		if uint64(p.MemoryKiB)*uint64(p.Iterations) <= 4096 {
			if _, err := Verify(phc, password); err != nil {
				t.Fatalf("Verify after successful Decode: %v", err)
			}
		}
	})
}

func BenchmarkHash(b *testing.B) {
	for _, p := range []Params{
		{MemoryKiB: 47104, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, // DefaultParams; OWASP option 1
		{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, // OWASP option 2, the default before
		{MemoryKiB: 65536, Iterations: 3, Parallelism: 1, SaltLen: 16, KeyLen: 32}, // RFC 9106 second recommendation, with p=1
		{MemoryKiB: 12288, Iterations: 3, Parallelism: 1, SaltLen: 16, KeyLen: 32}, // OWASP option 3
	} {
		name := fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu, n := cpuTime(), 0
			for b.Loop() {
				if _, err := Hash("correct horse battery staple", p); err != nil {
					b.Fatal(err)
				}
				n++
			}
			// The CPU time of a hash, whatever else the machine is doing:
			// what a log-in costs at Lambda's fraction of a vCPU.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n), "cpu-ns/op")
		})
	}
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
