package inject

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/schemas"
)

func TestConvertBody(t *testing.T) {
	cat := schemas.Builtin()
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAFAKE\n-----END OPENSSH PRIVATE KEY-----\n"
	bin := "\x00\x01\xffPNG\r\n\x1a\n"
	tests := []struct {
		name, entry, body string
		gopassBin, whole  bool
		typ, how          string
		fields            map[string]string // expected fields, exactly
	}{
		{name: "one line", entry: "plain", body: "pw-FAKE\n", typ: "secret", how: "secret",
			fields: map[string]string{"value": "pw-FAKE"}},
		{name: "no newline", entry: "plain", body: "pw-FAKE", typ: "secret", how: "secret",
			fields: map[string]string{"value": "pw-FAKE"}},
		{name: "empty", entry: "empty", body: "", typ: "secret", how: "secret",
			fields: map[string]string{"value": ""}},
		{name: "spaces kept", entry: "sp", body: "  pw FAKE \t\n", typ: "secret", how: "secret",
			fields: map[string]string{"value": "  pw FAKE \t"}},
		{name: "login lines", entry: "Shopping/Papa Johns", body: "pizza-FAKE\nusername: papa@example.test\nurl: https://papajohns.example\n", typ: "password", how: "password",
			fields: map[string]string{"password": "pizza-FAKE", "username": "papa@example.test", "url": "https://papajohns.example", "notes": "username: papa@example.test\nurl: https://papajohns.example\n"}},
		{name: "crlf", entry: "mail/work", body: "pw-FAKE\r\nlogin: me\r\nrecovery: r-FAKE\r\n", typ: "password", how: "password",
			fields: map[string]string{"password": "pw-FAKE", "username": "me", "notes": "login: me\r\nrecovery: r-FAKE\r\n"}},
		{name: "notes only", entry: "bank", body: "pw-FAKE\nsecurity answer: blue-FAKE\n\nmore\n\n", typ: "secret", how: "secret",
			fields: map[string]string{"value": "pw-FAKE", "notes": "security answer: blue-FAKE\n\nmore\n\n"}},
		{name: "gopass yaml", entry: "web/site", body: "pw-FAKE\n---\nuser: \"alice\"\nurl: https://site.example/login\notp: x-FAKE\n", typ: "password", how: "password",
			fields: map[string]string{"password": "pw-FAKE", "username": "alice", "url": "https://site.example/login", "notes": "---\nuser: \"alice\"\nurl: https://site.example/login\notp: x-FAKE\n"}},
		{name: "gopass mime", entry: "web/old", body: "GOPASS-SECRET-1.0\nPassword: old-FAKE\nUsername: bob\n\nsome notes\n", typ: "password", how: "password",
			fields: map[string]string{"password": "old-FAKE", "username": "bob", "notes": "Password: old-FAKE\nUsername: bob\n\nsome notes\n"}},
		{name: "api key guessed", entry: "github/token", body: "ghp_FAKE000000000000000000000000000000\n", typ: "api_key", how: "api_key",
			fields: map[string]string{"value": "ghp_FAKE000000000000000000000000000000", "service": "github"}},
		{name: "pem whole", entry: "keys/deploy", body: pem, typ: "secret", how: "pem",
			fields: map[string]string{"value": pem}},
		{name: "whole flag", entry: "x", body: "a-FAKE\nb: c\r\n", whole: true, typ: "secret", how: "whole",
			fields: map[string]string{"value": "a-FAKE\nb: c\r\n"}},
		{name: "binary", entry: "files/logo.png", body: bin, typ: "file", how: "binary",
			fields: map[string]string{"content": bin, "filename": "logo.png"}},
		{name: "invalid utf8", entry: "blob", body: "ab\xc3(", typ: "file", how: "binary",
			fields: map[string]string{"content": "ab\xc3(", "filename": "blob"}},
		{name: "gopass binary akv", entry: "certs/key", gopassBin: true,
			body: "\nContent-Disposition: attachment; filename=\"key.p12\"\nContent-Transfer-Encoding: Base64\n" + base64.StdEncoding.EncodeToString([]byte(bin)) + "\n",
			typ:  "file", how: "gopass-binary", fields: map[string]string{"content": bin, "filename": "key.p12"}},
		{name: "gopass binary legacy", entry: "certs/old", gopassBin: true,
			body: "GOPASS-SECRET-1.0\nContent-Disposition: attachment; filename=\"../../etc/x\"\nContent-Transfer-Encoding: Base64\n\n" + base64.StdEncoding.EncodeToString([]byte(bin)) + "\n",
			typ:  "file", how: "gopass-binary", fields: map[string]string{"content": bin, "filename": "old"}},
		{name: "gopass binary plain", entry: "certs/new", gopassBin: true,
			body: "\n" + base64.StdEncoding.EncodeToString([]byte("hello\n")),
			typ:  "file", how: "gopass-binary", fields: map[string]string{"content": "hello\n", "filename": "new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, how, err := ConvertBody(cat, tt.entry, []byte(tt.body), tt.gopassBin, tt.whole)
			if err != nil {
				t.Fatalf("ConvertBody: %v", err)
			}
			if e.Type != tt.typ || how != tt.how {
				t.Errorf("type %s how %s, want %s %s", e.Type, how, tt.typ, tt.how)
			}
			if len(e.Fields) != len(tt.fields) {
				t.Errorf("fields %v, want %v", keys(e.Fields), keys(tt.fields))
			}
			for k, v := range tt.fields {
				if e.Fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, e.Fields[k], v)
				}
			}
			if _, err := cat.Validate(e); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
		})
	}
}

