package codec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tresor-dev/tresor/schemas"
)

// Fingerprint is a short keyed hash of a secret value: equal values give
// equal fingerprints under one key, and a short or guessable value cannot be
// recovered from it without the key.
func Fingerprint(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// Placeholder is what a secret value looks like in redacted views.
func Placeholder(key []byte, value string) string {
	return fmt.Sprintf("<secret hmac:%s, %d bytes>", Fingerprint(key, value), len(value))
}

// Redact returns a copy of e with every secret field of its type replaced by
// a placeholder; non-secret fields stay in clear. Fields the type does not
// know are treated as secret.
func Redact(e *schemas.Entry, t *schemas.Type, key []byte) *schemas.Entry {
	r := e.Clone()
	for name, v := range r.Fields {
		if isSecret(t, name) {
			r.Fields[name] = Placeholder(key, v)
		}
	}
	for name, l := range r.Lists {
		if isSecret(t, name) {
			red := make([]string, len(l))
			for i, v := range l {
				red[i] = Placeholder(key, v)
			}
			r.Lists[name] = red
		}
	}
	return r
}

func isSecret(t *schemas.Type, name string) bool {
	if t == nil {
		return true
	}
	f, ok := t.Field(name)
	return !ok || f.Secret
}
