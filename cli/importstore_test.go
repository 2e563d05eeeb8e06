package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// gpgHome is a throwaway GnuPG home with a passphrase-less key for
// test@example.test (and its agent, stopped at cleanup). Its path is short:
// the agent's socket lives in it.
type gpgHome struct {
	t   testing.TB
	dir string
}

func newGPGHome(t testing.TB) *gpgHome {
	t.Helper()
	dir, err := os.MkdirTemp("", "tg")
	if err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{t: t, dir: dir}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", dir, "--kill", "gpg-agent").Run()
		os.RemoveAll(dir)
	})
	g.genKey("tresor test", "test@example.test")
	return g
}

func (g *gpgHome) run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--quiet", "--trust-model", "always"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.dir)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %v: %v\n%s", args, err, errb.String())
	}
	return out.Bytes()
}

func (g *gpgHome) genKey(name, email string) {
	g.run([]byte("%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nSubkey-Type: ecdh\nSubkey-Curve: cv25519\nName-Real: "+name+"\nName-Email: "+email+"\nExpire-Date: 0\n%commit\n"), "--gen-key")
}

// encrypt writes body encrypted to email at store/rel.
func (g *gpgHome) encrypt(store, rel, email string, body []byte) {
	g.t.Helper()
	p := filepath.Join(store, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		g.t.Fatal(err)
	}
	g.run(body, "-r", email, "-o", p, "--encrypt")
}