func TestConvertBodyKeepsEveryByte(t *testing.T) {
	// First line + LF + notes gives back the body when it ends in LF.
	body := "p-FAKE\nuser: x\n\n  indented: \t\nlast line without newline"
	e, _, err := ConvertBody(schemas.Builtin(), "a", []byte(body), false, false)
	if err != nil {
		t.Fatal(err)
	}
	primary := e.Fields["password"]
	if got := primary + "\n" + e.Fields["notes"]; got != body {
		t.Fatalf("lost bytes: %q", got)
	}
}

// TestConvertBodyLimits: a body over its type's size limit fails as that
// one entry (so --skip-invalid can skip it); one at the limit converts to
// an entry the codec can store, binary ones included.
func TestConvertBodyLimits(t *testing.T) {
	cat := schemas.Builtin()
	over := bytes.Repeat([]byte("a"), schemas.DefaultMaxSize+1)
	if _, _, err := ConvertBody(cat, "big", over, false, true); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("err = %v", err)
	}
	bin := append([]byte{0}, bytes.Repeat([]byte{0xff}, 8<<20-1)...)
	for name, body := range map[string][]byte{"text": over[:schemas.DefaultMaxSize], "binary": bin} {
		e, _, err := ConvertBody(cat, "big", body, false, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		typ, _ := cat.Type(e.Type)
		if _, err := codec.Marshal(e, typ); err != nil {
			t.Fatalf("%s: codec refuses what ConvertBody accepted: %v", name, err)
		}
	}
}

func TestConvertBodyGopassMimeWithoutPassword(t *testing.T) {
	_, _, err := ConvertBody(schemas.Builtin(), "x", []byte("GOPASS-SECRET-1.0\nUsername: bob\n\nPassword: in-body-FAKE\n"), false, false)
	if err == nil || !strings.Contains(err.Error(), "without a Password header") || strings.Contains(err.Error(), "FAKE") {
		t.Fatalf("err = %v", err)
	}
}

