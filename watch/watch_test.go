package watch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/renameio/v2"
)

// waitFor bounds every wait; tests never assert on durations.
const waitFor = 30 * time.Second

// seen accumulates the batches a test received.
type seen struct {
	batches []Change
	paths   map[string]int // path -> index of the first batch naming it
	refs    bool
	rescan  bool
}

func (s *seen) has(paths ...string) bool {
	for _, p := range paths {
		if _, ok := s.paths[p]; !ok {
			return false
		}
	}
	return true
}

// collect receives batches until done reports true, failing after waitFor.
func collect(t testing.TB, w *Watcher, done func(*seen) bool) *seen {
	t.Helper()
	s := &seen{paths: map[string]int{}}
	deadline := time.After(waitFor)
	for !done(s) {
		select {
		case c, ok := <-w.Changes():
			if !ok {
				t.Fatalf("Changes closed; got %d batches", len(s.batches))
			}
			if !slices.IsSorted(c.Paths) || len(slices.Compact(slices.Clone(c.Paths))) != len(c.Paths) {
				t.Fatalf("paths not sorted and unique: %q", c.Paths)
			}
			s.batches = append(s.batches, c)
			for _, p := range c.Paths {
				if _, ok := s.paths[p]; !ok {
					s.paths[p] = len(s.batches) - 1
				}
			}
			s.refs = s.refs || c.Refs
			s.rescan = s.rescan || c.Rescan
		case <-deadline:
			t.Fatalf("timed out; got %d batches, paths %v, refs %v, rescan %v", len(s.batches), keys(s.paths), s.refs, s.rescan)
		}
	}
	return s
}

func keys(m map[string]int) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	slices.Sort(k)
	if len(k) > 20 {
		k = append(k[:20], fmt.Sprintf("... (%d)", len(k)))
	}
	return k
}

func start(t testing.TB, root string, o Options) *Watcher {
	t.Helper()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	w, err := New(root, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t testing.TB, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t testing.TB, root, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(rel)), 0o700); err != nil {
		t.Fatal(err)
	}
}

// only asserts that the batches named no paths but want. Callers end
// their sequence with a sentinel write and collect until it is seen:
// inotify delivers events in order, so nothing earlier can still come.
func only(t *testing.T, s *seen, want ...string) {
	t.Helper()
	got := keys(s.paths)
	if !slices.Equal(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	if s.rescan {
		t.Fatal("unexpected Rescan")
	}
}

func TestCreateModifyRemoveRename(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "old/dir")
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"create", func() { write(t, root, "a.age", "1") }, []string{"a.age"}},
		{"modify", func() { write(t, root, "a.age", "2") }, []string{"a.age"}},
		{"create in existing dir", func() { write(t, root, "old/dir/b.age", "1") }, []string{"old/dir/b.age"}},
		{"rename", func() {
			if err := os.Rename(filepath.Join(root, "a.age"), filepath.Join(root, "old/c.age")); err != nil {
				t.Fatal(err)
			}
		}, []string{"a.age", "old/c.age"}},
		{"remove", func() {
			if err := os.Remove(filepath.Join(root, "old/c.age")); err != nil {
				t.Fatal(err)
			}
		}, []string{"old/c.age"}},
	}
	for i, st := range steps {
		st.do()
		sentinel := fmt.Sprintf("sentinel-%d", i)
		write(t, root, sentinel, "")
		s := collect(t, w, func(s *seen) bool { return s.has(sentinel) })
		only(t, s, append(slices.Clone(st.want), sentinel)...)
		if s.refs {
			t.Errorf("%s: Refs set without a git change", st.name)
		}
	}
}

func TestAtomicRenameOverSave(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "scope")
	write(t, root, "scope/x.age", "old")
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	// renameio: ".x.age<digits>" beside the target, then rename over it.
	if err := renameio.WriteFile(filepath.Join(root, "scope/x.age"), []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	// VS Code ("x.vsctmp"), JetBrains ("x___jb_tmp___") and os.CreateTemp
	// (".x-<digits>") style writers.
	for _, tmp := range []string{"scope/x.age.vsctmp", "scope/x.age___jb_tmp___", "scope/.x.age-2871623407"} {
		write(t, root, tmp, "new")
		if err := os.Rename(filepath.Join(root, tmp), filepath.Join(root, "scope/x.age")); err != nil {
			t.Fatal(err)
		}
	}
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	only(t, s, "scope/x.age", "sentinel")
}

