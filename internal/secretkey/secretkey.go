// Package secretkey holds the instance's secret key: the key, kept outside
// the database, that encrypts the secrets Gatehouse must be able to read
// back (the API keys' signing keys, webhook signing secrets, responses kept
// for idempotent retries). A copy of the database without this key reveals
// none of them.
//
// Sealed values are AES-256-GCM ciphertexts bound to where they are stored
// (the associated data names the table, column and row), written as
//
//	ghs1.<key id>.<base64url(nonce || ciphertext)>
//
// The key id says which key sealed a value, so that a ring of keys (the
// current one and the ones it replaces) can open every value while a
// rotation re-seals them.
package secretkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Size is the length of a secret key in bytes.
const Size = 32

// prefix starts every sealed value.
const prefix = "ghs1."

// Key is one secret key.
type Key struct {
	id  string
	raw [Size]byte
}

// ID names the key without revealing it: the start of a SHA-256 of a value
// derived from the key.
func (k *Key) ID() string { return k.id }

// Encode returns the key as text, the form Parse reads and key files hold.
func (k *Key) Encode() string { return base64.StdEncoding.EncodeToString(k.raw[:]) }

// Generate returns a new random key.
func Generate() (*Key, error) {
	var raw [Size]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	return newKey(raw), nil
}

func newKey(raw [Size]byte) *Key {
	m := hmac.New(sha256.New, raw[:])
	m.Write([]byte("gatehouse secret key id"))
	return &Key{id: base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9]), raw: raw}
}

// Parse reads a key written as base64 (standard or URL alphabet, padded or
// not) or as 64 hex digits. Surrounding space is ignored.
func Parse(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	var raw []byte
	if len(text) == 2*Size {
		if b, err := hex.DecodeString(text); err == nil {
			raw = b
		}
	}
	if raw == nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(text); err == nil {
				raw = b
				break
			}
		}
	}
	if len(raw) != Size {
		return nil, errors.New("a secret key is 32 random bytes written as base64 or 64 hex digits (make one with `gatehouse secret-key generate`)")
	}
	var k [Size]byte
	copy(k[:], raw)
	return newKey(k), nil
}

// Ring seals with its primary key and opens with any of its keys.
type Ring struct {
	primary *Key
	aeads   map[string]cipher.AEAD
	keys    []*Key
}

// NewRing returns a ring that seals with primary and also opens what the
// older keys sealed.
func NewRing(primary *Key, older ...*Key) (*Ring, error) {
	if primary == nil {
		return nil, errors.New("secret key: no primary key")
	}
	r := &Ring{primary: primary, aeads: map[string]cipher.AEAD{}}
	for _, k := range append([]*Key{primary}, older...) {
		if k == nil {
			continue
		}
		if _, dup := r.aeads[k.id]; dup {
			continue
		}
		block, err := aes.NewCipher(k.raw[:])
		if err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
		r.aeads[k.id] = gcm
		r.keys = append(r.keys, k)
	}
	return r, nil
}

// Primary is the key that seals.
func (r *Ring) Primary() *Key { return r.primary }

// Keys are the ring's keys, the primary first.
func (r *Ring) Keys() []*Key { return r.keys }

// Seal encrypts plaintext for the place named by where (e.g.
// "webhook_endpoints.secret:<id>"): the value opens only with the same where.
func (r *Ring) Seal(plaintext []byte, where string) string {
	gcm := r.aeads[r.primary.id]
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secretkey: the system's random source failed: " + err.Error()) // crypto/rand never fails on supported systems
	}
	out := gcm.Seal(nonce, nonce, plaintext, []byte(where))
	return prefix + r.primary.id + "." + base64.RawURLEncoding.EncodeToString(out)
}

// SealString is Seal of a string; "" stays "" (nothing to hide).
func (r *Ring) SealString(plaintext, where string) string {
	if plaintext == "" {
		return ""
	}
	return r.Seal([]byte(plaintext), where)
}

// ErrUnknownKey means a value was sealed with a key the ring lacks.
var ErrUnknownKey = errors.New("sealed with a secret key this server does not have (was GATEHOUSE_SECRET_KEY or --secret-key-file changed without `gatehouse secret-key rotate`?)")

// Open decrypts a value Seal made for where.
func (r *Ring) Open(sealed, where string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, errors.New("secret key: not a sealed value")
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, errors.New("secret key: malformed sealed value")
	}
	gcm, ok := r.aeads[id]
	if !ok {
		return nil, fmt.Errorf("secret key %s: %w", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errors.New("secret key: malformed sealed value")
	}
	out, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], []byte(where))
	if err != nil {
		return nil, errors.New("secret key: a sealed value failed authentication (altered, or moved from another row)")
	}
	return out, nil
}

// OpenString is Open of a string; "" stays "".
func (r *Ring) OpenString(sealed, where string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	b, err := r.Open(sealed, where)
	return string(b), err
}

// IsSealed reports whether v is a sealed value (rather than a secret
// stored in clear by an older version).
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// SealedBy returns the id of the key that sealed v ("" if v is not sealed).
func SealedBy(v string) string {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".")
	return id
}

// Derive returns a key for one purpose, derived with HMAC-SHA256 from the
// ring's key keyID ("": the primary) and info: e.g. the key that seals a
// response kept for an idempotent retry, derived from the retry's own key,
// so that the database alone never opens it. False when the ring lacks
// keyID.
func (r *Ring) Derive(keyID, info string) (*Key, bool) {
	k := r.primary
	if keyID != "" && keyID != k.id {
		k = nil
		for _, o := range r.keys {
			if o.id == keyID {
				k = o
			}
		}
		if k == nil {
			return nil, false
		}
	}
	m := hmac.New(sha256.New, k.raw[:])
	m.Write([]byte(info))
	var out [Size]byte
	copy(out[:], m.Sum(nil))
	return newKey(out), true
}
