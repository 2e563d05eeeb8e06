package gitdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mirror applies the same changes with the git CLI in a plain repository, so
// that tree hashes can be compared with what git itself produces.
type mirror struct {
	t   testing.TB
	dir string
}

func newMirror(t testing.TB) *mirror {
	dir := filepath.Join(t.TempDir(), "mirror")
	git(t, ".", "init", "-q", "-b", "main", dir)
	return &mirror{t, dir}
}

func (m *mirror) apply(changes ...Change) string {
	for _, c := range changes {
		p := filepath.Join(m.dir, filepath.FromSlash(c.Path))
		if c.Delete {
			if err := os.Remove(p); err != nil {
				m.t.Fatal(err)
			}
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, c.Data, 0o600); err != nil {
			m.t.Fatal(err)
		}
	}
	git(m.t, m.dir, "add", "-A")
	git(m.t, m.dir, "commit", "-q", "--allow-empty", "-m", "x")
	return strings.TrimSpace(git(m.t, m.dir, "rev-parse", "HEAD^{tree}"))
}

func TestCommitAddModifyDelete(t *testing.T) {
	s := newStore(t)
	m := newMirror(t)
	steps := []struct {
		msg     string
		changes []Change
	}{
		{"add", []Change{put("global/openai.age", "v1"), put("projects/p1/a/b/deep.age", "deep"), put("top.age", "top"), put("projects/p1-x.age", "sibling sorts around p1/")}},
		{"modify", []Change{put("global/openai.age", "v2"), put("projects/p1/a/b/deep.age", "deeper")}},
		{"add more", []Change{put("projects/p1/a/c.age", "c"), put("projects/p10/z.age", "z"), put("projects/p1.age", "file next to dir")}},
		{"delete nested", []Change{del("projects/p1/a/b/deep.age")}},
		{"mixed", []Change{del("top.age"), put("global/new.age", "n"), put("projects/p1/a/c.age", "c2")}},
		{"delete dir contents", []Change{del("projects/p1/a/c.age"), del("projects/p10/z.age")}},
		{"binary", []Change{put("global/bin.age", "\x00\x01\xff\r\n\x00")}},
	}
	for i, st := range steps {
		msg := fmt.Sprintf("%s\n\nTresor-Op: set\nTresor-Step: %d", st.msg, i)
		unlock, err := s.Lock(context.Background(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Commit(st.changes, msg, testAuthor)
		unlock()
		if err != nil {
			t.Fatalf("step %q: %v", st.msg, err)
		}
		assertClean(t, s.Dir())
		if got := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "HEAD")); got != h.String() {
			t.Fatalf("HEAD = %s, Commit returned %s", got, h)
		}
		if n := strings.TrimSpace(git(t, s.Dir(), "rev-list", "--count", "HEAD")); n != strconv.Itoa(i+1) {
			t.Fatalf("step %q: %s commits, want %d", st.msg, n, i+1)
		}
		if got := git(t, s.Dir(), "log", "-1", "--format=%an <%ae> %at|%cn <%ce> %ct|%B"); got != fmt.Sprintf("Tess Tresor <tess@example.invalid> 1767225600|Tess Tresor <tess@example.invalid> 1767225600|%s\n\n", msg) {
			t.Fatalf("log: %q", got)
		}
		want := m.apply(st.changes...)
		if got := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "HEAD^{tree}")); got != want {
			t.Fatalf("step %q: tree %s, git builds %s\nours:\n%s\ngit:\n%s", st.msg, got, want,
				strings.Join(lsTree(t, s.Dir(), "HEAD"), "\n"), strings.Join(lsTree(t, m.dir, "HEAD"), "\n"))
		}
		// The work tree holds exactly the committed files.
		files := worktreeFiles(t, s.Dir())
		mfiles := worktreeFiles(t, m.dir)
		if fmt.Sprint(files) != fmt.Sprint(mfiles) {
			t.Fatalf("step %q: work tree %v, want %v", st.msg, files, mfiles)
		}
	}
	// Emptied directories are gone; modes are private.
	if _, err := os.Lstat(filepath.Join(s.Dir(), "projects/p1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("projects/p1 should have been removed: %v", err)
	}
	fi, _ := os.Lstat(filepath.Join(s.Dir(), "global/new.age"))
	di, _ := os.Lstat(filepath.Join(s.Dir(), "global"))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes: file %v dir %v", fi.Mode(), di.Mode())
	}
	// git reflog works.
	if n := len(strings.Split(strings.TrimSpace(git(t, s.Dir(), "reflog", "main")), "\n")); n != len(steps) {
		t.Errorf("reflog has %d entries, want %d", n, len(steps))
	}
	if out := git(t, s.Dir(), "reflog", "-1", "HEAD"); !strings.Contains(out, "commit: binary") {
		t.Errorf("reflog HEAD: %q", out)
	}
}

func TestCommitDeleteEverything(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("a/b.age", "x"))
	mustCommit(t, s, "none", del("a/b.age"))
	assertClean(t, s.Dir())
	if tr := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "HEAD^{tree}")); tr != emptyTree.String() {
		t.Fatalf("tree %s", tr)
	}
	mustCommit(t, s, "again", put("a/b.age", "y"))
	assertClean(t, s.Dir())
}

