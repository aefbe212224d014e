// Package argon2id hashes and verifies passwords with Argon2id (RFC 9106),
// storing them as PHC strings in the encoding of the reference argon2
// implementation and CLI:
//
//	$argon2id$v=19$m=<KiB>,t=<iterations>,p=<parallelism>$<salt>$<key>
//
// where salt and key are standard base64 without padding. Strings made by
// other conforming implementations (argon2-cffi, libsodium, the reference
// CLI, RustCrypto argon2, ...) verify here, and vice versa, as long as they
// use no secret key or associated data.
//
// The session service uses it to store the passwords of its users and to
// check them at login. Verify treats a stored string as untrusted: it bounds
// every cost parameter before doing any work, so a corrupted or malicious
// record cannot make the service burn memory or CPU, and it never panics.
// Decoy supports answering logins for unknown users in the same time as for
// known ones.
//
// The package is pure computation: it imports no AWS, HTTP or storage code.
package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are the cost parameters of a new hash.
type Params struct {
	MemoryKiB   uint32 // m: memory in KiB
	Iterations  uint32 // t: passes over the memory
	Parallelism uint8  // p: lanes (and goroutines)
	SaltLen     uint32 // bytes of random salt
	KeyLen      uint32 // bytes of derived key
}

// DefaultParams are the parameters of new hashes.
//
// m=47104 KiB (46 MiB), t=1, p=1 is the first of OWASP's equivalent Argon2id
// configurations (Password Storage Cheat Sheet: m=47104,t=1 / m=19456,t=2 /
// m=12288,t=3 / ...), with a 16-byte salt and a 32-byte key. Of those it asks
// an attacker for the most memory per guess, which is what makes GPUs and
// ASICs expensive, for about 1.25 times the CPU of m=19456,t=2.
//
// It is sized for the create function at 1769 MB, one whole vCPU: below that
// Lambda gives CPU in proportion to memory, so a log-in costs the same GB-s at
// any smaller size, only slower; above it a single lane gains nothing. There
// one hash takes about 90 ms of the generic Go code arm64 runs (make bench,
// docs/BENCHMARKS.md), about $2 per million log-ins. p=1 because the CPU a
// function gets is a share, not cores: more lanes would not finish sooner.
// Hashes made with other parameters still verify; NeedsRehash tells which.
var DefaultParams = Params{
	MemoryKiB:   47104,
	Iterations:  1,
	Parallelism: 1,
	SaltLen:     16,
	KeyLen:      32,
}

// Bounds on the parameters accepted by Hash and by Verify/Decode. They are
// generous for any sane configuration, and they cap the cost of checking a
// stored string whatever it says.
const (
	maxMemoryKiB   = 1 << 20 // 1 GiB
	maxIterations  = 64
	maxParallelism = 16
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 128

	// maxEncodedLen is longer than any string within the bounds above
	// (about 300 bytes); longer input is rejected before it is parsed.
	maxEncodedLen = 512
)

const (
	algorithm = "argon2id"
	version   = argon2.Version // 0x13 = 19
)

// Errors returned, wrapped with details, by Hash, Verify and Decode. The
// details name the offending field but never repeat the string or password.
var (
	// ErrMalformed means the string is not a PHC string of the expected shape.
	ErrMalformed = errors.New("argon2id: malformed hash string")
	// ErrUnsupported means a well-formed string of another algorithm or
	// Argon2 version.
	ErrUnsupported = errors.New("argon2id: unsupported hash")
	// ErrBounds means parameters outside the bounds this package accepts.
	ErrBounds = errors.New("argon2id: parameters out of bounds")
)

var b64 = base64.RawStdEncoding.Strict()

