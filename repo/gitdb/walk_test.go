package gitdb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// gitLogChanges runs `git log --first-parent` with raw diffs against the
// first parent and returns, newest first, each commit's hash and its
// changes as "path from to" lines (sorted).
func gitLogChanges(t *testing.T, dir string, pathspec ...string) (hashes []string, changes map[string][]string) {
	args := []string{"log", "--first-parent", "--diff-merges=first-parent", "--raw", "--no-abbrev", "--no-renames", "--format=%x00%H"}
	if len(pathspec) > 0 {
		args = append(append(args, "--"), pathspec...)
	}
	out := git(t, dir, args...)
	changes = map[string][]string{}
	for _, rec := range strings.Split(out, "\x00")[1:] {
		lines := strings.Split(strings.TrimSpace(rec), "\n")
		h := lines[0]
		hashes = append(hashes, h)
		var cs []string
		for _, l := range lines[1:] {
			if l == "" {
				continue
			}
			// ":100644 100644 <from> <to> M\tpath"
			meta, path, _ := strings.Cut(l, "\t")
			f := strings.Fields(meta)
			cs = append(cs, path+" "+f[2]+" "+f[3])
		}
		sort.Strings(cs)
		changes[h] = cs
	}
	return hashes, changes
}

func walkChanges(t *testing.T, s *Store, prefix string) (hashes []string, changes map[string][]string, infos []*CommitInfo) {
	changes = map[string][]string{}
	err := s.Walk(prefix, func(ci *CommitInfo) error {
		h := ci.Hash.String()
		hashes = append(hashes, h)
		var cs []string
		for _, c := range ci.Changes {
			cs = append(cs, c.Path+" "+c.From.String()+" "+c.To.String())
		}
		// Our order must already be git's tree order, hence sorted by
		// path with directories as "name/".
		sorted := sort.SliceIsSorted(ci.Changes, func(i, j int) bool {
			return cmpTreeNames(ci.Changes[i].Path, false, ci.Changes[j].Path, false) < 0
		})
		if !sorted {
			t.Errorf("%s: changes not in order: %v", h, cs)
		}
		sort.Strings(cs)
		changes[h] = cs
		infos = append(infos, ci)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hashes, changes, infos
}

// buildHistory makes n commits of random changes in 3-level directories,
// with a few merges (made with git plumbing) along the way.
func buildHistory(t *testing.T, s *Store, n int) {
	rng := rand.New(rand.NewPCG(3, 4))
	present := map[string]bool{}
	pathFor := func() string {
		return fmt.Sprintf("s%d/p%d/d%d/e%d.age", rng.IntN(3), rng.IntN(4), rng.IntN(3), rng.IntN(6))
	}
	for i := 0; i < n; i++ {
		if i > 10 && i%60 == 0 {
			// A merge: a side commit off HEAD~2 adding a file, merged with
			// the side's file in the result.
			base := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "HEAD~2"))
			sideFile := fmt.Sprintf("side/m%d.age", i)
			blob := strings.TrimSpace(gitStdin(t, s.Dir(), "side "+sideFile, "hash-object", "-w", "--stdin"))
			git(t, s.Dir(), "read-tree", base)
			git(t, s.Dir(), "update-index", "--add", "--cacheinfo", "100644,"+blob+","+sideFile)
			sideTree := strings.TrimSpace(git(t, s.Dir(), "write-tree"))
			side := strings.TrimSpace(gitStdin(t, s.Dir(), "side", "commit-tree", sideTree, "-p", base))
			git(t, s.Dir(), "read-tree", "HEAD")
			git(t, s.Dir(), "update-index", "--add", "--cacheinfo", "100644,"+blob+","+sideFile)
			mergeTree := strings.TrimSpace(git(t, s.Dir(), "write-tree"))
			merge := strings.TrimSpace(gitStdin(t, s.Dir(), "merge side\n\nTresor-Op: merge", "commit-tree", mergeTree, "-p", "HEAD", "-p", side))
			git(t, s.Dir(), "update-ref", "HEAD", merge)
			git(t, s.Dir(), "reset", "-q", "--hard")
			continue
		}
		var chs []Change
		seen := map[string]bool{}
		for k := rng.IntN(4) + 1; k > 0; k-- {
			p := pathFor()
			if seen[p] {
				continue
			}
			seen[p] = true
			if present[p] && rng.IntN(3) == 0 {
				chs = append(chs, del(p))
				delete(present, p)
			} else {
				chs = append(chs, put(p, fmt.Sprintf("%d %s", i, p)))
				present[p] = true
			}
		}
		mustCommit(t, s, fmt.Sprintf("commit %d\n\nTresor-Op: set\nTresor-Entry: %s\nTresor-Value-Changed: yes", i, chs[0].Path), chs...)
	}
}

