package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCaseH11WrongIdentityCorruptPerms follows cases/H11 with the real age
// binary for the teammate's file.
func TestCaseH11WrongIdentityCorruptPerms(t *testing.T) {
	age := mustLookPath(t, "age")
	keygen := mustLookPath(t, "age-keygen")
	h := newHome(t)
	for _, p := range []string{"alice", "carol"} {
		if out, err := exec.Command(keygen, "-o", filepath.Join(h.dir, p+".key")).CombinedOutput(); err != nil {
			t.Fatalf("age-keygen: %v %s", err, out)
		}
	}
	alice := filepath.Join(h.dir, "alice.key")
	h.vars["TRESOR_IDENTITY"] = alice
	h.ok("", "init")
	memory := strings.Repeat("FAKE memory line. ", 12000)[:204800]
	memFile := filepath.Join(h.dir, "memory.txt")
	os.WriteFile(memFile, []byte(memory), 0o600)
	h.ok("", "set", "memory/long", "--file", memFile)
	h.ok("ghp_FAKE0000000000000000000000000000", "set", "gh/token")
	h.ok("AKIAFAKEFAKEFAKE0000", "set", "aws/key")
	carolPub, err := exec.Command(keygen, "-y", filepath.Join(h.dir, "carol.key")).Output()
	if err != nil {
		t.Fatal(err)
	}
	openai := strings.TrimSpace(h.ok("", "path", "openai/key").stdout)
	os.MkdirAll(filepath.Dir(openai), 0o700)
	cmd := exec.Command(age, "-r", strings.TrimSpace(string(carolPub)), "-o", openai)
	cmd.Stdin = strings.NewReader("tresor: 1\ntype: secret\nvalue: sk-test-FAKE-carol-only\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("age: %v %s", err, out)
	}
	git(t, h.vault(), "add", "-A", ".")
	git(t, h.vault(), "commit", "-qm", "teammate entry")

	mem := strings.TrimSpace(h.ok("", "path", "memory/long").stdout)
	data, _ := os.ReadFile(mem)
	os.WriteFile(mem, data[:150000], 0o600)
	gh := strings.TrimSpace(h.ok("", "path", "gh/token").stdout)
	f, _ := os.OpenFile(gh, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 40))
	f.Close()

	pub := strings.TrimSpace(h.ok("", "keygen", "--out", filepath.Join(h.dir, "scratch.key")).stdout)
	_ = pub
	r := h.fails(1, "", []string{"get", "openai/key", "--raw"}, "global/openai/key", "not encrypted to your identity", alice, "age1")
	if r.stdout != "" {
		t.Errorf("wrong identity printed %d bytes", len(r.stdout))
	}
	r = h.fails(1, "", []string{"get", "memory/long", "--raw"}, "global/memory/long", "corrupted or truncated", "tresor log")
	if r.stdout != "" {
		t.Errorf("truncated entry printed %d bytes of plaintext", len(r.stdout))
	}
	r = h.fails(1, "", []string{"get", "gh/token", "--raw"}, "global/gh/token", "corrupted")
	if r.stdout != "" || strings.Contains(r.stderr, "not encrypted to") {
		t.Errorf("trailing junk: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if got := h.ok("", "get", "aws/key", "--raw").stdout; got != "AKIAFAKEFAKEFAKE0000" {
		t.Errorf("healthy entry = %q", got)
	}
	ls := h.ok("", "ls")
	for _, n := range []string{"openai/key", "memory/long", "gh/token", "aws/key"} {
		if !strings.Contains(ls.stdout, n) {
			t.Errorf("ls does not list %s:\n%s", n, ls.stdout)
		}
	}
	// doctor reports the damage, --fix restores from the last commit.
	h.fails(1, "", []string{"doctor"}, "problem")
	h.run("", "doctor", "--fix")
	if got := h.ok("", "get", "gh/token", "--raw").stdout; got != "ghp_FAKE0000000000000000000000000000" {
		t.Errorf("after doctor --fix gh/token = %q", got)
	}

	// Identity permissions: 0644 is refused with the fix in the message.
	os.Chmod(alice, 0o644)
	r = h.fails(1, "", []string{"get", "aws/key", "--raw"}, alice, "0644", "chmod 600")
	if r.stdout != "" {
		t.Error("printed a value with an insecure identity")
	}
	os.Chmod(alice, 0o600)
	// Keys tresor makes are 0600 in a 0700 directory, whatever the umask.
	newKey := filepath.Join(h.dir, "keys", "new.key")
	h.ok("", "keygen", "--out", newKey)
	assertMode(t, newKey, 0o600)
	assertMode(t, filepath.Dir(newKey), 0o700)
	h2 := newHome(t)
	h2.ok("", "init")
	assertMode(t, filepath.Join(h2.dir, "config", "tresor", "identity"), 0o600)
	assertMode(t, h2.vault(), 0o700)
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %04o, want %04o", p, st.Mode().Perm(), want)
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this interop test (apt-get install age): %v", name, err)
	}
	return p
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestCaseH12Edit follows the edit parts of cases/H12 with its fake editor.
func TestCaseH12Edit(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H12-edit-tempfile-clipboard")
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE-orig", "set", "openai/key")
	bin := filepath.Join(h.dir, "bin")
	os.MkdirAll(bin, 0o755)
	fake := filepath.Join(h.dir, "fake-editor.sh")
	data, err := os.ReadFile(filepath.Join(dir, "fake-editor.sh"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(fake, data, 0o755)
	for _, n := range []string{"vim", "nvim"} {
		os.Symlink(fake, filepath.Join(bin, n))
	}
	logFile := filepath.Join(h.dir, "editor.log")
	h.vars["EDITOR_LOG"] = logFile
	h.vars["PATH"] = bin + ":" + os.Getenv("PATH")
	if _, err := os.Stat("/dev/shm"); err == nil {
		h.vars["XDG_RUNTIME_DIR"] = ""
	}
	start := commitCount(t, h.vault())

	// A: location, modes, cleanup, one commit with the appended line.
	h.vars["EDITOR"] = fake
	h.ok("", "edit", "openai/key")
	if got := h.ok("", "get", "openai/key", "--raw").stdout; got != "sk-test-FAKE-origedited-FAKE\n" {
		t.Errorf("after edit A value = %q", got)
	}
	logText, _ := os.ReadFile(logFile)
	for _, want := range []string{"file_mode: 600", "dir_mode: 700", "dir_owner_is_me: yes", "fstype: tmpfs"} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("edit A: editor log lacks %q:\n%s", want, logText)
		}
	}
	for _, l := range strings.Split(string(logText), "\n") {
		if d, ok := strings.CutPrefix(l, "dir: "); ok {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("temp dir %s still exists", d)
			}
			if strings.HasPrefix(d, h.vault()) || d == h.cwd {
				t.Errorf("temp dir %s is inside the vault or the cwd", d)
			}
		}
	}
	// B: vim gets every option that keeps copies off disk, on its argv.
	os.Remove(logFile)
	h.vars["EDITOR"] = "vim"
	h.ok("", "edit", "openai/key")
	logText, _ = os.ReadFile(logFile)
	argv := firstLineWith(string(logText), "argv: ")
	for _, want := range []string{"-n", "-i NONE", "nobackup", "nowritebackup", "noundofile"} {
		if !strings.Contains(argv, want) {
			t.Errorf("vim argv %q lacks %q", argv, want)
		}
	}
	if strings.Contains(string(logText), "sk-test-FAKE") {
		t.Error("the secret reached the editor's argv")
	}
	// C: editor fails -> non-zero, nothing changes.
	h.vars["EDITOR"] = fake
	h.vars["FAKE_EDITOR_MODE"] = "fail"
	h.fails(1, "", []string{"edit", "openai/key"}, "global/openai/key", "status 3")
	// D: unchanged -> no commit, exit 0, "no changes".
	h.vars["FAKE_EDITOR_MODE"] = "unchanged"
	r := h.ok("", "edit", "openai/key")
	if !strings.Contains(r.stderr, "no changes") {
		t.Errorf("edit D: %q", r.stderr)
	}
	if n := commitCount(t, h.vault()) - start; n != 2 {
		t.Errorf("edits A-D made %d commits, want 2", n)
	}
	// Every temp dir is gone.
	logText, _ = os.ReadFile(logFile)
	for _, l := range strings.Split(string(logText), "\n") {
		if d, ok := strings.CutPrefix(l, "dir: "); ok {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("temp dir %s left behind", d)
			}
		}
	}
	gitClean(t, h.vault())
}

func firstLineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestCaseH09Push follows the push parts of cases/H09: a first push to an
// empty bare remote, then a refused non-fast-forward that forces nothing.
func TestCaseH09Push(t *testing.T) {
	h := newHome(t)
	remote := filepath.Join(h.dir, "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	h.ok("", "init")
	h.ok("sk-test-FAKE-openai-A", "set", "openai/key")
	h.ok("FAKE-db-pass-A", "set", "db/pass")
	h.ok("", "remote", "add", "origin", remote)
	h.ok("", "push")
	branches := git(t, remote, "branch", "--list")
	if strings.TrimSpace(branches) != "* main" && strings.TrimSpace(branches) != "main" {
		t.Errorf("remote branches: %q", branches)
	}
	files := git(t, remote, "ls-tree", "-r", "--name-only", "main")
	for _, f := range []string{"global/openai/key.age", "global/db/pass.age"} {
		if !strings.Contains(files, f) {
			t.Errorf("remote lacks %s", f)
		}
	}
	// Teammate B pushes first, with the git CLI.
	b := filepath.Join(h.dir, "B")
	git(t, h.dir, "clone", "-q", "-b", "main", remote, b)
	os.WriteFile(filepath.Join(b, "teammate.txt"), []byte("x"), 0o644)
	git(t, b, "add", "teammate.txt")
	git(t, b, "commit", "-qm", "B")
	git(t, b, "push", "-q", "origin", "main")
	bHead := strings.TrimSpace(git(t, remote, "rev-parse", "main"))
	// A edits and pushes without pulling: refused, nothing forced.
	h.ok("ghp_FAKE0000000000000000000000000000A", "set", "gh/token")
	r := h.run("", "push")
	if r.code == 0 || !strings.Contains(r.stderr, "pull") {
		t.Fatalf("non-fast-forward push: exit %d, %q", r.code, r.stderr)
	}
	if got := strings.TrimSpace(git(t, remote, "rev-parse", "main")); got != bHead {
		t.Fatalf("remote moved from %s to %s: something was forced", bHead, got)
	}
	if strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("error is not one line: %q", r.stderr)
	}
	// Up to date after a second push of the same state is fine.
	h2 := newHome(t)
	h2.ok("", "init")
	h2.ok("", "remote", "add", "origin", filepath.Join(h.dir, "remote2.git"))
	exec.Command("git", "init", "-q", "--bare", filepath.Join(h.dir, "remote2.git")).Run()
	h2.ok("", "push")
	r = h2.ok("", "push")
	if !strings.Contains(r.stderr, "up to date") {
		t.Errorf("second push: %q", r.stderr)
	}
	_ = bytes.MinRead
}