func TestVimSaveSequence(t *testing.T) {
	root := t.TempDir()
	write(t, root, "x.age", "old")
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	// vim with backupcopy=no: swap file, probe file 4913, rename the
	// original to the backup x~, write x anew, remove backup and swap.
	write(t, root, ".x.age.swp", "swap")
	write(t, root, ".x.age.swx", "probe")
	write(t, root, "4913", "")
	os.Remove(filepath.Join(root, "4913"))
	if err := os.Rename(filepath.Join(root, "x.age"), filepath.Join(root, "x.age~")); err != nil {
		t.Fatal(err)
	}
	write(t, root, "x.age", "new")
	os.Remove(filepath.Join(root, "x.age~"))
	os.Remove(filepath.Join(root, ".x.age.swp"))
	// emacs auto-save and lock files.
	write(t, root, "#x.age#", "")
	if err := os.Symlink("user@host.1234", filepath.Join(root, ".#x.age")); err != nil {
		t.Fatal(err)
	}
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	only(t, s, "sentinel", "x.age")
}

func TestNewNestedDirectories(t *testing.T) {
	root := t.TempDir()
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	// mkdir -p and an immediate write, before the watcher can have added
	// the new directories: the scan of each new directory must find them.
	var want []string
	for i := range 20 {
		d := fmt.Sprintf("n%d/b/c", i)
		mkdir(t, root, d)
		write(t, root, d+"/f.age", "1")
		want = append(want, d+"/f.age")
	}
	deep := "d/" + strings.Repeat("x/", 12) + "f.age"
	mkdir(t, root, filepath.Dir(deep))
	write(t, root, deep, "1")
	want = append(want, deep)
	s := collect(t, w, func(s *seen) bool { return s.has(want...) })

	// The new directories are watched: a later write in each is seen.
	for i := range 20 {
		write(t, root, fmt.Sprintf("n%d/b/c/g.age", i), "2")
	}
	s = collect(t, w, func(s *seen) bool { return s.has("n19/b/c/g.age") })
	if !s.has("n0/b/c/g.age", "n10/b/c/g.age") {
		t.Fatalf("missing writes in new directories: %v", keys(s.paths))
	}
}

func TestRemovedDirectoryDroppedAndRecreated(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "d/e")
	write(t, root, "d/e/f.age", "1")
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}
	s := collect(t, w, func(s *seen) bool { return s.has("d/e/f.age") })
	if s.rescan {
		t.Fatal("rm -rf needs no rescan: every file's removal has an event")
	}
	mkdir(t, root, "d/e")
	write(t, root, "d/e/g.age", "1")
	collect(t, w, func(s *seen) bool { return s.has("d/e/g.age") })
	write(t, root, "d/e/h.age", "1")
	collect(t, w, func(s *seen) bool { return s.has("d/e/h.age") })

	w.Close()
	// After Close the loop is gone, so its state can be read.
	for d := range w.dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("watch of a removed directory kept: %s", d)
		}
	}
}

func TestRenamedDirectory(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "a/c")
	write(t, root, "a/c/f.age", "1")
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	if err := os.Rename(filepath.Join(root, "a"), filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	collect(t, w, func(s *seen) bool { return s.rescan })
	// The old watches are gone: a write below the new name is reported
	// under the new name, never the stale one.
	write(t, root, "b/c/g.age", "1")
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	for p := range s.paths {
		// b/c/f.age too, if the scan of the new name missed the rescan batch.
		if p != "b/c/g.age" && p != "b/c/f.age" && p != "sentinel" {
			t.Errorf("unexpected path %s", p)
		}
	}
	if !s.has("b/c/g.age") {
		t.Errorf("write below the renamed directory not reported: %v", keys(s.paths))
	}
}

func TestIgnoreOption(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "skip")
	w := start(t, root, Options{
		Debounce: 20 * time.Millisecond,
		Ignore: func(rel string, isDir bool) bool {
			return isDir && (rel == "skip" || rel == "later") || strings.HasSuffix(rel, ".bak")
		},
	})
	write(t, root, "skip/a.age", "1")
	mkdir(t, root, "later")
	write(t, root, "later/b.age", "1")
	write(t, root, "c.bak", "1")
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	only(t, s, "sentinel")
}

