package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// h08Values are the entries of shared/cases/H08-exec-env-values/setup.sh.
var h08Values = map[string]string{
	"MULTI_LINE":              "line1-FAKE\nline2-FAKE\n",
	"WITH_EQUALS":             "a=b==c-FAKE",
	"LEADING_TRAILING_SPACES": "  padded-FAKE  ",
	"EMPTY_VALUE":             "",
	"UNICODE_VALUE":           "p\u00e4ssw\u00f6rd-FAKE-\u2713",
	"OPENAI_API_KEY":          "sk-test-FAKE-vault",
	"PATH":                    "/tmp/evil-FAKE",
	"HOME":                    "/tmp/evil-home-FAKE",
	"LD_PRELOAD":              "x",
}

func h08Home(t *testing.T) *home {
	h := newHome(t)
	h.ok("", "init")
	names := make([]string, 0, len(h08Values))
	for n := range h08Values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.ok(h08Values[n], "set", n)
	}
	return h
}

// runWithParent runs tresor in process with an exact parent environment,
// duplicates and malformed entries included.
func (h *home) runWithParent(parent []string, args ...string) result {
	h.t.Helper()
	e, out, errb := h.env("")
	e.Environ = func() []string { return parent }
	code := Main(append([]string{"tresor"}, args...), e)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func parseEnviron(t *testing.T, raw string) (map[string]string, []string) {
	t.Helper()
	env := map[string]string{}
	var names []string
	for _, kv := range strings.Split(strings.TrimSuffix(raw, "\x00"), "\x00") {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("environ entry without =: %q", kv)
		}
		names = append(names, name)
		env[name] = val
	}
	return env, names
}

