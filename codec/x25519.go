package codec

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// x25519Identity unwraps age's X25519 stanzas (age-encryption.org/v1,
// "X25519 recipient stanza") like age's own X25519Identity, with the
// private key parsed once into an *ecdh.PrivateKey. age's identity goes
// through curve25519.X25519, which builds a new ecdh key, and so computes
// our public key again, for every file: two scalar multiplications where
// one does. Decryption of small entries is dominated by them (exec with 50
// secrets, the MCP server's cold start over 10k entries). Tests check it
// against age's identity, files from the age CLI included.
type x25519Identity struct {
	priv   *ecdh.PrivateKey
	ourPub []byte
}

const (
	x25519Label    = "age-encryption.org/v1/X25519"
	ageFileKeySize = 16
)

// newX25519Identity takes the key of an age X25519 identity.
func newX25519Identity(id *age.X25519Identity) (*x25519Identity, error) {
	hrp, data, err := bech32Decode(id.String())
	if err != nil || hrp != "AGE-SECRET-KEY-" || len(data) != 32 {
		return nil, errors.New("malformed X25519 identity")
	}
	priv, err := ecdh.X25519().NewPrivateKey(data)
	clear(data)
	if err != nil {
		return nil, errors.New("malformed X25519 identity")
	}
	return &x25519Identity{priv: priv, ourPub: priv.PublicKey().Bytes()}, nil
}

// Unwrap implements age.Identity.
func (i *x25519Identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		fileKey, err := i.unwrap(s)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return fileKey, nil
	}
	return nil, age.ErrIncorrectIdentity
}

var stanzaB64 = base64.RawStdEncoding.Strict()

func (i *x25519Identity) unwrap(s *age.Stanza) ([]byte, error) {
	if s.Type != "X25519" {
		return nil, age.ErrIncorrectIdentity
	}
	if len(s.Args) != 1 || strings.ContainsAny(s.Args[0], "\r\n") {
		return nil, errors.New("invalid X25519 recipient block")
	}
	theirPub, err := stanzaB64.DecodeString(s.Args[0])
	if err != nil {
		return nil, fmt.Errorf("failed to parse X25519 recipient: %v", err)
	}
	pub, err := ecdh.X25519().NewPublicKey(theirPub)
	if err != nil {
		return nil, errors.New("invalid X25519 recipient block")
	}
	shared, err := i.priv.ECDH(pub) // refuses the all-zero (low-order) result
	if err != nil {
		return nil, fmt.Errorf("invalid X25519 recipient: %v", err)
	}
	salt := make([]byte, 0, len(theirPub)+len(i.ourPub))
	salt = append(salt, theirPub...)
	salt = append(salt, i.ourPub...)
	wrapKey := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, salt, []byte(x25519Label)), wrapKey); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(wrapKey)
	if err != nil {
		return nil, err
	}
	if len(s.Body) != ageFileKeySize+aead.Overhead() {
		return nil, errors.New("invalid X25519 recipient block: incorrect file key size")
	}
	fileKey, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), s.Body, nil)
	if err != nil {
		return nil, age.ErrIncorrectIdentity
	}
	return fileKey, nil
}

// bech32Decode decodes a BIP 173 string (the encoding of age keys; age's
// own decoder is internal). Upper- or lower-case, not mixed.
func bech32Decode(s string) (hrp string, data []byte, err error) {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("mixed case")
	}
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errors.New("separator '1' at invalid position")
	}
	hrp = s[:pos]
	for _, c := range hrp {
		if c < 33 || c > 126 {
			return "", nil, errors.New("invalid character in human-readable part")
		}
	}
	lower := strings.ToLower(s)
	values := make([]byte, 0, len(s)-pos-1)
	for _, c := range lower[pos+1:] {
		d := strings.IndexRune(charset, c)
		if d < 0 {
			return "", nil, errors.New("invalid character in data part")
		}
		values = append(values, byte(d))
	}
	// Checksum over the expanded lower-case human-readable part and data.
	lh := strings.ToLower(hrp)
	exp := make([]byte, 0, 2*len(lh)+1+len(values))
	for i := 0; i < len(lh); i++ {
		exp = append(exp, lh[i]>>5)
	}
	exp = append(exp, 0)
	for i := 0; i < len(lh); i++ {
		exp = append(exp, lh[i]&31)
	}
	exp = append(exp, values...)
	if bech32Polymod(exp) != 1 {
		return "", nil, errors.New("invalid checksum")
	}
	// Regroup 5-bit values (without the 6 checksum ones) into bytes.
	var acc uint32
	var bits uint
	for _, v := range values[:len(values)-6] {
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			data = append(data, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return "", nil, errors.New("invalid padding")
	}
	return hrp, data, nil
}

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}