// gitRepo makes a real git repository with one commit.
func gitRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	gitRun(t, root, "init", "-q", "-b", "main")
	write(t, root, "a.age", "1")
	gitRun(t, root, "add", "a.age")
	gitRun(t, root, "commit", "-q", "-m", "first")
	return root
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestGitCommitReportsRefs(t *testing.T) {
	root := gitRepo(t)
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	write(t, root, "b.age", "1")
	gitRun(t, root, "add", "b.age")
	gitRun(t, root, "commit", "-q", "-m", "second")
	s := collect(t, w, func(s *seen) bool { return s.refs })
	for p := range s.paths {
		if strings.HasPrefix(p, ".git") {
			t.Errorf(".git internals reported: %s", p)
		}
	}

	// A branch in a new ref directory, then a commit on it: only the ref
	// file in the new directory changes, so it must be watched.
	gitRun(t, root, "checkout", "-q", "-b", "feature/x")
	collect(t, w, func(s *seen) bool { return s.refs })
	write(t, root, "sentinel-1", "")
	collect(t, w, func(s *seen) bool { return s.has("sentinel-1") })
	gitRun(t, root, "commit", "-q", "--allow-empty", "-m", "third")
	collect(t, w, func(s *seen) bool { return s.refs })

	// packed-refs (git pack-refs) counts too.
	write(t, root, "sentinel-2", "")
	collect(t, w, func(s *seen) bool { return s.has("sentinel-2") })
	gitRun(t, root, "pack-refs", "--all")
	collect(t, w, func(s *seen) bool { return s.refs })
	write(t, root, "sentinel-2b", "") // drain pack-refs' later ref removals
	collect(t, w, func(s *seen) bool { return s.has("sentinel-2b") })

	// index and object churn alone (git add) is not a ref change.
	write(t, root, "c.age", "1")
	gitRun(t, root, "add", "c.age")
	write(t, root, "sentinel-3", "")
	s = collect(t, w, func(s *seen) bool { return s.has("sentinel-3") })
	if s.refs {
		t.Error("git add reported as a ref change")
	}
	only(t, s, "c.age", "sentinel-3")
}

func TestGitInitAfterStart(t *testing.T) {
	root := t.TempDir()
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})
	gitRun(t, root, "init", "-q", "-b", "main")
	collect(t, w, func(s *seen) bool { return s.refs })
	write(t, root, "sentinel", "")
	collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	gitRun(t, root, "commit", "-q", "--allow-empty", "-m", "first")
	collect(t, w, func(s *seen) bool { return s.refs })
}

func TestTresorState(t *testing.T) {
	root := gitRepo(t)
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})

	// .git/tresor appears after the watcher started.
	st := filepath.Join(root, ".git", "tresor")
	mkdir(t, st, "tmp")
	if err := renameio.WriteFile(filepath.Join(st, "clients.yaml"), []byte("clients: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	collect(t, w, func(s *seen) bool { return s.has(clientsPath) })

	// A revocation rewrites it; the read log, journal and temp files are
	// never reported (the log is appended on every read).
	if err := renameio.WriteFile(filepath.Join(st, "clients.yaml"), []byte("clients: [x]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f, err := os.OpenFile(filepath.Join(st, "access.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("{}\n")
		f.Close()
	}
	write(t, st, "journal", "{}")
	write(t, st, "tmp/x.index", "")
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	only(t, s, clientsPath, "sentinel")
}

func TestFlood(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "existing")
	w := start(t, root, Options{})

	// Like a checkout: 5,000 files, half in 50 new directories.
	var want []string
	for i := range 5000 {
		var rel string
		if i%2 == 0 {
			rel = fmt.Sprintf("existing/f%04d.age", i)
		} else {
			d := fmt.Sprintf("new%02d", i%100/2)
			if i < 100 {
				mkdir(t, root, d)
			}
			rel = fmt.Sprintf("%s/f%04d.age", d, i)
		}
		write(t, root, rel, "x")
		want = append(want, rel)
	}
	s := collect(t, w, func(s *seen) bool { return s.rescan || s.has(want...) })
	t.Logf("5000 files: %d batches, rescan %v", len(s.batches), s.rescan)
	if len(s.batches) > 30 {
		t.Fatalf("a flood of 5000 files gave %d batches", len(s.batches))
	}
	if !s.rescan && len(s.paths) != len(want) {
		t.Fatalf("got %d paths, want %d", len(s.paths), len(want))
	}
}

func TestDebounceCoalesces(t *testing.T) {
	root := t.TempDir()
	// MaxWait cannot fire here: only the quiet period ends a batch.
	w := start(t, root, Options{Debounce: 300 * time.Millisecond, MaxWait: time.Hour})
	for i := range 200 {
		write(t, root, "same.age", fmt.Sprint(i))
	}
	for i := range 50 {
		write(t, root, fmt.Sprintf("f%02d.age", i), "x")
	}
	s := collect(t, w, func(s *seen) bool { return s.has("same.age", "f49.age") })
	if len(s.batches) > 3 {
		t.Fatalf("250 writes in a burst gave %d batches", len(s.batches))
	}
}

func TestMaxWaitUnderSteadyStream(t *testing.T) {
	root := t.TempDir()
	// The quiet period never elapses (an hour): only MaxWait can flush.
	w := start(t, root, Options{Debounce: time.Hour, MaxWait: 100 * time.Millisecond})

	stop := make(chan struct{})
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			write(t, root, fmt.Sprintf("s%06d", i), "")
			written.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	})
	s := collect(t, w, func(s *seen) bool { return len(s.batches) >= 3 })
	close(stop)
	wg.Wait()
	// Batches come in order: every path of a batch was written no later
	// than every path of the next one (a file's create and write events
	// may straddle two batches).
	last := ""
	for i, c := range s.batches {
		if len(c.Paths) == 0 {
			t.Fatalf("batch %d is empty", i)
		}
		if c.Paths[0] < last {
			t.Fatalf("batch %d starts at %s, not after %s", i, c.Paths[0], last)
		}
		last = c.Paths[len(c.Paths)-1]
	}
	t.Logf("%d files written while 3 batches arrived", written.Load())
}

