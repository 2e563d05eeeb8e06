package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary act as the tresor command inside scripts
// (and for git, which runs `tresor textconv`).
func TestMain(m *testing.M) {
	if os.Getenv(selfEnv) == "1" {
		os.Exit(Main(os.Args, System()))
	}
	testscript.Main(m, map[string]func(){
		"tresor": func() { os.Exit(Main(os.Args, System())) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: every
// command, the failing paths included, against real git and age binaries.
func TestScripts(t *testing.T) {
	cases := casesDir(t)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(e *testscript.Env) error {
			home := filepath.Join(e.WorkDir, "home")
			e.Setenv("HOME", home)
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
			e.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
			e.Setenv("TRESOR_DEVICE", "testbox")
			e.Setenv("GIT_AUTHOR_NAME", "Test User")
			e.Setenv("GIT_AUTHOR_EMAIL", "test@example.test")
			e.Setenv("GIT_COMMITTER_NAME", "Test User")
			e.Setenv("GIT_COMMITTER_EMAIL", "test@example.test")
			e.Setenv("CASES", cases)
			e.Setenv("VAULT", filepath.Join(home, ".local", "share", "tresor", "vault"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sha256":    cmdSHA256,
			"gitclean":  cmdGitClean,
			"snapshot":  cmdSnapshot,
			"unchanged": cmdUnchanged,
			"mode":      cmdMode,
			"commits":   cmdCommits,
			"fails":     cmdFails,
		},
		RequireExplicitExec: true,
	})
}

// sha256 FILE HEX: the file's sha256 is HEX.
func cmdSHA256(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sha256 FILE HEX")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if (got == args[1]) == neg {
		ts.Fatalf("sha256 of %s is %s (want %s%s)", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// gitclean DIR: git status is clean and git fsck passes.
func cmdGitClean(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: gitclean DIR")
	}
	dir := ts.MkAbs(args[0])
	out, err := exec.Command("git", "-C", dir, "status", "--porcelain").CombinedOutput()
	clean := err == nil && len(out) == 0
	if clean {
		if fo, ferr := exec.Command("git", "-C", dir, "fsck", "--strict", "--no-progress").CombinedOutput(); ferr != nil {
			ts.Fatalf("git fsck: %v\n%s", ferr, fo)
		}
	}
	if clean == neg {
		ts.Fatalf("git status (clean=%v):\n%s", clean, out)
	}
}

// snapshot DIR / unchanged DIR: nothing in the vault (HEAD, index, files)
// changed in between.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	dir := ts.MkAbs(args[0])
	ts.Check(os.WriteFile(ts.MkAbs(".snapshot-"+filepath.Base(dir)), []byte(snapshotOf(dir)), 0o600))
}

func cmdUnchanged(ts *testscript.TestScript, neg bool, args []string) {
	dir := ts.MkAbs(args[0])
	want, err := os.ReadFile(ts.MkAbs(".snapshot-" + filepath.Base(dir)))
	ts.Check(err)
	if got := snapshotOf(dir); (got == string(want)) == neg {
		ts.Fatalf("vault changed:\nbefore:\n%s\nafter:\n%s", want, got)
	}
}

// mode PATH OCTAL: the file's permission bits.
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := modeString(st.Mode().Perm())
	if (got == args[1]) == neg {
		ts.Fatalf("%s has mode %s, want %s", args[0], got, args[1])
	}
}

func modeString(m os.FileMode) string {
	return "0" + string('0'+byte(m>>6&7)) + string('0'+byte(m>>3&7)) + string('0'+byte(m&7))
}

// commits DIR N: the repository has N commits.
func cmdCommits(ts *testscript.TestScript, neg bool, args []string) {
	out, err := exec.Command("git", "-C", ts.MkAbs(args[0]), "rev-list", "--count", "HEAD").Output()
	ts.Check(err)
	if (strings.TrimSpace(string(out)) == args[1]) == neg {
		ts.Fatalf("%s has %s commits, want %s", args[0], strings.TrimSpace(string(out)), args[1])
	}
}

// fails CODE PROG ARGS...: PROG exits with status CODE (1 failure, 2
// usage), prints nothing on stdout and one line on stderr starting with
// "tresor: ", and the vault ($VAULT: HEAD, index, every work-tree file) is
// unchanged. stdout and stderr stay available to later stdout/stderr lines.
func cmdFails(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: fails CODE PROG ARGS...")
	}
	vault := ts.Getenv("VAULT")
	before := snapshotOf(vault)
	err := ts.Exec(args[1], args[2:]...)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if fmt.Sprint(code) != args[0] {
		ts.Fatalf("%s exited %d, want %s", strings.Join(args[1:], " "), code, args[0])
	}
	stdout, stderr := ts.ReadFile("stdout"), ts.ReadFile("stderr")
	if stdout != "" {
		ts.Fatalf("a failing command printed on stdout:\n%s", stdout)
	}
	if !strings.HasPrefix(stderr, "tresor: ") || strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") != 0 {
		ts.Fatalf("error is not one line starting with \"tresor: \":\n%s", stderr)
	}
	if after := snapshotOf(vault); after != before {
		ts.Fatalf("%s failed but changed the vault:\nbefore:\n%s\nafter:\n%s", strings.Join(args[1:], " "), before, after)
	}
}
