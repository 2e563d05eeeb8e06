package gitdb

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// lsFilesMatchesHead checks that the index holds exactly HEAD's files.
func lsFilesMatchesHead(t *testing.T, dir string) {
	t.Helper()
	var idx []string
	for _, l := range strings.Split(strings.TrimSpace(git(t, dir, "ls-files", "-s")), "\n") {
		// "<mode> <hash> <stage>\t<path>" -> "<mode> blob <hash>\t<path>"
		f := strings.Fields(strings.Split(l, "\t")[0])
		idx = append(idx, f[0]+" blob "+f[1]+"\t"+strings.SplitN(l, "\t", 2)[1])
	}
	sort.Strings(idx)
	if got, want := strings.Join(idx, "\n"), strings.Join(lsTree(t, dir, "HEAD"), "\n"); got != want {
		t.Fatalf("index != HEAD\nindex:\n%s\nHEAD:\n%s", got, want)
	}
}

func TestCommitAfterGitCLIAndGC(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "ours 1", put("global/a.age", "a1"), put("projects/p1/b.age", "b1"))
	// The git CLI commits too, builds TREE/UNTR index extensions, and packs
	// everything (objects and refs).
	os.WriteFile(filepath.Join(s.Dir(), "cli.txt"), []byte("from git"), 0o600)
	git(t, s.Dir(), "config", "core.untrackedCache", "true")
	git(t, s.Dir(), "add", "cli.txt")
	git(t, s.Dir(), "commit", "-q", "-m", "cli 1")
	git(t, s.Dir(), "gc", "-q", "--prune=now")
	git(t, s.Dir(), "status", "--porcelain")

	// Load the pack list into the open Store, then repack again behind its
	// back (go-git#2242: stale pack list).
	head, _, _ := s.Head()
	if _, err := s.Files(head); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Dir(), "cli2.txt"), []byte("from git again"), 0o600)
	git(t, s.Dir(), "add", "cli2.txt")
	git(t, s.Dir(), "commit", "-q", "-m", "cli 2")
	git(t, s.Dir(), "gc", "-q", "--prune=now")
	git(t, s.Dir(), "status", "--porcelain")
	if _, err := os.Stat(filepath.Join(s.Dir(), ".git/refs/heads/main")); !os.IsNotExist(err) {
		t.Fatalf("expected main to be packed: %v", err)
	}
	idx, _ := os.ReadFile(filepath.Join(s.Dir(), ".git/index"))
	if !bytes.Contains(idx, []byte("TREE")) || !bytes.Contains(idx, []byte("UNTR")) {
		t.Fatal("git did not write TREE/UNTR extensions; test setup is wrong")
	}

	cliHead := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "HEAD"))
	mustCommit(t, s, "ours 2", put("global/a.age", "a2"), del("projects/p1/b.age"), put("projects/p2/c.age", "c"))
	assertClean(t, s.Dir())
	lsFilesMatchesHead(t, s.Dir())
	if p := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "HEAD^")); p != cliHead {
		t.Fatalf("parent %s, want the CLI's commit %s", p, cliHead)
	}
	if got := git(t, s.Dir(), "show", "HEAD:cli2.txt"); got != "from git again" {
		t.Fatalf("cli2.txt = %q", got)
	}
	// And the git CLI can keep going on top of us.
	os.WriteFile(filepath.Join(s.Dir(), "cli3.txt"), []byte("3"), 0o600)
	git(t, s.Dir(), "add", "cli3.txt")
	git(t, s.Dir(), "commit", "-q", "-m", "cli 3")
	mustCommit(t, s, "ours 3", put("global/a.age", "a3"))
	assertClean(t, s.Dir())
	lsFilesMatchesHead(t, s.Dir())
	if n := strings.TrimSpace(git(t, s.Dir(), "rev-list", "--count", "HEAD")); n != "6" {
		t.Fatalf("%s commits", n)
	}
}

func TestIndexVersions(t *testing.T) {
	for _, v := range []string{"2", "3", "4"} {
		t.Run("v"+v, func(t *testing.T) {
			s := newStore(t)
			mustCommit(t, s, "one", put("global/a.age", "a"), put("global/b.age", "b"), put("projects/x/c.age", "c"))
			git(t, s.Dir(), "update-index", "--index-version", v)
			if v == "3" {
				// skip-worktree needs the extended flags of version 3.
				git(t, s.Dir(), "update-index", "--skip-worktree", "global/b.age")
			}
			mustCommit(t, s, "two", put("global/a.age", "a2"), put("global/aa.age", "new"), del("projects/x/c.age"))
			assertClean(t, s.Dir())
			lsFilesMatchesHead(t, s.Dir())
			data, _ := os.ReadFile(filepath.Join(s.Dir(), ".git/index"))
			if got := fmt.Sprint(data[7]); got != v {
				t.Fatalf("index version became %s", got)
			}
			if v == "3" {
				if out := git(t, s.Dir(), "ls-files", "-v", "global/b.age"); !strings.HasPrefix(out, "S ") {
					t.Fatalf("skip-worktree flag lost: %q", out)
				}
			}
		})
	}
}

func TestIndexMissing(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("global/a.age", "a"), put("global/b.age", "b"))
	os.Remove(filepath.Join(s.Dir(), ".git/index"))
	mustCommit(t, s, "two", put("global/c.age", "c"))
	assertClean(t, s.Dir())
	lsFilesMatchesHead(t, s.Dir())
}