// validate checks p against the package bounds. Besides protecting Verify,
// it keeps Hash from reaching argon2.IDKey with values it would panic on.
func (p Params) validate() error {
	switch {
	case p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB > %d KiB", ErrBounds, p.MemoryKiB, maxMemoryKiB)
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("%w: iterations %d not in [1, %d]", ErrBounds, p.Iterations, maxIterations)
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("%w: parallelism %d not in [1, %d]", ErrBounds, p.Parallelism, maxParallelism)
	case p.MemoryKiB < 8*uint32(p.Parallelism):
		// RFC 9106 section 3.1: m >= 8*p.
		return fmt.Errorf("%w: memory %d KiB < 8 KiB per lane", ErrBounds, p.MemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("%w: salt length %d not in [%d, %d]", ErrBounds, p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: key length %d not in [%d, %d]", ErrBounds, p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hash returns the PHC string of password with a fresh random salt from
// crypto/rand. It returns an error if p is outside the bounds Verify accepts
// (so that every hash it makes can be verified).
func Hash(password string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: reading salt: %w", err)
	}
	return hashWithSalt([]byte(password), salt, p), nil
}

// hashWithSalt derives the key of password and salt with p (whose SaltLen is
// ignored) and encodes it. p must be valid.
func hashWithSalt(password, salt []byte, p Params) string {
	key := argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return encode(p, salt, key)
}

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s",
		algorithm, version, p.MemoryKiB, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches the PHC string, comparing in
// constant time (crypto/subtle).
//
// It returns an error, and never panics, for a malformed string, another
// algorithm or version than argon2id v=19, or parameters outside sane
// bounds: memory over 1 GiB, iterations 0 or over 64, parallelism 0 or over
// 16, memory under 8 KiB per lane, salt under 8 or over 64 bytes, key under
// 16 or over 128 bytes. The bounds are checked before any hashing.
func Verify(phc, password string) (bool, error) {
	p, salt, key, err := Decode(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// Decode parses a PHC string into its params, salt and key. The returned
// Params have SaltLen and KeyLen set to the lengths of salt and key. It
// accepts exactly the strings Verify accepts, under the same bounds, and only
// in canonical form (decimal numbers without leading zeros, base64 without
// padding or stray bits), so that encoding the result gives phc back.
func Decode(phc string) (Params, []byte, []byte, error) {
	var p Params
	if len(phc) > maxEncodedLen {
		return p, nil, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxEncodedLen)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want $argon2id$v=19$m=M,t=T,p=P$salt$key", ErrMalformed)
	}
	if f[1] == "" {
		return p, nil, nil, fmt.Errorf("%w: missing algorithm", ErrMalformed)
	}
	if f[1] != algorithm {
		return p, nil, nil, fmt.Errorf("%w: algorithm is not %s", ErrUnsupported, algorithm)
	}
	v, ok := strings.CutPrefix(f[2], "v=")
	if !ok {
		return p, nil, nil, fmt.Errorf("%w: missing version", ErrMalformed)
	}
	ver, err := parseDecimal(v)
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: version%v", ErrMalformed, err)
	}
	if ver != version {
		return p, nil, nil, fmt.Errorf("%w: version %d, want %d", ErrUnsupported, ver, version)
	}

	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return p, nil, nil, fmt.Errorf("%w: want parameters m=M,t=T,p=P", ErrMalformed)
	}
	var vals [3]uint32
	for i, name := range [3]string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return p, nil, nil, fmt.Errorf("%w: want parameters m=M,t=T,p=P", ErrMalformed)
		}
		if vals[i], err = parseDecimal(s); err != nil {
			return p, nil, nil, fmt.Errorf("%w: parameter %s%v", ErrMalformed, name[:1], err)
		}
	}
	if vals[2] > maxParallelism { // before narrowing to uint8
		return p, nil, nil, fmt.Errorf("%w: parallelism %d not in [1, %d]", ErrBounds, vals[2], maxParallelism)
	}
	p.MemoryKiB, p.Iterations, p.Parallelism = vals[0], vals[1], uint8(vals[2])

	salt, err := decodeB64(f[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt is not unpadded base64", ErrMalformed)
	}
	key, err := decodeB64(f[5])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: key is not unpadded base64", ErrMalformed)
	}
	// Lengths are bounded by maxEncodedLen, so these conversions are exact.
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return Params{}, nil, nil, err
	}
	return p, salt, key, nil
}

