package schemas

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Keys are generated at test time: no key material is stored in the repo.

// testSSHKey returns a fresh ed25519 private key in OpenSSH format, optionally
// passphrase protected, and its authorized_keys line.
func testSSHKey(t testing.TB, passphrase string) (private, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test@tresor")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test@tresor", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), authorizedKey(sshPub)
}

// testCertificate returns a fresh self-signed PEM certificate expiring at
// notAfter, and its PKCS#8 PEM private key.
func testCertificate(t testing.TB, notAfter time.Time) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test.example"},
		NotBefore:    notAfter.Add(-24 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	key = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	return cert, key
}

// entry builds an entry from name/value pairs.
func entry(typ string, kv ...string) *Entry {
	e := NewEntry(typ)
	for i := 0; i+1 < len(kv); i += 2 {
		e.Set(kv[i], kv[i+1])
	}
	return e
}

// withList adds a list field.
func withList(e *Entry, name string, items ...string) *Entry {
	e.SetList(name, items)
	return e
}

// assertNoValues fails when msg contains any value of e at least 6 bytes
// long: errors and warnings name fields and rules, never values. The one
// exception is the service name, which warnings name on purpose.
func assertNoValues(t testing.TB, e *Entry, msg string) {
	t.Helper()
	if e == nil {
		return
	}
	check := func(name, v string) {
		if len(v) >= 6 && strings.Contains(msg, v) {
			t.Errorf("message %q contains the value of %s", msg, name)
		}
	}
	for n, v := range e.Fields {
		if n == "service" {
			continue
		}
		check(n, v)
	}
	for n, items := range e.Lists {
		for _, v := range items {
			check(n, v)
		}
	}
}