// TestCaseH09TwentyWriters is step 4 of cases/H09: twenty `set` processes
// at once all exit 0 (writers wait for the lock, none fails on index.lock),
// every entry decrypts to its own value, and git sees a clean, sound repo.
func TestCaseH09TwentyWriters(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	start := commitCount(t, h.vault())
	var wg sync.WaitGroup
	fails := make(chan string, 20)
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := h.proc(fmt.Sprintf("v%d-FAKE", i), "set", fmt.Sprintf("load/k%d", i)).CombinedOutput()
			if err != nil {
				fails <- fmt.Sprintf("k%d: %v: %s", i, err, out)
			}
		}(i)
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
	ls := h.ok("", "ls", "load/").stdout
	if n := strings.Count(ls, "\n"); n != 20 {
		t.Errorf("ls load/ lists %d entries, want 20:\n%s", n, ls)
	}
	for i := 1; i <= 20; i++ {
		if got := h.ok("", "get", fmt.Sprintf("load/k%d", i), "--raw").stdout; got != fmt.Sprintf("v%d-FAKE", i) {
			t.Errorf("load/k%d = %q", i, got)
		}
	}
	if n := commitCount(t, h.vault()) - start; n != 20 {
		t.Errorf("%d commits, want 20", n)
	}
	if _, err := os.Stat(filepath.Join(h.vault(), ".git", "index.lock")); err == nil {
		t.Error(".git/index.lock left behind")
	}
	gitClean(t, h.vault())
}
