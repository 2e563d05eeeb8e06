package gitdb

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash and concurrency tests re-execute the test binary as a helper
// process (selected by GITDB_HELPER) so they can SIGKILL real writers.
func TestMain(m *testing.M) {
	switch os.Getenv("GITDB_HELPER") {
	case "":
		os.Exit(m.Run())
	case "commit-loop":
		helperCommitLoop()
	case "locked-commits":
		helperLockedCommits()
	case "recover":
		helperRecover()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(2)
	}
	os.Exit(0)
}

func helperFatal(err error) {
	fmt.Fprintln(os.Stderr, "helper:", err)
	os.Exit(3)
}

// crashAt makes the helper SIGKILL itself at a named write point.
func crashAt(point string) {
	if point == "" {
		return
	}
	testHook = func(p string) {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		}
	}
}

// crashPaths are the files the crash helper changes: three directory
// levels, so commits add and remove whole subtrees.
func crashPaths() []string {
	var ps []string
	for d := 0; d < 3; d++ {
		for e := 0; e < 3; e++ {
			for f := 0; f < 5; f++ {
				ps = append(ps, fmt.Sprintf("d%d/e%d/f%d.age", d, e, f))
			}
		}
	}
	return ps
}

// helperCommitLoop commits random changes under the lock, forever, printing
// each new HEAD.
func helperCommitLoop() {
	seed, _ := strconv.ParseUint(os.Getenv("GITDB_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 7))
	s, err := Open(os.Getenv("GITDB_DIR"))
	if err != nil {
		helperFatal(err)
	}
	crashAt(os.Getenv("GITDB_CRASH_AT"))
	fmt.Println("ready")
	paths := crashPaths()
	for n := 0; ; n++ {
		unlock, err := s.Lock(context.Background(), 10*time.Second)
		if err != nil {
			helperFatal(err)
		}
		head, ok, err := s.Head()
		if err != nil {
			helperFatal(err)
		}
		present := map[string]bool{}
		if ok {
			files, err := s.Files(head)
			if err != nil {
				helperFatal(err)
			}
			for p := range files {
				present[p] = true
			}
		}
		var chs []Change
		seen := map[string]bool{}
		for k := rng.IntN(4) + 2; k > 0; k-- {
			p := paths[rng.IntN(len(paths))]
			if seen[p] {
				continue
			}
			seen[p] = true
			if present[p] && rng.IntN(3) == 0 {
				chs = append(chs, del(p))
			} else {
				chs = append(chs, put(p, fmt.Sprintf("seed %d commit %d %s %s", seed, n, p, strings.Repeat("x", rng.IntN(300)))))
			}
		}
		h, err := s.Commit(chs, fmt.Sprintf("crash loop %d", n), testAuthor)
		if err != nil {
			helperFatal(err)
		}
		fmt.Println(h)
		unlock()
	}
}

// helperRecover only takes the lock (which runs Recover).
func helperRecover() {
	s, err := Open(os.Getenv("GITDB_DIR"))
	if err != nil {
		helperFatal(err)
	}
	crashAt(os.Getenv("GITDB_CRASH_AT"))
	unlock, err := s.Lock(context.Background(), 10*time.Second)
	if err != nil {
		helperFatal(err)
	}
	unlock()
}

// helperLockedCommits makes GITDB_N commits of its own files under the lock.
func helperLockedCommits() {
	s, err := Open(os.Getenv("GITDB_DIR"))
	if err != nil {
		helperFatal(err)
	}
	id := os.Getenv("GITDB_ID")
	n, _ := strconv.Atoi(os.Getenv("GITDB_N"))
	for i := 0; i < n; i++ {
		// Generous: on a loaded machine fsync stalls can make 200
		// serialised commits take a while.
		unlock, err := s.Lock(context.Background(), 5*time.Minute)
		if err != nil {
			helperFatal(err)
		}
		// Everyone also rewrites the same file: without the lock, these
		// commits would race on the same trees.
		_, err = s.Commit([]Change{
			put(fmt.Sprintf("w%s/c%d.age", id, i), fmt.Sprintf("writer %s commit %d", id, i)),
			put("shared.age", fmt.Sprintf("last writer %s/%d", id, i)),
		}, fmt.Sprintf("writer %s commit %d", id, i), testAuthor)
		unlock()
		if err != nil {
			helperFatal(err)
		}
	}
}

// helper starts the test binary as a helper process.
func helper(t *testing.T, mode, dir string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"GITDB_HELPER=" + mode, "GITDB_DIR=" + dir}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// verifyRecovered opens the vault after a crash, takes the lock (which
// recovers) and checks that everything is consistent: git status clean,
// fsck clean, the work tree equal to HEAD file by file, no lock, journal
// or temporary file left, and no commit lost (lastSeen, the last commit
// the writer reported, is HEAD or HEAD's parent).
func verifyRecovered(t *testing.T, dir, lastSeen string) (repaired []string) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, err := s.Lock(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatalf("Lock after crash: %v", err)
	}
	repaired = s.Recovered()
	unlock()
	if out := git(t, dir, "diff-files", "--name-status"); out != "" {
		t.Fatalf("git diff-files after recovery (stale stat data, repaired %q):\n%s", repaired, out)
	}
	if out := git(t, dir, "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Fatalf("git status after recovery (repaired %q):\n%s", repaired, out)
	}
	if out, err := gitErr(dir, "fsck", "--strict", "--no-dangling", "--no-progress"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("git fsck after recovery: %v\n%s", err, out)
	}
	for _, f := range []string{".git/index.lock", ".git/refs/heads/main.lock", ".git/tresor/journal"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			t.Fatalf("%s left behind", f)
		}
	}
	if des, _ := os.ReadDir(filepath.Join(dir, ".git/tresor/tmp")); len(des) != 0 {
		t.Fatalf("temporary files left: %v", des)
	}
	head, ok, err := s.Head()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	files, err := s.Files(head)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for p := range files {
		b, _, err := s.ReadBlob(head, p)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = string(b)
	}
	got := worktreeFiles(t, dir)
	if len(got) != len(want) {
		t.Fatalf("work tree has %d files, HEAD %d", len(got), len(want))
	}
	for p, w := range want {
		if got[p] != w {
			t.Fatalf("%s: work tree %q, HEAD %q", p, got[p], w)
		}
		if fi, _ := os.Lstat(filepath.Join(dir, p)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v", p, fi.Mode())
		}
	}
	if lastSeen != "" {
		out := strings.Fields(git(t, dir, "rev-list", "--left-right", "--count", lastSeen+"...HEAD"))
		if out[0] != "0" || (out[1] != "0" && out[1] != "1") {
			t.Fatalf("last reported commit %s vs HEAD: behind/ahead %v (a commit was lost)", lastSeen, out)
		}
	}
	return repaired
}