func TestConvertBodyBadGopassBinary(t *testing.T) {
	_, _, err := ConvertBody(schemas.Builtin(), "x", []byte("\nContent-Transfer-Encoding: Base64\n!!!not base64 FAKE!!!\n"), true, false)
	if err == nil || !strings.Contains(err.Error(), "not valid base64") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "FAKE") {
		t.Fatalf("error quotes the content: %v", err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// writeAge encrypts body to r into path, creating directories.
func writeAge(t testing.TB, path string, r age.Recipient, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(body))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// passageStore builds a passage store with hostile content and returns the
// store and the identities file.
func passageStore(t *testing.T) (store, ids string, id *age.X25519Identity) {
	t.Helper()
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ids = filepath.Join(dir, "identities")
	if err := os.WriteFile(ids, []byte("# passage identities\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store = filepath.Join(dir, "store")
	r := id.Recipient()
	writeAge(t, filepath.Join(store, "Shopping", "Papa Johns.age"), r, "pizza-FAKE\nlogin: papa\n")
	writeAge(t, filepath.Join(store, "crlf.age"), r, "c-FAKE\r\nnote\r\n")
	writeAge(t, filepath.Join(store, "bin.age"), r, "\x00\xff-FAKE")
	writeAge(t, filepath.Join(store, ".hidden.age"), r, "h-FAKE\n")
	writeAge(t, filepath.Join(store, ".git", "x.age"), r, "git-FAKE\n")
	writeAge(t, filepath.Join(store, "..old", "y.age"), r, "old-FAKE\n")
	os.WriteFile(filepath.Join(store, ".age-recipients"), []byte(r.String()+"\n"), 0o600)
	os.WriteFile(filepath.Join(store, "README"), []byte("not an entry\n"), 0o600)
	// Symlinks: to an entry inside, to a file outside, to a directory outside.
	outside := filepath.Join(dir, "outside")
	writeAge(t, filepath.Join(outside, "stolen.age"), r, "outside-FAKE\n")
	must(t, os.Symlink("Shopping/Papa Johns.age", filepath.Join(store, "alias.age")))
	must(t, os.Symlink(filepath.Join(outside, "stolen.age"), filepath.Join(store, "escape.age")))
	must(t, os.Symlink(outside, filepath.Join(store, "dirlink")))
	must(t, os.Symlink("../outside", filepath.Join(store, "Shopping", "up")))
	must(t, syscall.Mkfifo(filepath.Join(store, "fifo.age"), 0o600))
	return store, ids, id
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ageKeys(t *testing.T, ids string) *AgeKeys {
	kr, err := codec.LoadIdentity(ids, false)
	if err != nil {
		t.Fatal(err)
	}
	return &AgeKeys{Keyring: kr}
}

func TestReadStorePassage(t *testing.T) {
	store, ids, _ := passageStore(t)
	res, err := ReadStore(context.Background(), StoreOptions{Kind: StorePassage, Dir: store, Age: ageKeys(t, ids), Catalog: schemas.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range res.Entries {
		names = append(names, e.Name+"="+e.Entry.Type)
	}
	want := "Shopping/Papa Johns=password bin=file crlf=secret"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries %s, want %s", got, want)
	}
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Rel)
		if strings.Contains(s.Reason, "FAKE") {
			t.Errorf("skip reason holds a value: %s", s)
		}
	}
	wantSkipped := "..old/ .hidden.age README Shopping/up alias.age dirlink escape.age fifo.age"
	if got := strings.Join(skipped, " "); got != wantSkipped {
		t.Errorf("skipped %s, want %s", got, wantSkipped)
	}
	for _, e := range res.Entries {
		for _, v := range e.Entry.Fields {
			if strings.Contains(v, "outside-FAKE") || strings.Contains(v, "h-FAKE") || strings.Contains(v, "git-FAKE") || strings.Contains(v, "old-FAKE") {
				t.Errorf("%s imported content from outside the store or a hidden file", e.Name)
			}
		}
	}
	if got := res.Entries[1].Entry.Fields["content"]; got != "\x00\xff-FAKE" {
		t.Errorf("binary content %q", got)
	}
	if got := res.Entries[2].Entry.Fields["notes"]; got != "note\r\n" {
		t.Errorf("crlf notes %q", got)
	}
}

func TestReadStoreFailures(t *testing.T) {
	store, ids, _ := passageStore(t)
	other, _ := age.GenerateX25519Identity()
	writeAge(t, filepath.Join(store, "team", "not mine.age"), other.Recipient(), "theirs-FAKE\n")
	os.WriteFile(filepath.Join(store, "truncated.age"), []byte("age-encryption.org/v1\n-> X25519 abc\n"), 0o600)
	o := StoreOptions{Kind: StorePassage, Dir: store, Age: ageKeys(t, ids), Catalog: schemas.Builtin()}
	_, err := ReadStore(context.Background(), o)
	var se *StoreError
	if !errors.As(err, &se) || se.Rel != "team/not mine.age" || !strings.Contains(err.Error(), "cannot decrypt: not encrypted to the identities in") {
		t.Fatalf("err = %v", err)
	}
	o.SkipInvalid = true
	res, err := ReadStore(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 3 {
		t.Errorf("%d entries, want 3", len(res.Entries))
	}
	var reasons []string
	for _, s := range res.Skipped {
		reasons = append(reasons, s.String())
	}
	joined := strings.Join(reasons, "\n")
	for _, w := range []string{"team/not mine.age: cannot decrypt", "truncated.age: cannot decrypt: age:"} {
		if !strings.Contains(joined, w) {
			t.Errorf("skipped report lacks %q:\n%s", w, joined)
		}
	}
	if strings.Contains(joined, "FAKE") {
		t.Errorf("report holds a value:\n%s", joined)
	}
}

func TestReadStoreNames(t *testing.T) {
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	ids := filepath.Join(dir, "ids")
	os.WriteFile(ids, []byte(id.String()+"\n"), 0o600)
	tests := []struct {
		files []string
		want  string // error substring, "" for success
	}{
		{[]string{"Case.age", "case.age"}, "unique ignoring letter case"},
		{[]string{"tab\tname.age"}, "not a usable entry name"},
		{[]string{"a b/c d.age", "émoji ✓.age"}, ""},
	}
	for i, tt := range tests {
		store := filepath.Join(dir, "s"+string(rune('0'+i)))
		for _, f := range tt.files {
			writeAge(t, filepath.Join(store, f), id.Recipient(), "v-FAKE\n")
		}
		res, err := ReadStore(context.Background(), StoreOptions{Kind: StorePassage, Dir: store, Age: ageKeys(t, ids), Catalog: schemas.Builtin()})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.files, err)
		case tt.want == "" && len(res.Entries) != len(tt.files):
			t.Errorf("%v: %d entries", tt.files, len(res.Entries))
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: err = %v, want %q", tt.files, err, tt.want)
		}
	}
}

func TestReadStoreMissingKeys(t *testing.T) {
	store, _, _ := passageStore(t)
	_, err := ReadStore(context.Background(), StoreOptions{Kind: StoreGopass, Dir: store, Catalog: schemas.Builtin()})
	if err == nil || !strings.Contains(err.Error(), "Shopping/Papa Johns.age") {
		t.Fatalf("err = %v", err)
	}
	_, err = ReadStore(context.Background(), StoreOptions{Kind: StorePass, Dir: filepath.Join(store, "nope")})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing store: %v", err)
	}
}

func TestStoreDefaults(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if d, _ := StoreDefaults(StorePass, getenv, home); d != filepath.Join(home, ".password-store") {
		t.Errorf("pass %s", d)
	}
	env["PASSWORD_STORE_DIR"] = "~/elsewhere"
	if d, _ := StoreDefaults(StorePass, getenv, home); d != filepath.Join(home, "elsewhere") {
		t.Errorf("pass env %s", d)
	}
	if d, ids := StoreDefaults(StorePassage, getenv, home); d != filepath.Join(home, ".passage/store") || ids != filepath.Join(home, ".passage/identities") {
		t.Errorf("passage %s %s", d, ids)
	}
	if d, _ := StoreDefaults(StoreGopass, getenv, home); d != filepath.Join(home, ".local/share/gopass/stores/root") {
		t.Errorf("gopass default %s", d)
	}
	cfg := filepath.Join(home, ".config", "gopass")
	os.MkdirAll(cfg, 0o700)
	os.WriteFile(filepath.Join(cfg, "config.yml"), []byte("root:\n  autoclip: true\n  path: gpgcli-gitcli-fs+file:///srv/old-store\n"), 0o600)
	if d, _ := StoreDefaults(StoreGopass, getenv, home); d != "/srv/old-store" {
		t.Errorf("gopass yml %s", d)
	}
	os.WriteFile(filepath.Join(cfg, "config"), []byte("[core]\n\tautoclip = true\n[mounts]\n\tpath = ~/secrets/root\n[mounts \"work\"]\n\tpath = /x\n"), 0o600)
	if d, _ := StoreDefaults(StoreGopass, getenv, home); d != filepath.Join(home, "secrets/root") {
		t.Errorf("gopass config %s", d)
	}
	if m := GopassMounts(getenv, home); len(m) != 1 || m[0] != (Mount{Prefix: "work", Dir: "/x"}) {
		t.Errorf("mounts %v", m)
	}
	os.Remove(filepath.Join(cfg, "config"))
	os.WriteFile(filepath.Join(cfg, "config.yml"), []byte("root:\n  path: /r\nmounts:\n  b:\n    path: gpgcli-gitcli-fs+file://~/b\n  a:\n    path: /a\n"), 0o600)
	if m := GopassMounts(getenv, home); len(m) != 2 || m[0] != (Mount{Prefix: "a", Dir: "/a"}) || m[1] != (Mount{Prefix: "b", Dir: filepath.Join(home, "b")}) {
		t.Errorf("yml mounts %v", m)
	}
}

// TestOpenStoreFileRefusesSwappedSymlink: a file replaced by a symbolic
// link between the scan and the decryption is not followed.
func TestOpenStoreFileRefusesSwappedSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.age")
	os.WriteFile(target, []byte("x"), 0o600)
	link := filepath.Join(dir, "entry.age")
	must(t, os.Symlink(target, link))
	for _, d := range []Decrypter{&AgeKeys{}, &GPG{Path: "/bin/false"}} {
		_, err := d.Decrypt(context.Background(), StoreFile{Rel: "entry.age", Abs: link})
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%T: err = %v", d, err)
		}
	}
}