func TestOpenRefusesUnsupported(t *testing.T) {
	t.Run("not a repo", func(t *testing.T) {
		_, err := Open(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "not a git work tree") {
			t.Fatal(err)
		}
	})
	t.Run("bare", func(t *testing.T) {
		d := t.TempDir()
		git(t, d, "init", "-q", "--bare", "b.git")
		_, err := Open(filepath.Join(d, "b.git"))
		if err == nil {
			t.Fatal("opened a bare repo")
		}
	})
	t.Run("extension", func(t *testing.T) {
		s := newStore(t)
		git(t, s.Dir(), "config", "core.repositoryformatversion", "1")
		git(t, s.Dir(), "config", "extensions.worktreeConfig", "true")
		_, err := Open(s.Dir())
		if err == nil || !strings.Contains(err.Error(), "extension") {
			t.Fatal(err)
		}
	})
	t.Run("split index", func(t *testing.T) {
		s := newStore(t)
		mustCommit(t, s, "one", put("a.age", "a"))
		git(t, s.Dir(), "update-index", "--split-index")
		_, err := Open(s.Dir())
		if err == nil || !strings.Contains(err.Error(), "split index") {
			t.Fatal(err)
		}
		git(t, s.Dir(), "config", "core.splitIndex", "true")
		_, err = Open(s.Dir())
		if err == nil || !strings.Contains(err.Error(), "splitIndex") {
			t.Fatal(err)
		}
	})
	t.Run("gitfile", func(t *testing.T) {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, ".git"), []byte("gitdir: /elsewhere\n"), 0o600)
		if _, err := Open(d); err == nil {
			t.Fatal("opened a .git file")
		}
	})
}

// TestSpliceIndexRandom checks the splice against go-git's decoder on
// random update sets, including names longer than the 12-bit length field.
func TestSpliceIndexRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	long := strings.Repeat("l", 250)
	var longPath []string
	for i := 0; i < 20; i++ {
		longPath = append(longPath, long)
	}
	name := func() string {
		switch rng.IntN(10) {
		case 0:
			return strings.Join(longPath, "/") + fmt.Sprint(rng.IntN(3)) // > 4095 bytes
		default:
			return fmt.Sprintf("d%d/e%d.age", rng.IntN(5), rng.IntN(30))
		}
	}
	want := map[string]plumbing.Hash{}
	data := buildIndex(t, nil)
	for round := 0; round < 200; round++ {
		ups := map[string]indexUpdate{}
		for k := rng.IntN(6) + 1; k > 0; k-- {
			p := name()
			if rng.IntN(3) == 0 {
				ups[p] = indexUpdate{path: p, del: true}
				continue
			}
			h := blobHash([]byte(fmt.Sprint(round, p)))
			ups[p] = indexUpdate{path: p, hash: h, mode: 0o100644, st: fileStat{mtimeSec: uint32(round), size: 7, ino: uint32(round)}}
		}
		var list []indexUpdate
		for _, u := range ups {
			list = append(list, u)
			if u.del {
				delete(want, u.path)
			} else {
				want[u.path] = u.hash
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].path < list[j].path })
		p, err := parseIndex(data)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		out, changed := spliceIndex(p, list)
		if !changed {
			continue
		}
		data = out
		idx := &index.Index{}
		if err := index.NewDecoder(bytes.NewReader(data)).Decode(idx); err != nil {
			t.Fatalf("round %d: go-git cannot decode our index: %v", round, err)
		}
		got := map[string]plumbing.Hash{}
		for _, e := range idx.Entries {
			got[e.Name] = e.Hash
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: entries differ\ngot  %v\nwant %v", round, got, want)
		}
		// Applying the same updates again changes nothing.
		p2, _ := parseIndex(data)
		if _, changed := spliceIndex(p2, list); changed {
			t.Fatalf("round %d: re-applying changed the index", round)
		}
	}
}

// buildIndex encodes entries (path -> hash) as a version 2 index.
func buildIndex(t testing.TB, files map[string]plumbing.Hash) []byte {
	idx := &index.Index{Version: 2}
	for p, h := range files {
		idx.Entries = append(idx.Entries, &index.Entry{Name: p, Hash: h, Mode: 0o100644})
	}
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseIndexRejectsCorruption(t *testing.T) {
	files := map[string]plumbing.Hash{"a": blobHash([]byte("a")), "b/c": blobHash([]byte("c"))}
	good := buildIndex(t, files)
	if _, err := parseIndex(good); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(good); i++ {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x40
		if _, err := parseIndex(bad); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	for n := 0; n < len(good); n++ {
		if _, err := parseIndex(good[:n]); err == nil {
			t.Fatalf("truncation to %d bytes went unnoticed", n)
		}
	}
}

func TestIndexLockHeldByGit(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("a.age", "a"))
	head, _, _ := s.Head()
	lock := filepath.Join(s.Dir(), ".git/index.lock")
	os.WriteFile(lock, nil, 0o600)
	unlock, err := s.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Commit([]Change{put("a.age", "b"), put("n.age", "n")}, "blocked", testAuthor)
	unlock()
	if err == nil || !strings.Contains(err.Error(), "index.lock") {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el < gitLockWait || el > gitLockWait+time.Second {
		t.Fatalf("gave up after %v", el)
	}
	// The rollback did not need index.lock (our entries were untouched).
	if _, err := os.Stat(s.journalPath()); !os.IsNotExist(err) {
		t.Fatalf("journal left after the rollback: %v", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatal("git's lock was removed")
	}
	os.Remove(lock)
	if h, _, _ := s.Head(); h != head {
		t.Fatal("HEAD moved")
	}
	// a.age was written and restored while git held the index, so its
	// index stat data is stale (git status refreshes it); content is clean.
	if out := git(t, s.Dir(), "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Fatalf("git status:\n%s", out)
	}
	assertClean(t, s.Dir())
	if got, _ := os.ReadFile(filepath.Join(s.Dir(), "a.age")); string(got) != "a" {
		t.Fatalf("a.age = %q", got)
	}
}
