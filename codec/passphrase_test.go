package codec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

const testPass = "correct horse FAKE"

// protect writes plain encrypted with a passphrase, as `age -p` does
// (armored as `age -p -a`), at a low work factor to keep the test fast.
func protect(t testing.TB, plain []byte, pass string, armored bool) []byte {
	t.Helper()
	rc, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	rc.SetWorkFactor(10)
	var out bytes.Buffer
	var dst io.Writer = &out
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&out)
		dst = aw
	}
	w, err := age.Encrypt(dst, rc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	if aw != nil {
		aw.Close()
	}
	return out.Bytes()
}

// protectedIdentity writes a fresh X25519 identity protected by testPass
// and returns its path and the plain identity.
func protectedIdentity(t *testing.T, armored bool) (string, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "identity")
	plain := "# created: test\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(p, protect(t, []byte(plain), testPass, armored), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, id
}

func TestPassphraseIdentity(t *testing.T) {
	for _, armored := range []bool{false, true} {
		p, id := protectedIdentity(t, armored)
		asked := 0
		kr, err := LoadIdentityWith(p, IdentityOptions{Passphrase: func(prompt string) ([]byte, error) {
			asked++
			if !strings.Contains(prompt, p) {
				t.Errorf("prompt %q does not name the file", prompt)
			}
			return []byte(testPass), nil
		}})
		if err != nil {
			t.Fatalf("armored=%v: %v", armored, err)
		}
		if asked != 1 || kr.Recipient != id.Recipient().String() {
			t.Fatalf("asked %d times, recipient %s want %s", asked, kr.Recipient, id.Recipient())
		}
		// The unlocked keyring decrypts entries, without asking again.
		ct, err := Encrypt([]byte("value: sk-test-FAKE\n"), mustRecipients(t, id.Recipient().String()), false)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if pt, err := kr.Decrypt(ct); err != nil || string(pt) != "value: sk-test-FAKE\n" {
				t.Fatalf("decrypt: %q %v", pt, err)
			}
		}
		if asked != 1 {
			t.Fatalf("asked %d times", asked)
		}
		// The local key derives from the keys, not from the passphrase
		// wrapping: re-protecting the same identity keeps it.
		plainKR, err := ParseIdentity(p, []byte("# created: test\n# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plainKR.LocalKey("x"), kr.LocalKey("x")) {
			t.Fatal("LocalKey differs between the protected and the plain identity")
		}
	}
}

func TestPassphraseIdentityErrors(t *testing.T) {
	p, _ := protectedIdentity(t, true)
	check := func(name string, err error, kind error, mentions ...string) {
		t.Helper()
		if err == nil || (kind != nil && !errors.Is(err, kind)) {
			t.Fatalf("%s: %v, want %v", name, err, kind)
		}
		msg := err.Error()
		if strings.Contains(msg, "FAKE") || strings.Contains(msg, "AGE-SECRET-KEY") || strings.Contains(msg, "\n") {
			t.Fatalf("%s: message leaks or spans lines: %q", name, msg)
		}
		for _, m := range mentions {
			if !strings.Contains(msg, m) {
				t.Fatalf("%s: %q does not mention %q", name, msg, m)
			}
		}
	}
	_, err := LoadIdentityWith(p, IdentityOptions{Passphrase: func(string) ([]byte, error) { return []byte("wrong FAKE"), nil }})
	check("wrong passphrase", err, ErrWrongPassphrase, p, "wrong passphrase")
	_, err = LoadIdentityWith(p, IdentityOptions{Passphrase: func(string) ([]byte, error) { return nil, nil }})
	check("empty passphrase", err, ErrWrongPassphrase, "empty passphrase")
	_, err = LoadIdentity(p, false)
	check("no one to ask", err, ErrPassphraseRequired, p, "passphrase-protected (age -p)", "no terminal")
	_, err = LoadIdentityWith(p, IdentityOptions{NoPassphraseHint: "the server never prompts"})
	check("hint", err, ErrPassphraseRequired, "the server never prompts")
	_, err = LoadIdentityWith(p, IdentityOptions{Passphrase: func(string) ([]byte, error) { return nil, errors.New("interrupted") }})
	check("prompt fails", err, ErrPassphraseRequired, "interrupted")
	data, _ := os.ReadFile(p)
	_, err = ParseIdentity(p, data)
	check("parse without unlocking", err, ErrPassphraseRequired, "must be unlocked")

	// Mode is checked before anyone is asked.
	os.Chmod(p, 0o644)
	_, err = LoadIdentityWith(p, IdentityOptions{Passphrase: func(string) ([]byte, error) { t.Fatal("asked for an insecure file"); return nil, nil }})
	var ins *ErrInsecureIdentity
	if !errors.As(err, &ins) {
		t.Fatalf("insecure: %v", err)
	}
	os.Chmod(p, 0o600)

	// Truncated, twice-encrypted, and garbage-inside files.
	for name, content := range map[string][]byte{
		"truncated":        data[:len(data)/2],
		"encrypted twice":  protect(t, data, testPass, false),
		"not an identity":  protect(t, []byte("hello FAKE\n"), testPass, false),
		"empty plain text": protect(t, nil, testPass, false),
	} {
		q := filepath.Join(t.TempDir(), "id")
		os.WriteFile(q, content, 0o600)
		_, err := LoadIdentityWith(q, IdentityOptions{Passphrase: func(string) ([]byte, error) { return []byte(testPass), nil }})
		check(name, err, nil, q)
	}
}

// FuzzUnlockIdentity: whatever the file holds, unlocking never panics and
// errors never quote the file.
func FuzzUnlockIdentity(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	f.Add(protect(f, []byte(id.String()+"\n"), testPass, false))
	f.Add(protect(f, []byte(id.String()+"\n"), testPass, true))
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAA 99\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := UnlockIdentity("id", data, []byte(testPass))
		if err == nil && kr.Recipient == "" && len(kr.ids) == 0 {
			t.Fatal("keyring without identities")
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Fatalf("error quotes key material: %v", err)
		}
	})
}