// fingerprint returns the primary key fingerprint of email.
func (g *gpgHome) fingerprint(email string) string {
	for _, l := range strings.Split(string(g.run(nil, "--with-colons", "--list-keys", email)), "\n") {
		if f := strings.Split(l, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint for %s", email)
	return ""
}

const (
	pemBody = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABFAKE\n-----END OPENSSH PRIVATE KEY-----\n"
	binBody = "\x00\x01\x02\xff\xfe-FAKE\r\n"
)

// passStore builds a pass store with the real gpg: names with spaces,
// login lines, CRLF, a PEM key, binary content, an API key, hidden files,
// non-entries and symlinks pointing in and out.
func passStore(t *testing.T, g *gpgHome) string {
	t.Helper()
	store := filepath.Join(t.TempDir(), "password-store")
	os.MkdirAll(store, 0o700)
	os.WriteFile(filepath.Join(store, ".gpg-id"), []byte("test@example.test\n"), 0o600)
	g.encrypt(store, "Shopping/Papa Johns.gpg", "test@example.test", []byte("pizza-FAKE\nusername: papa@example.test\nurl: https://papajohns.example\n"))
	g.encrypt(store, "mail/work.gpg", "test@example.test", []byte("mail-FAKE\r\nlogin: me@work.example\r\nrecovery code: rc-FAKE\r\n"))
	g.encrypt(store, "github/token.gpg", "test@example.test", []byte("ghp_FAKE000000000000000000000000000000\n"))
	g.encrypt(store, "keys/deploy.gpg", "test@example.test", []byte(pemBody))
	g.encrypt(store, "files/blob.gpg", "test@example.test", []byte(binBody))
	g.encrypt(store, "plain.gpg", "test@example.test", []byte("  spaced FAKE \t"))
	g.encrypt(store, ".hidden.gpg", "test@example.test", []byte("hidden-FAKE\n"))
	os.WriteFile(filepath.Join(store, "README.md"), []byte("# my store\n"), 0o600)
	outside := filepath.Join(filepath.Dir(store), "outside")
	g.encrypt(outside, "stolen.gpg", "test@example.test", []byte("outside-FAKE\n"))
	must(t, os.Symlink("../Shopping/Papa Johns.gpg", filepath.Join(store, "mail", "pizza.gpg")))
	must(t, os.Symlink(filepath.Join(outside, "stolen.gpg"), filepath.Join(store, "stolen.gpg")))
	must(t, os.Symlink("../outside", filepath.Join(store, "up")))
	return store
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestImportPassStore(t *testing.T) {
	g := newGPGHome(t)
	h := newHome(t)
	h.vars["GNUPGHOME"] = g.dir
	store := passStore(t, g)
	h.ok("", "init")
	before := commitCount(t, h.vault())

	// Dry run: the plan, no values, nothing written.
	snap := snapshot(t, h.vault())
	r := h.ok("", "import", "pass", "--store", store, "--dry-run")
	for _, want := range []string{"global/Shopping/Papa Johns", "password", "global/github/token", "api_key", "global/files/blob", "file"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "FAKE") {
		t.Fatalf("dry run shows a value:\n%s%s", r.stdout, r.stderr)
	}
	if snapshot(t, h.vault()) != snap {
		t.Fatal("dry run changed the vault")
	}

	r = h.ok("", "import", "pass", "--store", store)
	if got := commitCount(t, h.vault()); got != before+1 {
		t.Fatalf("%d commits after import, want %d", got, before+1)
	}
	gitClean(t, h.vault())
	for _, skip := range []string{"skipped: .hidden.gpg", "skipped: README.md", "skipped: mail/pizza.gpg: symbolic link", "skipped: stolen.gpg: symbolic link", "skipped: up: symbolic link"} {
		if !strings.Contains(r.stderr, skip) {
			t.Errorf("report lacks %q:\n%s", skip, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "FAKE") {
		t.Errorf("report shows a value:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "imported 6 entries") {
		t.Errorf("summary: %s", r.stderr)
	}
	checks := []struct{ name, field, want string }{
		{"Shopping/Papa Johns", "", "pizza-FAKE"},
		{"Shopping/Papa Johns", "username", "papa@example.test"},
		{"Shopping/Papa Johns", "url", "https://papajohns.example"},
		{"Shopping/Papa Johns", "notes", "username: papa@example.test\nurl: https://papajohns.example\n"},
		{"mail/work", "", "mail-FAKE"},
		{"mail/work", "username", "me@work.example"},
		{"mail/work", "notes", "login: me@work.example\r\nrecovery code: rc-FAKE\r\n"},
		{"github/token", "", "ghp_FAKE000000000000000000000000000000"},
		{"keys/deploy", "", pemBody},
		{"files/blob", "", binBody},
		{"files/blob", "filename", "blob"},
		{"plain", "", "  spaced FAKE \t"},
	}
	for _, c := range checks {
		args := []string{"get", c.name, "--raw"}
		if c.field != "" {
			args = append(args, "--field", c.field)
		}
		if got := h.ok("", args...).stdout; got != c.want {
			t.Errorf("%s %s = %q, want %q", c.name, c.field, got, c.want)
		}
	}
	for _, absent := range []string{"stolen", "mail/pizza", ".hidden", "up/stolen"} {
		if r := h.run("", "get", absent, "--raw"); r.code == 0 {
			t.Errorf("%s was imported", absent)
		}
	}
	msg, _ := exec.Command("git", "-C", h.vault(), "log", "-1", "--format=%B").Output()
	if !strings.Contains(string(msg), "Tresor-Op: import") || strings.Contains(string(msg), "FAKE") {
		t.Errorf("commit message:\n%s", msg)
	}

	// Again: nothing changes.
	r = h.ok("", "import", "pass", "--store", store)
	if !strings.Contains(r.stderr, "already up to date") || commitCount(t, h.vault()) != before+1 {
		t.Errorf("re-import: %s", r.stderr)
	}
	// A changed entry conflicts unless --overwrite, and names the entry.
	g.encrypt(store, "plain.gpg", "test@example.test", []byte("new-FAKE\n"))
	h.fails(1, "", []string{"import", "pass", "--store", store}, "global/plain", "--overwrite", "nothing imported")
	h.ok("", "import", "pass", "--store", store, "--overwrite")
	if got := h.ok("", "get", "plain", "--raw").stdout; got != "new-FAKE" {
		t.Errorf("after overwrite: %q", got)
	}
}

func TestImportPassStoreFailures(t *testing.T) {
	g := newGPGHome(t)
	g.genKey("someone else", "other@example.test")
	h := newHome(t)
	h.vars["GNUPGHOME"] = g.dir
	store := passStore(t, g)
	// An entry for a key whose secret half is gone, and one that is not
	// OpenPGP data at all.
	g.encrypt(store, "team/not mine.gpg", "other@example.test", []byte("theirs-FAKE\n"))
	g.run(nil, "--delete-secret-keys", g.fingerprint("other@example.test"))
	h.ok("", "init")

	h.fails(1, "", []string{"import", "pass", "--store", store}, "team/not mine.gpg", "cannot decrypt", "nothing imported", "--skip-invalid")

	os.WriteFile(filepath.Join(store, "broken.gpg"), []byte("this is not OpenPGP FAKE"), 0o600)
	r := h.fails(1, "", []string{"import", "pass", "--store", store}, "broken.gpg", "cannot decrypt")
	if strings.Contains(r.stderr, "FAKE") {
		t.Errorf("error shows content: %s", r.stderr)
	}

	// --skip-invalid imports the rest, reports the two.
	before := commitCount(t, h.vault())
	r = h.ok("", "import", "pass", "--store", store, "--skip-invalid")
	for _, w := range []string{"skipped: broken.gpg: cannot decrypt", "skipped: team/not mine.gpg: cannot decrypt", "imported 6 entries"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("report lacks %q:\n%s", w, r.stderr)
		}
	}
	if commitCount(t, h.vault()) != before+1 {
		t.Error("not one commit")
	}

	// Missing store, wrong flags.
	h.fails(1, "", []string{"import", "pass", "--store", filepath.Join(store, "nope")}, "nope")
	h.fails(2, "", []string{"import", "x.env", "--store", store}, "--store")

	// No gpg at all.
	h.vars["PATH"] = t.TempDir()
	h.fails(1, "", []string{"import", "pass", "--store", store}, "gpg is not installed")
}

// TestImportPassDefaultStore uses ~/.password-store when --store is not given.
func TestImportPassDefaultStore(t *testing.T) {
	g := newGPGHome(t)
	h := newHome(t)
	h.vars["GNUPGHOME"] = g.dir
	g.encrypt(filepath.Join(h.dir, ".password-store"), "site/login.gpg", "test@example.test", []byte("s-FAKE\nuser: bob\n"))
	h.ok("", "init")
	h.ok("", "import", "pass")
	if got := h.ok("", "get", "site/login", "--field", "username", "--raw").stdout; got != "bob" {
		t.Errorf("username %q", got)
	}
}

func TestImportGopassStore(t *testing.T) {
	g := newGPGHome(t)
	h := newHome(t)
	h.vars["GNUPGHOME"] = g.dir
	// The root store path comes from gopass's config.
	root := filepath.Join(h.dir, "gopass-root")
	cfg := filepath.Join(h.dir, "config", "gopass")
	os.MkdirAll(cfg, 0o700)
	os.WriteFile(filepath.Join(cfg, "config"), []byte("[core]\n\tautosync = false\n[mounts]\n\tpath = "+root+"\n[mounts \"work stuff\"]\n\tpath = /srv/work\n"), 0o600)
	os.MkdirAll(root, 0o700)
	os.WriteFile(filepath.Join(root, ".gpg-id"), []byte("test@example.test\n"), 0o600)
	g.encrypt(root, "web/shop.gpg", "test@example.test", []byte("shop-FAKE\n---\nuser: alice\nurl: https://shop.example\ntotp: otpauth://totp/x-FAKE\n"))
	p12 := []byte("\x30\x82\x00\x00binary-p12-FAKE\x00\xff")
	g.encrypt(root, "certs/client.p12.b64.gpg", "test@example.test",
		[]byte("\nContent-Disposition: attachment; filename=\"client.p12\"\nContent-Transfer-Encoding: Base64\n"+base64.StdEncoding.EncodeToString(p12)+"\n"))
	// A gopass-age entry needs --identities.
	id, _ := age.GenerateX25519Identity()
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write([]byte("age-FAKE\n"))
	w.Close()
	os.WriteFile(filepath.Join(root, "agebox.age"), buf.Bytes(), 0o600)
	h.ok("", "init")
	h.fails(1, "", []string{"import", "gopass"}, "agebox.age", "--identities")
	ids := filepath.Join(h.dir, "age-ids")
	os.WriteFile(ids, []byte(id.String()+"\n"), 0o600)
	r := h.ok("", "import", "gopass", "--identities", ids)
	if !strings.Contains(r.stderr, "note: gopass mount work stuff (/srv/work) is a store of its own: tresor import gopass --store /srv/work --prefix 'work stuff'") {
		t.Errorf("no note about the mount:\n%s", r.stderr)
	}
	checks := []struct{ name, field, want string }{
		{"web/shop", "", "shop-FAKE"},
		{"web/shop", "username", "alice"},
		{"web/shop", "url", "https://shop.example"},
		{"web/shop", "notes", "---\nuser: alice\nurl: https://shop.example\ntotp: otpauth://totp/x-FAKE\n"},
		{"certs/client.p12", "", string(p12)}, // gopass adds .b64 to binary entries; the name drops it
		{"certs/client.p12", "filename", "client.p12"},
		{"agebox", "", "age-FAKE"},
	}
	for _, c := range checks {
		args := []string{"get", c.name, "--raw"}
		if c.field != "" {
			args = append(args, "--field", c.field)
		}
		if got := h.ok("", args...).stdout; got != c.want {
			t.Errorf("%s %s = %q, want %q", c.name, c.field, got, c.want)
		}
	}
}

func TestImportPassageStore(t *testing.T) {
	h := newHome(t)
	id, _ := age.GenerateX25519Identity()
	os.MkdirAll(filepath.Join(h.dir, ".passage", "store", "Shopping"), 0o700)
	os.WriteFile(filepath.Join(h.dir, ".passage", "identities"), []byte(id.String()+"\n"), 0o600)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write([]byte("pizza-FAKE\nlogin: papa\n"))
	w.Close()
	os.WriteFile(filepath.Join(h.dir, ".passage", "store", "Shopping", "Papa Johns.age"), buf.Bytes(), 0o600)
	h.ok("", "init")
	var plan []map[string]string
	must(t, json.Unmarshal([]byte(h.ok("", "import", "passage", "--dry-run", "--json").stdout), &plan))
	if len(plan) != 1 || plan[0]["ref"] != "global/Shopping/Papa Johns" || plan[0]["action"] != "add" || plan[0]["type"] != "password" || plan[0]["source"] != "Shopping/Papa Johns.age" {
		t.Errorf("json plan %v", plan)
	}
	h.ok("", "import", "passage", "--prefix", "old", "--whole-body")
	if got := h.ok("", "get", "old/Shopping/Papa Johns", "--raw").stdout; got != "pizza-FAKE\nlogin: papa\n" {
		t.Errorf("whole body %q", got)
	}
	// A world-readable identities file is refused, like tresor's own.
	os.Chmod(filepath.Join(h.dir, ".passage", "identities"), 0o644)
	h.fails(1, "", []string{"import", "passage", "--prefix", "again"}, "identities", "chmod 600")
}

// BenchmarkImportPassStore is `tresor import pass --dry-run` over a pass
// store of 200 entries: one gpg process per entry (4 at a time), conversion
// and the plan; no commit, so every iteration does the same work.
func BenchmarkImportPassStore(b *testing.B) {
	g := newGPGHome(b)
	h := newHome(b)
	h.vars["GNUPGHOME"] = g.dir
	store := filepath.Join(b.TempDir(), "store")
	for i := 0; i < 200; i++ {
		g.encrypt(store, fmt.Sprintf("site%02d/login %d.gpg", i%20, i), "test@example.test", []byte(fmt.Sprintf("pw-FAKE-%d\nlogin: user%d\nurl: https://site%d.example\n", i, i, i)))
	}
	h.ok("", "init")
	for b.Loop() {
		h.ok("", "import", "pass", "--store", store, "--dry-run")
	}
}

// TestImportGopassAgeDefaultIdentities: gopass's age backend keeps its
// identities passphrase-protected in ~/.config/gopass/age/identities; the
// passphrase is asked once, on the terminal.
func TestImportGopassAgeDefaultIdentities(t *testing.T) {
	h := newHome(t)
	id, _ := age.GenerateX25519Identity()
	root := filepath.Join(h.dir, "data", "gopass", "stores", "root")
	os.MkdirAll(filepath.Join(root, "web"), 0o700)
	for i, body := range []string{"one-FAKE\n", "two-FAKE\nuser: bob\n"} {
		var buf bytes.Buffer
		w, _ := age.Encrypt(&buf, id.Recipient())
		w.Write([]byte(body))
		w.Close()
		os.WriteFile(filepath.Join(root, "web", fmt.Sprintf("e%d.age", i)), buf.Bytes(), 0o600)
	}
	idDir := filepath.Join(h.dir, "config", "gopass", "age")
	os.MkdirAll(idDir, 0o700)
	sr, _ := age.NewScryptRecipient("pass-FAKE")
	sr.SetWorkFactor(10)
	var enc bytes.Buffer
	w, _ := age.Encrypt(&enc, sr)
	w.Write([]byte(id.String() + "\n"))
	w.Close()
	os.WriteFile(filepath.Join(idDir, "identities"), enc.Bytes(), 0o600)
	h.ok("", "init")

	e, _, errb := h.env("")
	asked := 0
	e.ReadSecret = func(prompt string) ([]byte, error) {
		asked++
		return []byte("pass-FAKE"), nil
	}
	if code := Main([]string{"tresor", "import", "gopass"}, e); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if asked != 1 {
		t.Errorf("asked %d times", asked)
	}
	if got := h.ok("", "get", "web/e1", "--field", "username", "--raw").stdout; got != "bob" {
		t.Errorf("username %q", got)
	}
}

// TestImportGopassBinaryEntries: every form of gopass binary entry, written
// by gopass or by hand, imports the exact bytes and the recorded file name
// through the real gpg; the store's metadata (.gpg-id) is passed over
// silently while every other file not imported is reported.
func TestImportGopassBinaryEntries(t *testing.T) {
	g := newGPGHome(t)
	h := newHome(t)
	h.vars["GNUPGHOME"] = g.dir
	store := filepath.Join(h.dir, "s")
	os.MkdirAll(store, 0o700)
	os.WriteFile(filepath.Join(store, ".gpg-id"), []byte(g.fingerprint("test@example.test")+"\n"), 0o600)
	os.WriteFile(filepath.Join(store, ".DS_Store"), []byte("junk"), 0o600)
	data := "binary\x00FAKE2"
	b64 := base64.StdEncoding.EncodeToString([]byte(data))
	hdr := "Content-Disposition: attachment; filename=\"blob.bin\"\nContent-Transfer-Encoding: Base64\n"
	g.encrypt(store, "blob3.b64.gpg", "test@example.test", []byte(b64+"\n"))          // the data alone
	g.encrypt(store, "blob2.b64.gpg", "test@example.test", []byte(hdr+b64+"\n"))      // headers, no password line
	g.encrypt(store, "old.b64.gpg", "test@example.test", []byte("\n"+b64+"\n"))       // gopass 1.8
	g.encrypt(store, "new/blob4.gpg", "test@example.test", []byte("\n"+hdr+b64+"\n")) // gopass 1.12+: no .b64
	g.encrypt(store, "broken.b64.gpg", "test@example.test", []byte("\n"+hdr+b64[:len(b64)-3]+"\n"))
	h.ok("", "init")

	// The broken one stops the import, naming it; nothing is written.
	h.fails(1, "", []string{"import", "gopass", "--store", store}, "broken.b64.gpg", "not valid base64")
	if r := h.run("", "get", "blob3", "--raw"); r.code == 0 {
		t.Fatal("a failed import wrote entries")
	}
	os.Remove(filepath.Join(store, "broken.b64.gpg"))

	r := h.ok("", "import", "gopass", "--store", store)
	if strings.Contains(r.stderr, ".gpg-id") {
		t.Errorf(".gpg-id is store metadata, reported as skipped:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "skipped: .DS_Store: hidden file") {
		t.Errorf("a hidden file that is not store metadata is not reported:\n%s", r.stderr)
	}
	for _, c := range []struct{ name, filename string }{
		{"blob3", "blob3"}, {"blob2", "blob.bin"}, {"old", "old"}, {"new/blob4", "blob.bin"},
	} {
		if got := h.ok("", "get", c.name, "--raw").stdout; got != data {
			t.Errorf("%s = %d bytes %q, want %d bytes", c.name, len(got), got, len(data))
		}
		if got := h.ok("", "get", c.name, "--field", "filename", "--raw").stdout; got != c.filename {
			t.Errorf("%s filename = %q, want %q", c.name, got, c.filename)
		}
	}
}