func TestCommitRejects(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("a/b.age", "x"), put("f.age", "f"))
	head, _, _ := s.Head()
	bad := [][]Change{
		nil,
		{put("", "x")},
		{put("/abs", "x")},
		{put("a/../x", "x")},
		{put("a//x", "x")},
		{put(".git/config", "x")},
		{put("a/.GIT/x", "x")},
		{put("a/x\n", "x")},
		{put("x", "1"), put("x", "2")},
		{put("d", "1"), put("d/e", "2")},
		{del("missing.age")},
		{put("a", "file over dir")},
		{put("f.age/x", "dir over file")},
	}
	for _, chs := range bad {
		unlock, _ := s.Lock(context.Background(), time.Second)
		_, err := s.Commit(chs, "bad", testAuthor)
		unlock()
		if err == nil {
			t.Errorf("Commit(%v) succeeded", chs)
		}
	}
	for _, sig := range []Signature{{}, {Name: "a<b", Email: "x@y"}, {Name: "n", Email: "x\n@y"}} {
		if _, err := s.Commit([]Change{put("ok", "1")}, "bad sig", sig); err == nil {
			t.Errorf("signature %+v accepted", sig)
		}
	}
	if _, err := s.Commit([]Change{put("ok", "1")}, "  \n", testAuthor); err == nil {
		t.Error("empty message accepted")
	}
	if h, _, _ := s.Head(); h != head {
		t.Fatal("a rejected commit moved HEAD")
	}
	assertClean(t, s.Dir())
	if _, err := os.Lstat(s.journalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("journal left behind")
	}
}

func TestFirstCommitUnbornAndHead(t *testing.T) {
	s := newStore(t)
	if _, ok, err := s.Head(); ok || err != nil {
		t.Fatalf("Head on unborn branch: ok=%v err=%v", ok, err)
	}
	if b, err := s.Branch(); b != "main" || err != nil {
		t.Fatalf("Branch = %q, %v", b, err)
	}
	for _, d := range []string{s.Dir(), filepath.Join(s.Dir(), ".git")} {
		fi, _ := os.Stat(d)
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v", d, fi.Mode())
		}
	}
	mustCommit(t, s, "first", put("x.age", "1"))
	h, ok, err := s.Head()
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if parents := strings.TrimSpace(git(t, s.Dir(), "rev-list", "--parents", "-1", "HEAD")); parents != h.String() {
		t.Fatalf("first commit has parents: %q", parents)
	}
	assertClean(t, s.Dir())
	if out := git(t, s.Dir(), "reflog", "-1", "main"); !strings.Contains(out, "commit (initial): first") {
		t.Errorf("reflog: %q", out)
	}
}

func TestCommitSymlinkRefused(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("global/a.age", "a"))
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "projects")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "f"), filepath.Join(s.Dir(), "global", "link.age")); err != nil {
		t.Fatal(err)
	}
	head, _, _ := s.Head()
	for _, chs := range [][]Change{
		{put("projects/p1/x.age", "x")},
		{put("global/link.age", "x")},
		{put("global/ok.age", "fine"), put("projects/x.age", "x")},
		{del("global/link.age")},
	} {
		unlock, _ := s.Lock(context.Background(), time.Second)
		_, err := s.Commit(chs, "via symlink", testAuthor)
		unlock()
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("Commit(%v): %v", chs, err)
		}
	}
	if h, _, _ := s.Head(); h != head {
		t.Fatal("HEAD moved")
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Fatalf("wrote through the symlink: %v", des)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir(), "global/ok.age")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("partial change left in the work tree")
	}
}

// TestRaceWithoutLock runs two Stores committing at once without taking
// the vault lock: the ref compare-and-swap must make the loser fail
// cleanly, and no successful commit may be lost.
func TestRaceWithoutLock(t *testing.T) {
	a := newStore(t)
	mustCommit(t, a, "init", put("shared.age", "0"))
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type result struct {
		hashes []string
		lost   int
		err    error
	}
	run := func(s *Store, name string, out chan<- result) {
		var r result
		for i := 0; i < 40; i++ {
			h, err := s.Commit([]Change{
				put(fmt.Sprintf("%s/%d.age", name, i), "x"),
				put("shared.age", fmt.Sprintf("%s %d", name, i)),
			}, fmt.Sprintf("%s %d", name, i), testAuthor)
			switch {
			case err == nil:
				r.hashes = append(r.hashes, h.String())
			case errors.Is(err, ErrConcurrentUpdate), errors.Is(err, ErrGitLocked):
				r.lost++
			default:
				r.err = err
				out <- r
				return
			}
		}
		out <- r
	}
	ch := make(chan result, 2)
	go run(a, "a", ch)
	go run(b, "b", ch)
	r1, r2 := <-ch, <-ch
	if r1.err != nil || r2.err != nil {
		t.Fatal(r1.err, r2.err)
	}
	ok := append(r1.hashes, r2.hashes...)
	t.Logf("succeeded %d, refused %d", len(ok), r1.lost+r2.lost)
	if n := strings.TrimSpace(git(t, a.Dir(), "rev-list", "--count", "HEAD")); n != strconv.Itoa(len(ok)+1) {
		t.Fatalf("%s commits in history, %d succeeded", n, len(ok))
	}
	for _, h := range ok {
		if _, err := gitErr(a.Dir(), "merge-base", "--is-ancestor", h, "HEAD"); err != nil {
			t.Fatalf("commit %s was lost", h)
		}
	}
	if out, err := gitErr(a.Dir(), "fsck", "--strict", "--no-dangling", "--no-progress"); err != nil {
		t.Fatalf("fsck: %v %s", err, out)
	}
}
