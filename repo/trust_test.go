package repo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

// git runs the real git binary with a sandboxed configuration.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Eve", "GIT_AUTHOR_EMAIL=eve@example.test",
		"GIT_COMMITTER_NAME=Eve", "GIT_COMMITTER_EMAIL=eve@example.test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type trustFixture struct {
	t     *testing.T
	root  string
	v     *Vault
	kr    *codec.Keyring
	vault string
}

func newTrustFixture(t *testing.T) *trustFixture {
	t.Helper()
	root := t.TempDir()
	kr, err := codec.GenerateIdentity(filepath.Join(root, "id"))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	dir := filepath.Join(root, "vault")
	v, err := Init(dir, InitOptions{Options: Options{Clock: now, Device: "laptop"}, Recipient: kr.Recipient, Member: "alice",
		Author: gitdb.Signature{Name: "Alice", Email: "alice@example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return &trustFixture{t: t, root: root, v: v, kr: kr, vault: dir}
}

// set writes one entry through Prepare and Commit, as every command does.
func (f *trustFixture) set(name, value string) error {
	e := schemas.NewEntry("secret")
	e.Fields["value"] = value
	ref := Ref{Scope: GlobalScope, Name: name}
	p, err := f.v.Prepare([]Put{{Ref: ref, Entry: e}})
	if err != nil {
		return err
	}
	return f.v.Commit(context.Background(), p, Message{Op: "set", Entries: []string{ref.String()}, ValueChanged: true},
		gitdb.Signature{Name: "Alice", Email: "alice@example.test"})
}

func (f *trustFixture) recipientsPath() string {
	return filepath.Join(f.vault, filepath.FromSlash(RecipientsFile))
}

func newKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func decryptsWith(t *testing.T, path string, id age.Identity) bool {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	_, err = age.Decrypt(fh, id)
	return err == nil
}

// The repro: a hostile remote adds mallory in a commit; after a
// plain `git pull` no write encrypts to her until this device accepts.
func TestTrustHostileRemoteAddsRecipient(t *testing.T) {
	f := newTrustFixture(t)
	if err := f.set("before", "sk-test-FAKE-before"); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(f.root, "r.git")
	git(t, f.root, "init", "-q", "--bare", bare)
	git(t, f.vault, "remote", "add", "origin", bare)
	git(t, f.vault, "push", "-q", "origin", "main")
	evil := filepath.Join(f.root, "evil")
	git(t, f.root, "clone", "-q", "-b", "main", bare, evil)
	mallory := newKey(t)
	fh, err := os.OpenFile(filepath.Join(evil, ".tresor", "recipients.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("# member=mallory device=x\n" + mallory.Recipient().String() + "\n")
	fh.Close()
	git(t, evil, "commit", "-qam", "docs")
	git(t, evil, "push", "-q", "origin", "main")
	git(t, f.vault, "pull", "-q", "--no-edit", "origin", "main")

	err = f.set("newsecret", "sk-test-FAKE-after-pull")
	var ue *UntrustedError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUntrusted) {
		t.Fatalf("write after hostile pull: %v, want UntrustedError", err)
	}
	msg := err.Error()
	for _, want := range []string{"added: member=mallory device=x " + mallory.Recipient().String(), "`tresor team trust`", RecipientsFile} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "sk-test-FAKE") || strings.Contains(msg, "\n") {
		t.Errorf("message leaks or spans lines: %q", msg)
	}
	if _, err := os.Stat(filepath.Join(f.vault, "global", "newsecret.age")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused write left a file: %v", err)
	}
	if st := git(t, f.vault, "status", "--porcelain"); st != "" {
		t.Fatalf("refused write changed the tree:\n%s", st)
	}

	// Accepting it is deliberate; then writes encrypt to the new set.
	st, err := f.v.Trust()
	if err != nil || st.OK() || len(st.Added) != 1 || len(st.Removed) != 0 {
		t.Fatalf("trust state %+v, %v", st, err)
	}
	if err := f.v.Accept(st.Data); err != nil {
		t.Fatal(err)
	}
	if err := f.set("newsecret", "sk-test-FAKE-after-trust"); err != nil {
		t.Fatal(err)
	}
	if !decryptsWith(t, filepath.Join(f.vault, "global", "newsecret.age"), mallory) {
		t.Fatal("after trust the entry is not encrypted to the accepted set")
	}
}

func TestTrustChanges(t *testing.T) {
	bob, carol := newKey(t), newKey(t)
	cases := []struct {
		name string
		edit func(f *trustFixture, orig string) string
		want func(orig string) string // in the refusal
	}{
		{"hand-added line, never committed", func(f *trustFixture, orig string) string {
			return orig + "\n# member=bob device=desk\n" + bob.Recipient().String() + "\n"
		}, func(string) string { return "added: member=bob device=desk " + bob.Recipient().String() }},
		{"own key removed, teammate put in its place", func(f *trustFixture, orig string) string {
			return "# member=carol device=pc\n" + carol.Recipient().String() + "\n"
		}, func(orig string) string { return "removed: member=alice device=laptop " + f0(orig) }},
		{"device label moved", func(f *trustFixture, orig string) string {
			return strings.Replace(orig, "device=laptop", "device=stolen", 1)
		}, func(string) string { return "relabelled: member=alice device=stolen" }},
		{"recipient with no comment", func(f *trustFixture, orig string) string {
			return orig + "\n" + bob.Recipient().String() + "\n"
		}, func(string) string { return "added: (no comment) " + bob.Recipient().String() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTrustFixture(t)
			orig, err := os.ReadFile(f.recipientsPath())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.recipientsPath(), []byte(tc.edit(f, string(orig))), 0o600); err != nil {
				t.Fatal(err)
			}
			err = f.set("x", "sk-test-FAKE-x")
			if want := tc.want(string(orig)); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want a refusal naming %q", err, want)
			}
			st, err := f.v.Trust()
			if err != nil {
				t.Fatal(err)
			}
			if err := f.v.Accept(st.Data); err != nil {
				t.Fatal(err)
			}
			if err := f.set("x", "sk-test-FAKE-x"); err != nil {
				t.Fatalf("after accept: %v", err)
			}
		})
	}
}

// f0 is the key line of a one-recipient file.
func f0(recipients string) string {
	rs, _ := codec.ParseRecipients([]byte(recipients))
	if len(rs) == 0 {
		return "?"
	}
	return rs[0].Key
}

func TestTrustHarmlessReformat(t *testing.T) {
	f := newTrustFixture(t)
	orig, _ := os.ReadFile(f.recipientsPath())
	// Blank lines and trailing spaces change the bytes, not the set.
	if err := os.WriteFile(f.recipientsPath(), append([]byte("\n\n"), strings.ReplaceAll(string(orig), "\n", "  \n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.set("x", "sk-test-FAKE-x"); err != nil {
		t.Fatal(err)
	}
}

func TestTrustNoRecordAndDamagedRecord(t *testing.T) {
	for _, damage := range []func(p string) error{
		os.Remove,
		func(p string) error { return os.WriteFile(p, []byte("garbage\x00"), 0o600) },
	} {
		f := newTrustFixture(t)
		if err := damage(filepath.Join(f.v.StateDir(), trustedFile)); err != nil {
			t.Fatal(err)
		}
		err := f.set("x", "sk-test-FAKE-x")
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "has not accepted its recipients yet") {
			t.Fatalf("no record: %v", err)
		}
		st, _ := f.v.Trust()
		if err := f.v.Accept(st.Data); err != nil {
			t.Fatal(err)
		}
		if err := f.set("x", "sk-test-FAKE-x"); err != nil {
			t.Fatal(err)
		}
	}
}

// Accept records only what was reviewed: a change slipped in between the
// review and the acceptance is not accepted.
func TestAcceptRefusesChangedFile(t *testing.T) {
	f := newTrustFixture(t)
	bob := newKey(t)
	orig, _ := os.ReadFile(f.recipientsPath())
	os.WriteFile(f.recipientsPath(), append(orig, []byte("\n"+bob.Recipient().String()+"\n")...), 0o600)
	st, _ := f.v.Trust()
	os.WriteFile(f.recipientsPath(), append(orig, []byte("\n"+newKey(t).Recipient().String()+"\n")...), 0o600)
	if err := f.v.Accept(st.Data); err == nil || !strings.Contains(err.Error(), "changed while it was being reviewed") {
		t.Fatalf("accept of a changed file: %v", err)
	}
	if err := f.set("x", "sk-test-FAKE-x"); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("write after refused accept: %v", err)
	}
}

// A recipients file tresor commits itself is trusted; deletes and renames
// (no encryption) are not refused.
func TestTrustCommittedByTresorAndNonEncryptingWrites(t *testing.T) {
	f := newTrustFixture(t)
	if err := f.set("x", "sk-test-FAKE-x"); err != nil {
		t.Fatal(err)
	}
	bob := newKey(t)
	orig, _ := os.ReadFile(f.recipientsPath())
	next := append(orig, []byte("\n# member=bob device=desk\n"+bob.Recipient().String()+"\n")...)
	if err := f.v.Commit(context.Background(), nil, Message{Op: "team-add", Summary: "add bob"},
		gitdb.Signature{Name: "Alice", Email: "alice@example.test"}, gitdb.Change{Path: RecipientsFile, Data: next}); err != nil {
		t.Fatal(err)
	}
	if st, err := f.v.Trust(); err != nil || !st.OK() {
		t.Fatalf("after tresor's own commit: %+v %v", st, err)
	}
	// Untrusted again by hand: removing an entry still works, but a commit
	// of a new recipients file (what team add/rm will do) is refused, so it
	// cannot carry an unreviewed key into the trusted set.
	os.WriteFile(f.recipientsPath(), append(next, []byte("\n# member=mallory device=x\n"+newKey(t).Recipient().String()+"\n")...), 0o600)
	cur, _ := os.ReadFile(f.recipientsPath())
	err := f.v.Commit(context.Background(), nil, Message{Op: "team-add", Summary: "add carol"},
		gitdb.Signature{Name: "Alice", Email: "alice@example.test"}, gitdb.Change{Path: RecipientsFile, Data: append(cur, []byte("\n"+newKey(t).Recipient().String()+"\n")...)})
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "member=mallory") {
		t.Fatalf("recipients commit from an untrusted file: %v", err)
	}
	os.WriteFile(f.recipientsPath(), orig, 0o600)
	if err := f.v.Commit(context.Background(), []Prepared{{Ref: Ref{Scope: GlobalScope, Name: "x"}}}, Message{Op: "rm", Entries: []string{"global/x"}},
		gitdb.Signature{Name: "Alice", Email: "alice@example.test"}); err != nil {
		t.Fatalf("rm while untrusted: %v", err)
	}
}