// TestCaseH08ExecEnv: the child's environment block is exactly the parent's
// (each name once) with the vault's values set byte-exact, the vault winning
// over the parent; reserved names are skipped with a warning naming them;
// the exit code is the child's; tresor prints nothing on stdout itself.
func TestCaseH08ExecEnv(t *testing.T) {
	h := h08Home(t)
	parent := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + h.dir, "OPENAI_API_KEY=sk-test-FAKE-parent",
		"KEEP=1", "DUP=first", "DUP=second", "NOEQUALS", "=empty-name",
		"XDG_CONFIG_HOME=" + h.vars["XDG_CONFIG_HOME"], "XDG_DATA_HOME=" + h.vars["XDG_DATA_HOME"], "TRESOR_DEVICE=testbox",
	}
	r := h.runWithParent(parent, "exec", "--no-mask", "--", "cat", "/proc/self/environ")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	env, names := parseEnviron(t, r.stdout)
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s appears twice in the child's environment", n)
		}
		seen[n] = true
	}
	want := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": h.dir, "KEEP": "1", "DUP": "second",
		"XDG_CONFIG_HOME": h.vars["XDG_CONFIG_HOME"], "XDG_DATA_HOME": h.vars["XDG_DATA_HOME"], "TRESOR_DEVICE": "testbox",
	}
	for n, v := range h08Values {
		if n != "PATH" && n != "HOME" && n != "LD_PRELOAD" {
			want[n] = v
		}
	}
	if len(env) != len(want) {
		got := make([]string, 0, len(env))
		for n := range env {
			got = append(got, n)
		}
		sort.Strings(got)
		t.Errorf("child has %d variables, want %d: %v", len(env), len(want), got)
	}
	for n, v := range want {
		if got, ok := env[n]; !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", n, got, ok, v)
		}
	}
	for _, n := range []string{"PATH", "HOME", "LD_PRELOAD"} {
		if !strings.Contains(r.stderr, "not injecting "+n+" from global/"+n) {
			t.Errorf("no warning for reserved %s:\n%s", n, r.stderr)
		}
	}
	for _, v := range h08Values {
		if len(v) > 3 && strings.Contains(r.stderr, v) {
			t.Errorf("stderr holds a value: %q", r.stderr)
		}
	}

	// --prefer-parent-env keeps the parent's value.
	r = h.runWithParent(parent, "exec", "--no-mask", "--prefer-parent-env", "--", "cat", "/proc/self/environ")
	env, _ = parseEnviron(t, r.stdout)
	if env["OPENAI_API_KEY"] != "sk-test-FAKE-parent" || env["MULTI_LINE"] != h08Values["MULTI_LINE"] {
		t.Errorf("--prefer-parent-env: OPENAI_API_KEY=%q", env["OPENAI_API_KEY"])
	}
	// Only what the child got from the vault is logged: the parent kept its
	// own OPENAI_API_KEY on the second run.
	recs := h.ok("", "access", "log", "--entry", "global/OPENAI_API_KEY").stdout
	if n := strings.Count(recs, " exec "); n != 1 {
		t.Errorf("OPENAI_API_KEY logged %d times after one injecting run and one --prefer-parent-env run:\n%s", n, recs)
	}

	// The exit code is the child's; masked output shows the reference.
	if r := h.runWithParent(parent, "exec", "--", "sh", "-c", "exit 7"); r.code != 7 || r.stdout != "" {
		t.Errorf("exit code %d, stdout %q", r.code, r.stdout)
	}
	r = h.runWithParent(parent, "exec", "--", "sh", "-c", `printf '%s|' "$OPENAI_API_KEY" "$MULTI_LINE"; printf '%s' "$WITH_EQUALS" >&2`)
	if r.stdout != "<redacted:global/OPENAI_API_KEY>|<redacted:global/MULTI_LINE>|" || !strings.Contains(r.stderr, "<redacted:global/WITH_EQUALS>") {
		t.Errorf("masked output: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// The multi-line value reaches the child byte-exact.
	outFile := filepath.Join(h.dir, "multi.bin")
	h.runWithParent(parent, "exec", "--", "sh", "-c", `printf %s "$MULTI_LINE" > "$0"`, outFile)
	if got, _ := os.ReadFile(outFile); string(got) != h08Values["MULTI_LINE"] {
		t.Errorf("MULTI_LINE as the child wrote it: %q", got)
	}
	// Not found is 127, like a shell.
	if r := h.runWithParent(parent, "exec", "--", "no-such-program-FAKE"); r.code != 127 || !strings.Contains(r.stderr, "no-such-program-FAKE: command not found") {
		t.Errorf("missing program: %d %q", r.code, r.stderr)
	}
}

// TestExecLogsEachSecret: every injected variable is one read-log record
// naming the entry and the variable, and no record holds a value.
func TestExecLogsEachSecret(t *testing.T) {
	h := h08Home(t)
	h.ok("", "exec", "--", "true")
	data, err := os.ReadFile(filepath.Join(h.vault(), ".git", "tresor", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec struct{ Op, Ref, Detail, FP string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Op != "exec" || rec.FP == "" {
			t.Errorf("record %s", line)
		}
		got[rec.Detail] = rec.Ref
	}
	if len(got) != 6 || got["OPENAI_API_KEY"] != "global/OPENAI_API_KEY" {
		t.Errorf("records: %v", got)
	}
	for _, v := range h08Values {
		if len(v) > 3 && bytes.Contains(data, []byte(v)) {
			t.Errorf("the log holds a value")
		}
	}
	h.ok("", "access", "verify")
}

// TestExecForwardsSignals: SIGINT, SIGTERM and SIGHUP sent to tresor reach
// the child, and tresor exits with the child's status.
func TestExecForwardsSignals(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE-signal", "set", "TOKEN")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		name := strings.TrimPrefix(sig.String(), "")
		t.Run(name, func(t *testing.T) {
			script := `trap 'echo "got signal $TOKEN"; exit 3' INT TERM HUP; echo ready; while :; do sleep 0.02; done`
			cmd := exec.Command(os.Args[0], "exec", "--", "sh", "-c", script)
			cmd.Env = []string{selfEnv + "=1", "PATH=" + os.Getenv("PATH")}
			for k, v := range h.vars {
				if k != "PATH" {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
			}
			cmd.Dir = h.dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			rd := bufio.NewReader(out)
			line, err := rd.ReadString('\n')
			if err != nil || line != "ready\n" {
				t.Fatalf("first line %q, %v (stderr %s)", line, err, stderr.String())
			}
			cmd.Process.Signal(sig)
			rest, _ := rd.ReadString('\n')
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("tresor did not exit after the child did")
			}
			if rest != "got signal <redacted:global/TOKEN>\n" {
				t.Errorf("child printed %q", rest)
			}
			if code := cmd.ProcessState.ExitCode(); code != 3 {
				t.Errorf("exit %d, want the child's 3 (stderr %s)", code, stderr.String())
			}
		})
	}
}

// TestExecStdinAndInteractiveOutput: stdin reaches the child, and a line
// the child writes before it waits for input is out before the input is
// given (no buffering in between).
func TestExecStdinAndInteractiveOutput(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE-interactive", "set", "TOKEN")
	cmd := exec.Command(os.Args[0], "exec", "--", "sh", "-c", `echo "prompt $TOKEN"; read answer; echo "you said $answer"`)
	cmd.Env = []string{selfEnv + "=1"}
	for k, v := range h.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(out)
	line, err := rd.ReadString('\n')
	if err != nil || line != "prompt <redacted:global/TOKEN>\n" {
		t.Fatalf("prompt line %q, %v", line, err)
	}
	stdin.Write([]byte("yes\n"))
	stdin.Close()
	line, _ = rd.ReadString('\n')
	if line != "you said yes\n" {
		t.Fatalf("answer line %q", line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestExecMaskedKeepsTerminal: with masking on and tresor's stdout a
// terminal, the child still sees a terminal (so it keeps line buffering),
// and what it writes there is masked.
func TestExecMaskedKeepsTerminal(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE-terminal", "set", "TOKEN")
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	for _, mask := range []bool{true, false} {
		args := []string{"exec", "--", "sh", "-c", `if [ -t 1 ]; then echo "terminal $TOKEN"; else echo "pipe"; fi`}
		if !mask {
			args = []string{"exec", "--no-mask", "--", "sh", "-c", `if [ -t 1 ]; then echo "terminal"; else echo "pipe"; fi`}
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = []string{selfEnv + "=1"}
		for k, v := range h.vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout = slave
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %s", err, stderr.String())
		}
		want := "terminal <redacted:global/TOKEN>"
		if !mask {
			want = "terminal"
		}
		line, err := bufio.NewReader(master).ReadString('\n')
		if err != nil || strings.TrimRight(line, "\r\n") != want {
			t.Fatalf("mask=%v: child wrote %q (%v), want %q", mask, line, err, want)
		}
	}
	slave.Close()
}
