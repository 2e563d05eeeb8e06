package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// casesDir is ../shared/cases beside the repository: the real-world inputs
// every test of this package runs on. A missing directory fails the test.
func casesDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "shared", "cases"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Fatalf("shared cases not found at %s: %v", d, err)
	}
	return d
}

// home is a sandboxed user: its own HOME, XDG dirs, device name and git
// identity, so tests never touch the real ones.
type home struct {
	t     testing.TB
	dir   string
	vars  map[string]string
	cwd   string
	clock time.Time
}

func newHome(t testing.TB) *home {
	t.Helper()
	dir := t.TempDir()
	h := &home{t: t, dir: dir, cwd: dir, clock: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	h.vars = map[string]string{
		"HOME":             dir,
		"XDG_CONFIG_HOME":  filepath.Join(dir, "config"),
		"XDG_DATA_HOME":    filepath.Join(dir, "data"),
		"XDG_RUNTIME_DIR":  "",
		"TRESOR_DEVICE":    "testbox",
		"GIT_AUTHOR_NAME":  "Test User",
		"GIT_AUTHOR_EMAIL": "test@example.test",
		"PATH":             os.Getenv("PATH"),
	}
	return h
}

func (h *home) vault() string { return filepath.Join(h.dir, "data", "tresor", "vault") }

// result of one in-process run.
type result struct {
	code           int
	stdout, stderr string
}

func (h *home) env(stdin string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	e := &Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return h.vars[k] },
		Environ: func() []string {
			var out []string
			for k, v := range h.vars {
				out = append(out, k+"="+v)
			}
			return out
		},
		Now: func() time.Time {
			h.clock = h.clock.Add(time.Second)
			return h.clock
		},
		Cwd:        h.cwd,
		ReadSecret: func(string) ([]byte, error) { h.t.Fatal("unexpected prompt"); return nil, nil },
		Confirm:    func(string) (bool, error) { h.t.Fatal("unexpected confirm"); return false, nil },
	}
	return e, &out, &errb
}

// run runs tresor in process with stdin.
func (h *home) run(stdin string, args ...string) result {
	h.t.Helper()
	e, out, errb := h.env(stdin)
	code := Main(append([]string{"tresor"}, args...), e)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs and fails the test on a non-zero exit.
func (h *home) ok(stdin string, args ...string) result {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != 0 {
		h.t.Fatalf("tresor %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs and expects exit code want, a one-line error mentioning each
// of the substrings, and no change to the vault.
func (h *home) fails(want int, stdin string, args []string, mentions ...string) result {
	h.t.Helper()
	before := snapshot(h.t, h.vault())
	r := h.run(stdin, args...)
	if r.code != want {
		h.t.Fatalf("tresor %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); n > 0 && !strings.Contains(r.stderr, "warning") {
		h.t.Errorf("tresor %s: error is not one line:\n%s", strings.Join(args, " "), r.stderr)
	}
	for _, m := range mentions {
		if !strings.Contains(r.stderr, m) {
			h.t.Errorf("tresor %s: error %q does not mention %q", strings.Join(args, " "), r.stderr, m)
		}
	}
	if after := snapshot(h.t, h.vault()); after != before {
		h.t.Errorf("tresor %s failed but changed the vault:\nbefore:\n%s\nafter:\n%s", strings.Join(args, " "), before, after)
	}
	return r
}

// snapshot describes HEAD, the index and every work-tree file of a vault,
// so a test can assert that a failed command changed nothing.
func snapshot(t testing.TB, dir string) string {
	t.Helper()
	return snapshotOf(dir)
}

func snapshotOf(dir string) string {
	if _, err := os.Stat(dir); err != nil {
		return "(no vault)"
	}
	var b strings.Builder
	head, _ := exec.Command("git", "-C", dir, "rev-parse", "-q", "--verify", "HEAD").Output()
	b.WriteString("HEAD " + strings.TrimSpace(string(head)) + "\n")
	idx, _ := exec.Command("git", "-C", dir, "ls-files", "-s").Output()
	b.WriteString(string(idx))
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			data, _ := os.ReadFile(p)
			sum := sha256.Sum256(data)
			files = append(files, rel+" "+hex.EncodeToString(sum[:8]))
		}
		return nil
	})
	sort.Strings(files)
	b.WriteString(strings.Join(files, "\n"))
	return b.String()
}

// gitClean asserts the real git sees a clean tree and a sound repository.
func gitClean(t testing.TB, dir string) {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "status", "--porcelain").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("git status not clean (%v):\n%s", err, out)
	}
	out, err = exec.Command("git", "-C", dir, "fsck", "--strict", "--no-progress").CombinedOutput()
	if err != nil {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
}

func commitCount(t testing.TB, dir string) int {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-list", "--count", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-list: %v", err)
	}
	n := 0
	for _, c := range strings.TrimSpace(string(out)) {
		n = n*10 + int(c-'0')
	}
	return n
}