// FuzzConvertBody: any body converts without panic to an entry that
// validates and keeps every byte: the content or value whole, or the first
// line, its line break and the notes.
func FuzzConvertBody(f *testing.F) {
	for _, s := range []string{"GOPASS-SECRET-1.0\nPassword: p\n\nb\n", "GOPASS-SECRET-1.0\r\nPassword:\r\n", "pw\n", "pw\r\nuser: x\r\n", "pw\n---\nurl: https://h.test\n", "-----BEGIN X-----\n", "\x00\xff", "", "\n", "\r\n\r\n", "ghp_FAKE000000000000000000000000000000\n", "pw\nurl: \x7f\n"} {
		f.Add([]byte(s), false)
	}
	cat := schemas.Builtin()
	f.Fuzz(func(t *testing.T, body []byte, whole bool) {
		e, how, err := ConvertBody(cat, "dir/entry", body, false, whole)
		if err != nil && strings.Contains(err.Error(), "without a Password header") && bytes.HasPrefix(body, []byte("GOPASS-SECRET-1.0")) {
			return
		}
		if err != nil {
			t.Fatalf("ConvertBody: %v", err)
		}
		if _, err := cat.Validate(e); err != nil {
			t.Fatalf("invalid result (%s): %v", how, err)
		}
		s := string(body)
		typ, _ := cat.Type(e.Type)
		primary := e.Fields[typ.Primary]
		switch how {
		case "binary", "whole", "pem":
			if primary != s {
				t.Fatalf("%s: lost bytes", how)
			}
		default:
			if strings.HasPrefix(s, "GOPASS-SECRET-1.0\n") || strings.HasPrefix(s, "GOPASS-SECRET-1.0\r\n") {
				_, rest, _ := strings.Cut(s, "\n")
				if e.Fields["notes"] != rest {
					t.Fatalf("mime: notes %q, want %q", e.Fields["notes"], rest)
				}
				return
			}
			first, _, found := strings.Cut(s, "\n")
			sep := ""
			if found {
				sep = "\n"
				if strings.HasSuffix(first, "\r") {
					sep = "\r\n"
				}
			}
			if primary+sep+e.Fields["notes"] != s {
				t.Fatalf("%s: %q + %q + %q != %q", how, primary, sep, e.Fields["notes"], s)
			}
		}
	})
}