func TestCloseIsPromptIdempotentAndLeakFree(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		root := t.TempDir()
		mkdir(t, root, "a/b")
		w, err := New(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Leave a batch waiting for a consumer that never comes.
		write(t, root, "a/b/x", "1")
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if err := w.Close(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for range w.Changes() {
		}
	}
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewErrors(t *testing.T) {
	root := t.TempDir()
	write(t, root, "file", "")
	for _, p := range []string{filepath.Join(root, "missing"), filepath.Join(root, "file")} {
		if w, err := New(p, Options{}); err == nil {
			w.Close()
			t.Errorf("New(%s) succeeded", p)
		}
	}
}

func TestSymlinkNotFollowed(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	mkdir(t, outside, "d")
	if err := os.Symlink(filepath.Join(outside, "d"), filepath.Join(root, "early")); err != nil {
		t.Fatal(err)
	}
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})
	if err := os.Symlink(filepath.Join(outside, "d"), filepath.Join(root, "late")); err != nil {
		t.Fatal(err)
	}
	// Writes through the links land outside the root: not ours to report.
	write(t, outside, "d/secret.age", "x")
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	only(t, s, "late", "sentinel")
}

func TestDirectoryMovedIn(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})
	mkdir(t, outside, "s/t")
	write(t, outside, "s/a.age", "1")
	write(t, outside, "s/t/b.age", "1")
	if err := os.Rename(filepath.Join(outside, "s"), filepath.Join(root, "s")); err != nil {
		t.Fatal(err)
	}
	s := collect(t, w, func(s *seen) bool { return s.has("s/a.age", "s/t/b.age") })
	write(t, root, "s/t/c.age", "1")
	collect(t, w, func(s *seen) bool { return s.has("s/t/c.age") })
	if s.rescan {
		t.Error("a directory moved in needs no rescan")
	}
}

func TestGitCheckoutOfManyFiles(t *testing.T) {
	root := gitRepo(t)
	gitRun(t, root, "checkout", "-q", "-b", "big")
	var want []string
	for i := range 1000 {
		rel := fmt.Sprintf("s%02d/e%03d.age", i%20, i)
		mkdir(t, root, filepath.Dir(rel))
		write(t, root, rel, "x")
		want = append(want, rel)
	}
	gitRun(t, root, "add", "-A")
	gitRun(t, root, "commit", "-q", "-m", "big")
	gitRun(t, root, "checkout", "-q", "main")
	w := start(t, root, Options{})

	// Checking out "big" creates 20 directories and 1000 files, and moves HEAD.
	gitRun(t, root, "checkout", "-q", "big")
	s := collect(t, w, func(s *seen) bool { return s.refs && (s.rescan || s.has(want...)) })
	t.Logf("checkout of 1000 files: %d batches, rescan %v", len(s.batches), s.rescan)
	if len(s.batches) > 10 {
		t.Errorf("%d batches for one checkout", len(s.batches))
	}
	for p := range s.paths {
		if strings.HasPrefix(p, ".git/") {
			t.Errorf(".git internals reported: %s", p)
		}
	}
	// And back: every file is removed again.
	gitRun(t, root, "checkout", "-q", "main")
	collect(t, w, func(s *seen) bool { return s.refs && (s.rescan || s.has(want...)) })
}

func TestGitFileOfLinkedWorktree(t *testing.T) {
	root := t.TempDir()
	// A linked worktree's .git is a file; walking must not stop at it.
	write(t, root, ".git", "gitdir: /elsewhere/.git/worktrees/x\n")
	mkdir(t, root, "scope")
	w := start(t, root, Options{Debounce: 20 * time.Millisecond})
	write(t, root, "scope/x.age", "1")
	collect(t, w, func(s *seen) bool { return s.has("scope/x.age") })
}
