package codec

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tresor-dev/tresor/schemas"
)

func testKeyring(t *testing.T) (*Keyring, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys", "identity")
	kr, err := GenerateIdentity(p)
	if err != nil {
		t.Fatal(err)
	}
	return kr, p
}

func mustRecipients(t *testing.T, keys ...string) []Recipient {
	t.Helper()
	var rs []Recipient
	for _, k := range keys {
		r, err := ParseRecipient(k)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestGenerateIdentityModes(t *testing.T) {
	old := setUmask(0o022)
	defer setUmask(old)
	kr, p := testKeyring(t)
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("identity mode %04o", st.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Dir(p))
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("identity dir mode %04o", dst.Mode().Perm())
	}
	if !strings.HasPrefix(kr.Recipient, "age1") {
		t.Errorf("recipient %q", kr.Recipient)
	}
	if _, err := GenerateIdentity(p); err == nil {
		t.Error("GenerateIdentity overwrote an existing identity")
	}
}

func TestLoadIdentityRefusesOpenPermissions(t *testing.T) {
	_, p := testKeyring(t)
	os.Chmod(p, 0o644)
	_, err := LoadIdentity(p, false)
	var ie *ErrInsecureIdentity
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "0644") || !strings.Contains(err.Error(), "chmod 600 "+p) {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadIdentity(p, true); err != nil {
		t.Fatalf("explicit override: %v", err)
	}
	os.Chmod(p, 0o600)
	if _, err := LoadIdentity(p, false); err != nil {
		t.Fatal(err)
	}
}

func TestParseIdentityErrorHasNoKey(t *testing.T) {
	_, err := ParseIdentity("x", []byte("AGE-SECRET-KEY-1NOTAREALKEYFAKEFAKE\n"))
	if err == nil || strings.Contains(err.Error(), "NOTAREALKEY") {
		t.Fatalf("err = %v", err)
	}
}

func TestDecryptFailures(t *testing.T) {
	kr, _ := testKeyring(t)
	other, _ := testKeyring(t)
	plain := bytes.Repeat([]byte("FAKE memory line. "), 12000) // several 64 KiB chunks
	ct, err := Encrypt(plain, mustRecipients(t, kr.Recipient), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Decrypt(ct); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := other.Decrypt(ct); !errors.Is(err, ErrNotForYou) {
		t.Errorf("wrong identity: %v", err)
	}
	for name, bad := range map[string][]byte{
		"truncated":  ct[:len(ct)*2/3],
		"junk":       append(append([]byte{}, ct...), make([]byte, 40)...),
		"flipped":    flip(ct, len(ct)-5),
		"header mac": flip(ct, bytes.Index(ct, []byte("\n--- "))+8),
		"not age":    []byte("hello"),
		"empty":      nil,
		"headeronly": ct[:bytes.Index(ct, []byte("\n---"))+50],
	} {
		got, err := kr.Decrypt(bad)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
		if got != nil {
			t.Errorf("%s: returned %d bytes of plaintext", name, len(got))
		}
	}
	armored, err := Encrypt(plain, mustRecipients(t, kr.Recipient), true)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Decrypt(armored); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("armored: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x40
	return c
}

// TestInteropAgeBinary: the stock age CLI decrypts tresor's files to the
// entry document, and tresor decrypts files made by the age CLI.
func TestInteropAgeBinary(t *testing.T) {
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatalf("the age binary is required (apt-get install age): %v", err)
	}
	kr, idPath := testKeyring(t)
	e := schemas.NewEntry("api_key")
	e.Set("value", "sk-test-FAKE0000")
	e.Set("service", "openai")
	doc, err := Marshal(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, armored := range []bool{false, true} {
		ct, err := Encrypt(doc, mustRecipients(t, kr.Recipient), armored)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "e.age")
		os.WriteFile(f, ct, 0o600)
		out, err := exec.Command(age, "-d", "-i", idPath, f).Output()
		if err != nil {
			t.Fatalf("age -d (armored=%v): %v", armored, err)
		}
		if !bytes.Equal(out, doc) {
			t.Fatalf("age -d gave %q, want %q", out, doc)
		}
	}
	cmd := exec.Command(age, "-r", kr.Recipient)
	cmd.Stdin = bytes.NewReader(doc)
	ct, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := kr.Decrypt(ct)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("decrypting age's file: %v", err)
	}
}

func TestRecipientsFile(t *testing.T) {
	kr, _ := testKeyring(t)
	kr2, _ := testKeyring(t)
	data := []byte("# member=alice device=laptop\n" + kr.Recipient + "\n\n# member=bob device=pc\n" + kr2.Recipient + "\n")
	rs, err := ParseRecipients(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Comment != "member=alice device=laptop" || rs[1].Key != kr2.Recipient {
		t.Fatalf("%+v", rs)
	}
	if !bytes.Equal(FormatRecipients(rs), data) {
		t.Errorf("FormatRecipients:\n%s", FormatRecipients(rs))
	}
	if _, err := ParseRecipients([]byte("AGE-SECRET-KEY-1FAKE\n")); err == nil || strings.Contains(err.Error(), "FAKE") {
		t.Errorf("a private key as recipient: %v", err)
	}
	ct, err := Encrypt([]byte("x"), rs, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr2.Decrypt(ct); err != nil {
		t.Fatal(err)
	}
}