// encryptIdentities writes the identity file encrypted with a passphrase,
// as `age -p` (and gopass) do.
func encryptIdentities(t *testing.T, path, identities, passphrase string) {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10) // fast for tests
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(identities))
	w.Close()
	must(t, os.WriteFile(path, buf.Bytes(), 0o600))
}

func TestLoadStoreIdentitiesPassphrase(t *testing.T) {
	store, plainIDs, _ := passageStore(t)
	ids, _ := os.ReadFile(plainIDs)
	enc := filepath.Join(t.TempDir(), "identities")
	encryptIdentities(t, enc, string(ids), "correct horse FAKE")
	asked := 0
	prompt := func(p string) ([]byte, error) {
		asked++
		if !strings.Contains(p, enc) {
			t.Errorf("prompt %q does not name the file", p)
		}
		return []byte("correct horse FAKE"), nil
	}
	keys := &AgeKeys{Load: func() (*codec.Keyring, error) { return LoadStoreIdentities(enc, false, prompt) }}
	res, err := ReadStore(context.Background(), StoreOptions{Kind: StorePassage, Dir: store, Age: keys, Catalog: schemas.Builtin(), Workers: 4})
	if err != nil || len(res.Entries) != 3 {
		t.Fatalf("%v %v", res, err)
	}
	if asked != 1 {
		t.Errorf("asked %d times for the passphrase", asked)
	}
	// A wrong passphrase stops the whole import, even with SkipInvalid.
	wrong := &AgeKeys{Load: func() (*codec.Keyring, error) {
		return LoadStoreIdentities(enc, false, func(string) ([]byte, error) { return []byte("wrong-FAKE"), nil })
	}}
	_, err = ReadStore(context.Background(), StoreOptions{Kind: StorePassage, Dir: store, Age: wrong, Catalog: schemas.Builtin(), SkipInvalid: true})
	var ke *KeyError
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "FAKE") {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadStoreIdentities(enc, false, nil); err == nil || !strings.Contains(err.Error(), "passphrase-protected") {
		t.Fatalf("no prompt: %v", err)
	}
	os.Chmod(enc, 0o644)
	if _, err := LoadStoreIdentities(enc, false, prompt); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable by others: %v", err)
	}
}

