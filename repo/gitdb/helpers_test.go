package gitdb

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// gitEnv makes the git CLI ignore the machine's and user's configuration.
var gitEnv = append(os.Environ(),
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_CONFIG_GLOBAL=/dev/null",
	"GIT_AUTHOR_NAME=Git CLI", "GIT_AUTHOR_EMAIL=cli@example.invalid",
	"GIT_COMMITTER_NAME=Git CLI", "GIT_COMMITTER_EMAIL=cli@example.invalid",
	"GIT_TERMINAL_PROMPT=0",
	"LC_ALL=C",
)

// git runs the git CLI in dir and returns its stdout; it fails the test on
// a non-zero exit.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = gitEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// gitStdin runs git with stdin.
func gitStdin(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = gitEnv
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var testAuthor = Signature{Name: "Tess Tresor", Email: "tess@example.invalid", When: time.Unix(1767225600, 0).UTC()}

// newStore creates a fresh vault in a temporary directory.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Init(filepath.Join(t.TempDir(), "vault"), "main")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustCommit locks, commits and unlocks.
func mustCommit(t testing.TB, s *Store, msg string, changes ...Change) {
	t.Helper()
	unlock, err := s.Lock(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := s.Commit(changes, msg, testAuthor); err != nil {
		t.Fatal(err)
	}
}

func put(path, data string) Change { return Change{Path: path, Data: []byte(data)} }
func del(path string) Change       { return Change{Path: path, Delete: true} }

// assertClean checks the repository with the git CLI: nothing to commit,
// nothing staged, fsck clean.
func assertClean(t testing.TB, dir string) {
	t.Helper()
	// diff-files compares stat data only: empty output proves the index
	// entries carry the files' real stat data (git will not re-hash).
	if out := git(t, dir, "diff-files", "--name-status"); out != "" {
		t.Fatalf("git diff-files (stat data) not clean:\n%s", out)
	}
	if out := git(t, dir, "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Fatalf("git status not clean:\n%s", out)
	}
	if out := git(t, dir, "diff", "--cached", "--name-status"); out != "" {
		t.Fatalf("git diff --cached not empty:\n%s", out)
	}
	if out, err := gitErr(dir, "fsck", "--strict", "--no-dangling", "--no-progress"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
}

// lsTree returns `git ls-tree -r HEAD` lines, sorted.
func lsTree(t testing.TB, dir, rev string) []string {
	t.Helper()
	out := strings.TrimSpace(git(t, dir, "ls-tree", "-r", rev))
	if out == "" {
		return nil
	}
	lines := strings.Split(out, "\n")
	sort.Strings(lines)
	return lines
}

// worktreeFiles returns path -> content for every file of the work tree
// outside .git.
func worktreeFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() && fi.Name() == ".git" {
			return filepath.SkipDir
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			m[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
