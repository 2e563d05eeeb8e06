package codec

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// decryptWith decrypts an age file with the given identities (nil, err on
// any failure).
func decryptWith(ct []byte, ids ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestX25519IdentityMatchesAge: our identity unwraps exactly what age's
// does: files for us (alone or among other recipients), files for others,
// and files with damaged stanzas.
func TestX25519IdentityMatchesAge(t *testing.T) {
	ours, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fast, err := newX25519Identity(ours)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.ourPub, mustRecipientBytes(t, ours)) {
		t.Fatal("public key differs from age's")
	}
	other, _ := age.GenerateX25519Identity()
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		plain := make([]byte, rng.IntN(300))
		for i := range plain {
			plain[i] = byte(rng.IntN(256))
		}
		var rs []age.Recipient
		switch n % 3 {
		case 0:
			rs = []age.Recipient{ours.Recipient()}
		case 1:
			rs = []age.Recipient{other.Recipient(), ours.Recipient()}
		case 2:
			rs = []age.Recipient{other.Recipient()}
		}
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, rs...)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		w.Close()
		ct := buf.Bytes()
		// Flip one byte now and then (header and body alike).
		if n%5 == 4 {
			ct = bytes.Clone(ct)
			ct[rng.IntN(len(ct))] ^= 1 << rng.IntN(8)
		}
		want, wantErr := decryptWith(ct, ours)
		got, gotErr := decryptWith(ct, fast)
		if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(want, got) {
			t.Fatalf("file %d: age: %v (%d bytes); ours: %v (%d bytes)", n, wantErr, len(want), gotErr, len(got))
		}
		var nmA, nmB *age.NoIdentityMatchError
		if errors.As(wantErr, &nmA) != errors.As(gotErr, &nmB) {
			t.Fatalf("file %d: no-match differs: age %v, ours %v", n, wantErr, gotErr)
		}
		if n%3 != 2 && n%5 != 4 && (gotErr != nil || !bytes.Equal(got, plain)) {
			t.Fatalf("file %d: not decrypted: %v", n, gotErr)
		}
	}
}

// TestX25519IdentityBadStanzas: malformed X25519 stanzas are errors, and a
// stanza whose body does not open is "not for us".
func TestX25519IdentityBadStanzas(t *testing.T) {
	ours, _ := age.GenerateX25519Identity()
	fast, _ := newX25519Identity(ours)
	zeroPoint := strings.Repeat("A", 43) // 32 zero bytes: a low-order point
	cases := []struct {
		name string
		s    age.Stanza
		nfu  bool // "not for us", not a hard error
	}{
		{"other type", age.Stanza{Type: "scrypt", Args: []string{"x", "10"}}, true},
		{"no args", age.Stanza{Type: "X25519"}, false},
		{"two args", age.Stanza{Type: "X25519", Args: []string{"a", "b"}}, false},
		{"bad base64", age.Stanza{Type: "X25519", Args: []string{"!!!"}}, false},
		{"padded base64", age.Stanza{Type: "X25519", Args: []string{zeroPoint + "="}}, false},
		{"short point", age.Stanza{Type: "X25519", Args: []string{"AAAA"}}, false},
		{"low-order point", age.Stanza{Type: "X25519", Args: []string{zeroPoint}, Body: make([]byte, 32)}, false},
	}
	for _, c := range cases {
		_, err := fast.unwrap(&c.s)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if errors.Is(err, age.ErrIncorrectIdentity) != c.nfu {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestX25519IdentityAgeCLI: files written by the stock age binary decrypt
// through the keyring, which uses our identity.
func TestX25519IdentityAgeCLI(t *testing.T) {
	if _, err := exec.LookPath("age"); err != nil {
		t.Fatalf("the age binary is required (apt-get install age): %v", err)
	}
	dir := t.TempDir()
	idPath := filepath.Join(dir, "id")
	kr, err := GenerateIdentity(idPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := kr.ids[0].(*x25519Identity); !ok {
		t.Fatalf("keyring uses %T, want the fast identity", kr.ids[0])
	}
	plain := []byte("tresor: 1\ntype: secret\nvalue: sk-test-FAKE-cli\n")
	cmd := exec.Command("age", "-r", kr.Recipient)
	cmd.Stdin = bytes.NewReader(plain)
	ct, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := kr.Decrypt(ct)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt: %v", err)
	}
	// And the other way: the age CLI reads what we write.
	ct2, err := Encrypt(plain, []Recipient{mustParseRecipient(t, kr.Recipient)}, false)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "e.age")
	os.WriteFile(f, ct2, 0o600)
	out, err := exec.Command("age", "-d", "-i", idPath, f).Output()
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("age -d: %v", err)
	}
}

func TestBech32Decode(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	s := id.String()
	if _, _, err := bech32Decode(s); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bech32Decode(strings.ToLower(s)); err != nil {
		t.Fatal("lower case refused:", err)
	}
	bad := []byte(s)
	bad[len(bad)-3] ^= 0x20 // mixed case
	if _, _, err := bech32Decode(string(bad)); err == nil {
		t.Error("mixed case accepted")
	}
	flip := []rune(s)
	if flip[30] == 'Q' {
		flip[30] = 'P'
	} else {
		flip[30] = 'Q'
	}
	if _, _, err := bech32Decode(string(flip)); err == nil {
		t.Error("bad checksum accepted")
	}
}

func mustRecipientBytes(t *testing.T, id *age.X25519Identity) []byte {
	t.Helper()
	_, data, err := bech32Decode(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParseRecipient(t *testing.T, s string) Recipient {
	t.Helper()
	r, err := ParseRecipient(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// BenchmarkDecryptSmall: one 200-byte entry, age's identity beside ours.
func BenchmarkDecryptSmall(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	fast, _ := newX25519Identity(id)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write(bytes.Repeat([]byte("x"), 200))
	w.Close()
	ct := buf.Bytes()
	for _, c := range []struct {
		name string
		id   age.Identity
	}{{"age", id}, {"tresor", fast}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := decryptWith(ct, c.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