// runUntilKilled starts the commit loop and SIGKILLs it after delay (or
// waits for it to kill itself at a crash point). It returns the last commit
// the helper reported.
func runUntilKilled(t *testing.T, dir string, seed int, delay time.Duration, crashPoint string) string {
	t.Helper()
	cmd := helper(t, "commit-loop", dir, fmt.Sprintf("GITDB_SEED=%d", seed), "GITDB_CRASH_AT="+crashPoint)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	last := ""
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			mu.Lock()
			last = line
			mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("helper did not start")
	}
	if crashPoint == "" {
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
	}
	<-done
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die by SIGKILL: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return last
}

func newCrashVault(t *testing.T) string {
	s := newStore(t)
	var chs []Change
	for i, p := range crashPaths() {
		if i%2 == 0 {
			chs = append(chs, put(p, "initial "+p))
		}
	}
	mustCommit(t, s, "initial", chs...)
	s.Close()
	return s.Dir()
}

// TestCrashSafetySIGKILL kills a writer at random moments, 100 times, and
// checks after each kill that the next Lock recovers a consistent vault.
func TestCrashSafetySIGKILL(t *testing.T) {
	dir := newCrashVault(t)
	rng := rand.New(rand.NewPCG(42, 42))
	last := ""
	kinds := map[string]int{}
	for i := 0; i < 100; i++ {
		delay := time.Duration(rng.IntN(25000)) * time.Microsecond
		if l := runUntilKilled(t, dir, i, delay, ""); l != "" {
			last = l
		}
		repaired := verifyRecovered(t, dir, last)
		switch {
		case len(repaired) == 0:
			kinds["nothing to recover"]++
		case strings.Contains(strings.Join(repaired, "\n"), "restored") || strings.Contains(strings.Join(repaired, "\n"), "removed "):
			kinds["work tree repaired"]++
		default:
			kinds["index/locks repaired"]++
		}
		head := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
		last = head
	}
	t.Logf("100 kills: %v", kinds)
}