func TestWalkMatchesGitLog(t *testing.T) {
	s := newStore(t)
	buildHistory(t, s, 300)
	wantH, want := gitLogChanges(t, s.Dir())
	gotH, got, infos := walkChanges(t, s, "")
	if len(wantH) < 300 || strings.Join(gotH, ",") != strings.Join(wantH, ",") {
		t.Fatalf("commits: got %d, git %d", len(gotH), len(wantH))
	}
	for _, h := range wantH {
		if strings.Join(got[h], "\n") != strings.Join(want[h], "\n") {
			t.Fatalf("%s:\nwalk:\n%s\ngit:\n%s", h, strings.Join(got[h], "\n"), strings.Join(want[h], "\n"))
		}
	}
	merges := 0
	for _, ci := range infos {
		if ci.Parents == 2 {
			merges++
			if ci.Trailers["Tresor-Op"] != "merge" {
				t.Errorf("merge trailers: %v", ci.Trailers)
			}
		}
		if ci.Author.Name == "" || ci.Author.When.IsZero() {
			t.Errorf("author missing: %+v", ci.Author)
		}
	}
	if merges == 0 {
		t.Fatal("history has no merges")
	}
	if ci := infos[len(infos)-1]; ci.Parents != 0 || ci.Trailers["Tresor-Op"] != "set" || ci.Trailers["Tresor-Value-Changed"] != "yes" {
		t.Fatalf("root commit info: %+v", ci)
	}

	// The same walk after `git gc` (objects in packs, read through go-git
	// from several goroutines).
	git(t, s.Dir(), "gc", "-q", "--prune=now")
	packed, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer packed.Close()
	gotH2, got2, _ := walkChanges(t, packed, "")
	if strings.Join(gotH2, ",") != strings.Join(wantH, ",") || fmt.Sprint(got2) != fmt.Sprint(want) {
		t.Fatal("walk over packed objects differs")
	}

	// Prefix filters: a directory, a deeper directory, a file, nothing.
	head, _, _ := s.Head()
	files, _ := s.Files(head)
	var aFile string
	for p := range files {
		if strings.HasPrefix(p, "s1/") {
			aFile = p
			break
		}
	}
	for _, prefix := range []string{"s1", "s0/p2/", "s2/p1/d0", aFile, "side", "nope/none"} {
		wantH, want := gitLogChanges(t, s.Dir(), strings.TrimSuffix(prefix, "/"))
		gotH, got, _ := walkChanges(t, s, prefix)
		if strings.Join(gotH, ",") != strings.Join(wantH, ",") {
			t.Fatalf("prefix %q: commits got %d, git %d", prefix, len(gotH), len(wantH))
		}
		for _, h := range wantH {
			if strings.Join(got[h], "\n") != strings.Join(want[h], "\n") {
				t.Fatalf("prefix %q %s:\nwalk:\n%s\ngit:\n%s", prefix, h, strings.Join(got[h], "\n"), strings.Join(want[h], "\n"))
			}
		}
	}
}

func TestWalkStopAndErrors(t *testing.T) {
	s := newStore(t)
	if err := s.Walk("", func(*CommitInfo) error { t.Fatal("called on unborn branch"); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		mustCommit(t, s, fmt.Sprint("c", i), put(fmt.Sprintf("a/%d.age", i), "x"))
	}
	n := 0
	err := s.Walk("", func(*CommitInfo) error {
		n++
		if n == 4 {
			return ErrStop
		}
		return nil
	})
	if err != nil || n != 4 {
		t.Fatalf("ErrStop: n=%d err=%v", n, err)
	}
	boom := errors.New("boom")
	if err := s.Walk("", func(*CommitInfo) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if err := s.Walk("../x", func(*CommitInfo) error { return nil }); err == nil {
		t.Fatal("bad prefix accepted")
	}
}

func TestParseTrailers(t *testing.T) {
	cases := []struct {
		msg  string
		want string
	}{
		{"subject only\n", "map[]"},
		{"set x\n\nTresor-Op: set\nTresor-Entry: projects/mercury/openai\n", "map[Tresor-Entry:projects/mercury/openai Tresor-Op:set]"},
		{"set x\n\nbody text here\n\nTresor-Op: rm\r\n", "map[Tresor-Op:rm]"},
		{"set x\n\nnot: a trailer block\nbecause this line is prose\n", "map[]"},
		{"s\n\nKey: a\nKey: b\nLong: first\n  continued\n", "map[Key:a\nb Long:first continued]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(parseTrailers(c.msg)); got != c.want {
			t.Errorf("%q: got %q want %q", c.msg, got, c.want)
		}
	}
}
