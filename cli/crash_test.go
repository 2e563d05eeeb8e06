package cli

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// selfEnv makes the test binary run tresor's Main (see TestMain), so tests
// can start real tresor processes and kill them.
const selfEnv = "TRESOR_TEST_RUN_MAIN"

// proc starts `tresor args...` as a real process with h's environment.
func (h *home) proc(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{selfEnv + "=1"}
	for k, v := range h.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = h.cwd
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// TestCrashKillSet kills `tresor set` with SIGKILL at random moments, 100
// times. After each kill every entry decrypts to its old or its new value,
// the next command recovers, and doctor reports clean (or repairs it).
func TestCrashKillSet(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	names := []string{"a", "b/c", "d e"}
	current := map[string]string{}
	for _, n := range names {
		h.ok("v0-FAKE", "set", n)
		current[n] = "v0-FAKE"
	}
	// Calibrate: how long one whole `set` process takes here.
	var d time.Duration
	for i := 0; i < 3; i++ {
		begin := time.Now()
		if out, err := h.proc("calibrate-FAKE", "set", "calibrate").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		d = max(d, time.Since(begin))
	}
	rng := rand.New(rand.NewSource(1))
	killed, finished, committed := 0, 0, 0
	for i := 1; i <= 100; i++ {
		n := names[i%len(names)]
		next := fmt.Sprintf("v%d-FAKE", i)
		cmd := h.proc(next, "set", n)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it anywhere from start-up to just after it would finish.
		time.Sleep(time.Duration(rng.Int63n(int64(d) * 11 / 10)))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if err == nil {
			finished++
		} else {
			killed++
		}
		// The next command recovers an interrupted write first.
		for _, m := range names {
			got := h.ok("", "get", m, "--raw").stdout
			switch {
			case got == current[m]:
			case m == n && got == next:
				current[m] = next
				committed++
			default:
				t.Fatalf("run %d: %s = %q, want %q or %q", i, m, got, current[m], next)
			}
		}
		if r := h.run("", "doctor"); r.code != 0 {
			r = h.run("", "doctor", "--fix")
			if r2 := h.run("", "doctor"); r2.code != 0 {
				t.Fatalf("run %d: doctor still failing after --fix:\n%s\n%s", i, r2.stdout, r2.stderr)
			}
		}
	}
	gitClean(t, h.vault())
	t.Logf("100 runs (one set takes %v): %d killed, %d finished; %d new values landed", d, killed, finished, committed)
	if killed < 20 || committed < 5 {
		t.Errorf("kill window misses the command: %d killed, %d landed", killed, committed)
	}
}

// TestConcurrentSetProcesses: 8 processes × 25 sets each lose no commit.
func TestConcurrentSetProcesses(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	start := commitCount(t, h.vault())
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				cmd := h.proc(fmt.Sprintf("v%d-%d-FAKE", p, i), "set", fmt.Sprintf("load/p%d/k%d", p, i))
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Sprintf("p%d k%d: %v: %s", p, i, err, out)
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := commitCount(t, h.vault()) - start; n != 200 {
		t.Errorf("%d commits, want 200", n)
	}
	for p := 0; p < 8; p++ {
		for i := 0; i < 25; i++ {
			if got := h.ok("", "get", fmt.Sprintf("load/p%d/k%d", p, i), "--raw").stdout; got != fmt.Sprintf("v%d-%d-FAKE", p, i) {
				t.Fatalf("load/p%d/k%d = %q", p, i, got)
			}
		}
	}
	gitClean(t, h.vault())
	if _, err := os.Stat(h.vault() + "/.git/index.lock"); err == nil {
		t.Error(".git/index.lock left behind")
	}
}