func TestDiffRecipients(t *testing.T) {
	k := func(key, c string) codec.Recipient { return codec.Recipient{Key: key, Comment: c} }
	old := []codec.Recipient{k("a", "member=a"), k("b", "member=b"), k("c", "")}
	cur := []codec.Recipient{k("c", ""), k("a", "member=a"), k("b", "member=B"), k("d", "x"), k("d", "x")}
	added, removed, relab := diffRecipients(old, cur)
	if len(added) != 1 || added[0].Key != "d" || len(removed) != 0 || len(relab) != 1 || relab[0].Key != "b" {
		t.Fatalf("added %v removed %v relabelled %v", added, removed, relab)
	}
	added, removed, relab = diffRecipients(cur, old)
	if len(added) != 0 || len(removed) != 1 || removed[0].Key != "d" || len(relab) != 1 {
		t.Fatalf("reverse: added %v removed %v relabelled %v", added, removed, relab)
	}
}

// BenchmarkCheckTrust: what the trust check adds to every encrypting write
// (P2 budget for a whole set: 10 ms at 1k entries).
func BenchmarkCheckTrust(b *testing.B) {
	root := b.TempDir()
	kr, err := codec.GenerateIdentity(filepath.Join(root, "id"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := Init(filepath.Join(root, "vault"), InitOptions{Options: Options{Device: "laptop"}, Recipient: kr.Recipient,
		Author: gitdb.Signature{Name: "A", Email: "a@example.test"}})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	for b.Loop() {
		if err := v.checkTrust(); err != nil {
			b.Fatal(err)
		}
	}
}
