package gitdb

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func problemSummary(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s fixable=%v: %s", p.Path, p.Fixable, p.Msg))
	}
	sort.Strings(out)
	return out
}

func TestCheckAndFix(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one",
		put("global/a.age", "a"), put("global/b.age", "b"), put("global/c.age", "c"),
		put("projects/p/d.age", "d"), put("projects/p/e.age", "e"), put("projects/p/f.age", "f"))
	if ps, err := s.Check(); err != nil || len(ps) != 0 {
		t.Fatalf("clean vault: %v %v", problemSummary(ps), err)
	}
	d := s.Dir()
	p := func(rel string) string { return filepath.Join(d, rel) }

	// Damage, one kind per file.
	os.Chmod(p("global/a.age"), 0o644)                               // fixable mode
	os.Chmod(p("projects"), 0o755)                                   // fixable dir mode
	os.Remove(p("global/b.age"))                                     // fixable: restore
	os.WriteFile(p("global/c.age"), []byte("edited by hand"), 0o600) // not fixable: would lose data
	os.Symlink("/etc/hostname", p("global/link.age"))                // not fixable
	os.WriteFile(p("staged.age"), []byte("staged"), 0o600)           //
	git(t, d, "add", "staged.age")                                   // fixable: unstage
	git(t, d, "rm", "-q", "--cached", "projects/p/d.age")            // fixable: re-add to index
	os.WriteFile(p(".git/refs/heads/main.lock"), nil, 0o600)         // fresh: not fixable
	os.WriteFile(p(".git/packed-refs.lock"), nil, 0o600)             //
	old := time.Now().Add(-time.Hour)                                //
	os.Chtimes(p(".git/packed-refs.lock"), old, old)                 // stale: fixable
	os.MkdirAll(p(".git/tresor/tmp"), 0o700)                         //
	os.WriteFile(p(".git/tresor/tmp/leftover"), []byte("x"), 0o600)  // fixable
	git(t, d, "update-index", "--chmod=+x", "projects/p/e.age")      // index mode != HEAD: fixable

	ps, err := s.Check()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problemSummary(ps), "\n")
	for _, want := range []string{
		"global/a.age fixable=true: file mode 0644",
		"projects fixable=true: directory mode 0755",
		"global/b.age fixable=true: committed file missing",
		"global/c.age fixable=false: modified in the work tree",
		"global/link.age fixable=false: symlink",
		"staged.age fixable=true: in the index but not committed",
		"projects/p/d.age fixable=true: committed but missing from the index",
		".git/refs/heads/main.lock fixable=false: git lock file",
		".git/packed-refs.lock fixable=true: stale git lock file",
		".git/tresor/tmp/leftover fixable=true",
		"projects/p/e.age fixable=true: the index entry differs from HEAD",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q in:\n%s", want, got)
		}
	}

	fixed, err := s.Fix()
	if err != nil {
		t.Fatalf("Fix: %v (did %v)", err, fixed)
	}
	ps, err = s.Check()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range ps {
		if p.Path == "staged.age" && !strings.Contains(p.Msg, "untracked file") {
			t.Errorf("staged.age after Fix: %s", p.Msg)
		}
		if p.Fixable {
			t.Errorf("still fixable after Fix: %s: %s", p.Path, p.Msg)
		}
		left = append(left, p.Path)
	}
	sort.Strings(left)
	// staged.age was unstaged, not deleted: it is now an untracked file,
	// reported (never committed, never removed).
	if fmt.Sprint(left) != "[.git/refs/heads/main.lock global/c.age global/link.age staged.age]" {
		t.Errorf("left after Fix: %v\nfixed: %v", left, fixed)
	}
	if b, _ := os.ReadFile(p("global/c.age")); string(b) != "edited by hand" {
		t.Error("Fix overwrote an uncommitted edit")
	}
	if b, _ := os.ReadFile(p("staged.age")); string(b) != "staged" {
		t.Error("Fix removed an untracked file")
	}
	// What git sees now: the hand edit, the untracked file and the symlink.
	status := git(t, d, "status", "--porcelain")
	if status != " M global/c.age\n?? global/link.age\n?? staged.age\n" {
		t.Errorf("git status after Fix:\n%s", status)
	}
}

func TestCheckMissingIndex(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("global/a.age", "a"), put("x/b.age", "b"))
	os.Remove(filepath.Join(s.Dir(), ".git/index"))
	ps, _ := s.Check()
	if len(ps) != 1 || ps[0].Path != ".git/index" || !ps[0].Fixable {
		t.Fatalf("%v", problemSummary(ps))
	}
	if _, err := s.Fix(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, s.Dir())
	lsFilesMatchesHead(t, s.Dir())
}