// TestConvertBodyGopassBinaryForms: every way gopass (and a user by hand)
// writes a binary entry decodes to the exact bytes and the file name gopass
// recorded; nothing decodes to an empty or partial file silently.
func TestConvertBodyGopassBinaryForms(t *testing.T) {
	data := []byte("binary\x00FAKE2")
	b64 := base64.StdEncoding.EncodeToString(data)
	long := bytes.Repeat([]byte("\x00\xffFAKE-long-"), 40)
	wrapped := base64.StdEncoding.EncodeToString(long)
	var lines []string
	for len(wrapped) > 76 {
		lines = append(lines, wrapped[:76])
		wrapped = wrapped[76:]
	}
	lines = append(lines, wrapped)
	cd := "Content-Disposition: attachment; filename=\"blob.bin\"\n"
	cte := "Content-Transfer-Encoding: Base64\n"
	for _, c := range []struct {
		name, body string
		want       []byte
		filename   string
	}{
		{"gopass 1.8: empty password line, data", "\n" + b64 + "\n", data, "blob3"},
		{"data alone, no password line", b64 + "\n", data, "blob3"},
		{"data alone, no newline", b64, data, "blob3"},
		{"gopass 1.12+: password line, headers, data", "\n" + cd + cte + b64 + "\n", data, "blob.bin"},
		{"headers without the password line", cd + cte + b64 + "\n", data, "blob.bin"},
		{"headers, blank line, data", cd + cte + "\n" + b64 + "\n", data, "blob.bin"},
		{"GOPASS-SECRET-1.0", "GOPASS-SECRET-1.0\n" + cd + cte + "\n" + b64 + "\n", data, "blob.bin"},
		{"CRLF", strings.ReplaceAll("\n"+cd+cte+b64+"\n", "\n", "\r\n"), data, "blob.bin"},
		{"lower-case headers, unquoted filename", "\ncontent-disposition: attachment; filename=blob.bin\ncontent-transfer-encoding: base64\n" + b64 + "\n", data, "blob.bin"},
		{"filename with a quote gopass did not escape", "\nContent-Disposition: attachment; filename=\"it\"s.bin\"\n" + cte + b64 + "\n", data, "it\"s.bin"},
		{"data wrapped at 76 columns", "\n" + cte + strings.Join(lines, "\n") + "\n", long, "blob3"},
		{"a path as filename is not taken", "\nContent-Disposition: attachment; filename=\"../../x\"\n" + cte + b64 + "\n", data, "blob3"},
		{"an empty file", "\n" + cd + cte, []byte{}, "blob.bin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, how, err := ConvertBody(schemas.Builtin(), "dir/blob3", []byte(c.body), true, false)
			if err != nil {
				t.Fatal(err)
			}
			if e.Type != "file" || how != "gopass-binary" {
				t.Fatalf("type %s (%s), want a file (gopass-binary)", e.Type, how)
			}
			if got := e.Fields["content"]; got != string(c.want) {
				t.Errorf("content = %d bytes %q, want %d bytes", len(got), got, len(c.want))
			}
			if got := e.Fields["filename"]; got != c.filename {
				t.Errorf("filename = %q, want %q", got, c.filename)
			}
		})
	}

	for _, c := range []struct{ name, body, want string }{
		{"a password line before the data", "hunter2-FAKE\n" + b64 + "\n", "not valid base64"},
		{"another transfer encoding", "\nContent-Transfer-Encoding: quoted-printable\nFAKE=00\n", "not base64"},
		{"truncated data", "\n" + cte + b64[:len(b64)-3] + "\n", "not valid base64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ConvertBody(schemas.Builtin(), "blob3", []byte(c.body), true, false)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "FAKE") {
				t.Errorf("error quotes the content: %v", err)
			}
		})
	}
}

func TestIsGopassBinaryBody(t *testing.T) {
	for body, want := range map[string]bool{
		"\nContent-Disposition: attachment; filename=\"a\"\nContent-Transfer-Encoding: Base64\nQUJD\n": true,
		"\nContent-Transfer-Encoding: base64\nQUJD":                                                    true,
		"GOPASS-SECRET-1.0\nContent-Transfer-Encoding: Base64\n\nQUJD\n":                               true,
		"pw-FAKE\nContent-Transfer-Encoding: Base64\nQUJD\n":                                           false, // a password: a text entry
		"\nuser: alice\n": false,
		"QUJD\n":          false,
		"":                false,
	} {
		if got := isGopassBinaryBody([]byte(body)); got != want {
			t.Errorf("isGopassBinaryBody(%q) = %v, want %v", body, got, want)
		}
	}
}
