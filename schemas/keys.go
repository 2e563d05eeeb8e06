package schemas

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// parsePrivateKey parses an OpenSSH or PEM private key. A key protected by a
// passphrase is valid: it returns a nil key, encrypted true, and the public
// key when the format stores it in clear. Errors never quote the key.
func parsePrivateKey(s string) (key any, encrypted bool, pub ssh.PublicKey, err error) {
	key, err = ssh.ParseRawPrivateKey([]byte(s))
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, true, missing.PublicKey, nil
	case err != nil:
		if !strings.Contains(s, "-----BEGIN ") {
			return nil, false, nil, errors.New("not an OpenSSH or PEM private key (no -----BEGIN line)")
		}
		return nil, false, nil, errors.New("not a valid OpenSSH or PEM private key")
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, false, nil, errors.New("unsupported private key type")
	}
	return key, false, signer.PublicKey(), nil
}

// authorizedKey formats a public key as one authorized_keys line, trimmed.
func authorizedKey(pub ssh.PublicKey) string {
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pub)))
}

// checkSSHKey checks that private_key parses and that public_key, when set,
// is the private key's public half.
func checkSSHKey(e *Entry) error {
	pk, ok := e.Fields["private_key"]
	if !ok {
		return nil
	}
	_, _, pub, err := parsePrivateKey(pk)
	if err != nil {
		return verr("$.private_key", "%v", err)
	}
	line := e.Get("public_key")
	if line == "" {
		return nil
	}
	given, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return verr("$.public_key", "not an authorized_keys line (type, base64 key, optional comment)")
	}
	if pub != nil && !bytes.Equal(given.Marshal(), pub.Marshal()) {
		return verr("$.public_key", "does not match private_key (delete it and it is derived again)")
	}
	return nil
}

// parseCertificates parses every PEM block of s as an X.509 certificate, leaf
// first.
func parseCertificates(s string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n := len(certs) + 1
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is not a CERTIFICATE", n)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid X.509 certificate", n)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate (-----BEGIN CERTIFICATE-----) found")
	}
	return certs, nil
}

// checkCertificate checks that certificate parses and that private_key, when
// set, parses and belongs to the leaf certificate.
func checkCertificate(e *Entry) error {
	v, ok := e.Fields["certificate"]
	if !ok {
		return nil
	}
	certs, err := parseCertificates(v)
	if err != nil {
		return verr("$.certificate", "%v", err)
	}
	pk := e.Get("private_key")
	if pk == "" {
		return nil
	}
	key, _, _, err := parsePrivateKey(pk)
	if err != nil {
		return verr("$.private_key", "%v", err)
	}
	signer, ok := key.(crypto.Signer)
	if key == nil || !ok {
		return nil // passphrase protected, or a key type we cannot compare
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if ok && !pub.Equal(certs[0].PublicKey) {
		return verr("$.private_key", "does not match the certificate's public key")
	}
	return nil
}

// CertificateNotAfter returns when the leaf certificate of a certificate
// entry expires; false when the entry holds no parseable certificate.
func CertificateNotAfter(e *Entry) (time.Time, bool) {
	if e == nil {
		return time.Time{}, false
	}
	certs, err := parseCertificates(e.Get("certificate"))
	if err != nil {
		return time.Time{}, false
	}
	return certs[0].NotAfter, true
}