// decodeB64 decodes standard base64 without padding, strictly: unlike
// encoding/base64 alone, it also rejects the '\r' and '\n' that the decoder
// skips, so a string has a single accepted spelling.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("not base64")
		}
	}
	return b64.DecodeString(s)
}

// parseDecimal parses a canonical unsigned 32-bit decimal: digits only, no
// sign, no leading zeros.
func parseDecimal(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New(" is empty")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New(" has a leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New(" is not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errors.New(" is out of range")
	}
	return uint32(n), nil
}

// NeedsRehash reports whether phc was made with parameters weaker than p:
// less memory, fewer iterations, or a shorter salt or key. A different
// parallelism alone does not count (it does not change the work per guess).
// A string that Decode rejects also needs rehashing; note that Verify fails
// on it, so it can only be replaced by resetting the password.
func NeedsRehash(phc string, p Params) bool {
	got, _, _, err := Decode(phc)
	if err != nil {
		return true
	}
	return got.MemoryKiB < p.MemoryKiB ||
		got.Iterations < p.Iterations ||
		got.SaltLen < p.SaltLen ||
		got.KeyLen < p.KeyLen
}

// decoy is a lazily computed entry of the Decoy cache.
type decoy struct {
	once sync.Once
	phc  string
}

// decoys maps Params to *decoy. It grows by one entry per distinct Params
// passed to Decoy, which in practice is one or two.
var decoys sync.Map

// Decoy returns a PHC string with params p that matches no password, made
// once per Params value and cached, so that a login for an unknown user can
// call Verify against it and take the same time as for a known user whose
// hash has the same params.
//
// Verify's cost is deriving a key from the password with the string's
// params and salt; the stored key is only compared. So the decoy needs no
// hashing at all: a random salt and a random key (which no password derives,
// short of a 2^-256 chance) cost Verify exactly what a real hash does, and
// making one costs microseconds, not a cold-start-sized argon2 run. If p is
// invalid (Hash would reject it), Decoy uses DefaultParams instead.
func Decoy(p Params) string {
	if p.validate() != nil {
		p = DefaultParams
	}
	v, _ := decoys.LoadOrStore(p, new(decoy))
	d := v.(*decoy)
	d.once.Do(func() {
		salt := make([]byte, p.SaltLen)
		key := make([]byte, p.KeyLen)
		// crypto/rand.Read never returns an error (Go 1.24+); it
		// crashes the program if the system source fails.
		_, _ = rand.Read(salt)
		_, _ = rand.Read(key)
		d.phc = encode(p, salt, key)
	})
	return d.phc
}

// Hasher is the session service's password checker (session.Passwords):
// new hashes, and the decoy an unknown user is checked against, are made
// with Params.
type Hasher struct{ Params Params }

// Verify reports whether password matches the PHC string hash.
func (h Hasher) Verify(hash, password string) (bool, error) { return Verify(hash, password) }

// VerifyDigest is Verify that also returns the key derived from password
// with hash's salt and cost: a digest of a wrong password as costly to
// reverse as hash itself, by which the session service recognises the same
// wrong password tried again (session.Digester).
func (h Hasher) VerifyDigest(hash, password string) (bool, []byte, error) {
	p, salt, key, err := Decode(hash)
	if err != nil {
		return false, nil, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, got, nil
}

// Decoy returns a hash with the cost of a new one that matches no password.
func (h Hasher) Decoy() string { return Decoy(h.Params) }

// NeedsRehash reports whether hash is weaker than Params.
func (h Hasher) NeedsRehash(hash string) bool { return NeedsRehash(hash, h.Params) }

// Hash hashes password with Params.
func (h Hasher) Hash(password string) (string, error) { return Hash(password, h.Params) }
