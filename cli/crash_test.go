package cli

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestCrashKillImportMv kills multi-file writes: `import` of 20 keys (one
// commit: after a kill the keys hold all their old values or all their new
// ones, never a mix) and `mv` (the entry is at exactly one of its two names,
// with its value), 40 times each at random moments.
func TestCrashKillImportMv(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	envFile := func(gen int) string {
		var b strings.Builder
		for k := 0; k < 20; k++ {
			fmt.Fprintf(&b, "KEY_%02d=gen%d-FAKE\n", k, gen)
		}
		return b.String()
	}
	write := func(gen int) string {
		p := fmt.Sprintf("%s/import-%d.env", h.dir, gen)
		if err := os.WriteFile(p, []byte(envFile(gen)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h.ok("", "import", write(0))
	h.ok("mv-FAKE", "set", "moving/a")
	// Calibrate: how long each command takes here to move the branch (the
	// commit point), past the first (cold) start of the binary: the median
	// of three warm runs. Under the race detector a process spends most of
	// its life after that point, so its exit time would be the wrong measure.
	ref := filepath.Join(h.vault(), ".git", "refs", "heads", "main")
	calibrate := func(runs ...[]string) time.Duration {
		var ds []time.Duration
		for i, args := range runs {
			old, _ := os.ReadFile(ref)
			cmd := h.proc("", args...)
			begin := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var d time.Duration
			for d == 0 {
				if cur, _ := os.ReadFile(ref); len(cur) > 0 && !bytes.Equal(cur, old) {
					d = time.Since(begin)
				}
				time.Sleep(200 * time.Microsecond)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if i > 0 {
				ds = append(ds, d)
			}
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	dImport := calibrate([]string{"import", "--overwrite", write(1)}, []string{"import", "--overwrite", write(2)},
		[]string{"import", "--overwrite", write(3)}, []string{"import", "--overwrite", write(4)})
	importGen := 4
	dMv := calibrate([]string{"mv", "moving/a", "moving/b"}, []string{"mv", "moving/b", "moving/a"},
		[]string{"mv", "moving/a", "moving/b"}, []string{"mv", "moving/b", "moving/a"})
	at := "moving/a"
	rng := rand.New(rand.NewSource(2))
	landedImport, landedMv := 0, 0
	// The kill moments sweep from start-up to half again the time the
	// commit takes (with jitter), so every phase of the write is hit and
	// the last runs land.
	sweep := func(d time.Duration, k int, rng *rand.Rand) time.Duration {
		frac := (float64(k%40) + rng.Float64()) / 40 * 1.5
		return time.Duration(frac * float64(d))
	}
	settle := func(run int) {
		t.Helper()
		if r := h.run("", "doctor"); r.code != 0 {
			h.run("", "doctor", "--fix")
			if r2 := h.run("", "doctor"); r2.code != 0 {
				t.Fatalf("run %d: doctor still failing after --fix:\n%s", run, r2.stdout)
			}
		}
	}
	for i := 1; i <= 80; i++ {
		if i%2 == 0 {
			next := importGen + 1
			cmd := h.proc("", "import", "--overwrite", write(next))
			cmd.Start()
			time.Sleep(sweep(dImport, i/2, rng))
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			seen := map[string]int{}
			for k := 0; k < 20; k++ {
				seen[h.ok("", "get", fmt.Sprintf("KEY_%02d", k), "--raw").stdout]++
			}
			switch {
			case seen[fmt.Sprintf("gen%d-FAKE", importGen)] == 20:
			case seen[fmt.Sprintf("gen%d-FAKE", next)] == 20:
				importGen = next
				landedImport++
			default:
				t.Fatalf("run %d: import half applied: %v", i, seen)
			}
		} else {
			to := map[string]string{"moving/a": "moving/b", "moving/b": "moving/a"}[at]
			cmd := h.proc("", "mv", at, to)
			cmd.Start()
			time.Sleep(sweep(dMv, i/2, rng))
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			ra, rb := h.run("", "get", "moving/a", "--raw"), h.run("", "get", "moving/b", "--raw")
			before := at
			switch {
			case ra.code == 0 && rb.code != 0 && ra.stdout == "mv-FAKE":
				at = "moving/a"
			case rb.code == 0 && ra.code != 0 && rb.stdout == "mv-FAKE":
				at = "moving/b"
			default:
				t.Fatalf("run %d: after a killed mv: a=%d %q, b=%d %q", i, ra.code, ra.stdout, rb.code, rb.stdout)
			}
			if at != before {
				landedMv++
			}
		}
		settle(i)
	}
	gitClean(t, h.vault())
	t.Logf("40 imports (%v each): %d landed; 40 mvs (%v each): %d landed", dImport, landedImport, dMv, landedMv)
	if landedImport < 1 || landedImport > 39 || landedMv < 1 || landedMv > 39 {
		t.Errorf("kill window misses the commands: %d imports and %d mvs of 40 landed", landedImport, landedMv)
	}
}