// TestCrashAtEveryPoint crashes a commit at each write point, then crashes
// the recovery itself, and checks the outcome each time.
func TestCrashAtEveryPoint(t *testing.T) {
	dir := newCrashVault(t)
	points := []string{"journaled", "objects", "worktree-partial", "worktree", "index-locked", "ref-locked", "ref-moved", "index-moved"}
	for i, p := range points {
		before := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
		runUntilKilled(t, dir, 1000+i, 0, p)
		after := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
		moved := before != after
		if want := p == "ref-moved" || p == "index-moved"; moved != want {
			t.Fatalf("crash at %s: HEAD moved=%v", p, moved)
		}
		verifyRecovered(t, dir, before)

		// Now crash the recovery of such a crash, then recover for real.
		runUntilKilled(t, dir, 2000+i, 0, p)
		for _, rp := range []string{"sync-worktree", "sync-index-locked"} {
			cmd := helper(t, "recover", dir, "GITDB_CRASH_AT="+rp)
			cmd.Run()
		}
		verifyRecovered(t, dir, "")
	}
}

// TestConcurrentWriters runs 8 processes making 25 commits each under the
// lock: exactly 200 new commits, none lost.
func TestConcurrentWriters(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "initial", put("shared.age", "0"))
	const procs, each = 8, 25
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		cmd := helper(t, "locked-commits", s.Dir(), fmt.Sprintf("GITDB_ID=%d", i), fmt.Sprintf("GITDB_N=%d", each))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if n := strings.TrimSpace(git(t, s.Dir(), "rev-list", "--count", "HEAD")); n != strconv.Itoa(procs*each+1) {
		t.Fatalf("%s commits, want %d", n, procs*each+1)
	}
	assertClean(t, s.Dir())
	lsFilesMatchesHead(t, s.Dir())
	head, _, _ := s.Head()
	files, err := s.Files(head)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < procs; i++ {
		for j := 0; j < each; j++ {
			p := fmt.Sprintf("w%d/c%d.age", i, j)
			if _, ok := files[p]; !ok {
				t.Fatalf("%s missing", p)
			}
		}
	}
}

// TestSettleBeforeRead: a writer killed after it wrote the work tree but
// before it moved the branch leaves uncommitted files behind. A reader that
// settles first sees HEAD's content, never the value that did not land
// (and that the next writer would roll back under it).
func TestSettleBeforeRead(t *testing.T) {
	dir := newCrashVault(t)
	before := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
	runUntilKilled(t, dir, 77, 0, "worktree")
	if _, err := os.Lstat(filepath.Join(dir, ".git/tresor/journal")); err != nil {
		t.Fatalf("the crash left no journal: %v", err)
	}
	if out := git(t, dir, "status", "--porcelain", "--untracked-files=all"); out == "" {
		t.Fatal("the crash left the work tree clean: the test exercises nothing")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	repaired, err := s.Settle(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(repaired) == 0 {
		t.Error("Settle reported no repair")
	}
	if out := git(t, dir, "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Fatalf("work tree after Settle:\n%s", out)
	}
	if after := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")); after != before {
		t.Fatalf("HEAD moved from %s to %s", before, after)
	}
	// Nothing pending: Settle is a no-op and takes no lock.
	if again, err := s.Settle(context.Background(), 0); err != nil || len(again) != 0 {
		t.Fatalf("second Settle: %q, %v", again, err)
	}
}
