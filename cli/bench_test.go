package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/repo"
)

// The PERF.md rows for get (P1), set (P2), ls (P3) and last-rotated / log
// (P4), measured in process through Main at 10,000 entries of ~200 bytes
// spread over global/ and 50 projects, with 1,000 commits of history. The
// whole-process figures (start-up included) come from hyperfine; see
// README "Speed".

const (
	benchProjects  = 50
	benchPerScope  = 196 // 51 scopes × 196 = 9,996 entries
	benchRotations = 1000
)

// benchHome returns a sandboxed user whose vault holds the 10k fixture. It
// is built once (about a minute) and cached under os.TempDir(); when
// writable is set the caller gets its own copy to change.
func benchHome(b *testing.B, writable bool) *home {
	b.Helper()
	cached := filepath.Join(os.TempDir(), fmt.Sprintf("tresor-cli-bench-%dx%d-v1", (benchProjects+1)*benchPerScope, benchRotations))
	if _, err := os.Stat(filepath.Join(cached, "bench-complete")); err != nil {
		buildBenchHome(b, cached)
	}
	dir := cached
	if writable {
		dir = filepath.Join(b.TempDir(), "home")
		if out, err := exec.Command("cp", "-a", cached, dir).CombinedOutput(); err != nil {
			b.Fatalf("copy fixture: %v %s", err, out)
		}
	}
	h := newHome(b)
	h.dir, h.cwd = dir, dir
	h.vars["HOME"] = dir
	h.vars["XDG_CONFIG_HOME"] = filepath.Join(dir, "config")
	h.vars["XDG_DATA_HOME"] = filepath.Join(dir, "data")
	return h
}

func benchEnvFile(scope, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "K_%d_%d=FAKE-bench-value-%0170d\n", scope, i, i)
	}
	return sb.String()
}

func buildBenchHome(b *testing.B, dir string) {
	b.Helper()
	start := time.Now()
	os.RemoveAll(dir)
	tmp := fmt.Sprintf("%s.tmp%d", dir, os.Getpid())
	os.RemoveAll(tmp)
	h := newHome(b)
	h.dir, h.cwd = tmp, tmp
	h.vars["HOME"] = tmp
	h.vars["XDG_CONFIG_HOME"] = filepath.Join(tmp, "config")
	h.vars["XDG_DATA_HOME"] = filepath.Join(tmp, "data")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		b.Fatal(err)
	}
	h.ok("", "init")
	for p := 0; p <= benchProjects; p++ {
		f := filepath.Join(tmp, fmt.Sprintf("p%d.env", p))
		if err := os.WriteFile(f, []byte(benchEnvFile(p, benchPerScope)), 0o600); err != nil {
			b.Fatal(err)
		}
		if p == benchProjects {
			h.ok("", "import", f)
		} else {
			h.ok("", "import", "--scope", fmt.Sprintf("project:p%d", p), f)
		}
		os.Remove(f)
	}
	for c := 0; c < benchRotations; c++ {
		p := c % (benchProjects + 1)
		name := fmt.Sprintf("K_%d_%d", p, (c*7919)%benchPerScope)
		scope := "global"
		if p < benchProjects {
			scope = fmt.Sprintf("project:p%d", p)
		}
		h.ok(fmt.Sprintf("FAKE-rotated-%06d-%0170d", c, c), "rotate", "--scope", scope, name)
	}
	os.WriteFile(filepath.Join(tmp, "bench-complete"), nil, 0o600)
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	b.Logf("built 10k fixture %s in %v", dir, time.Since(start))
}

// BenchmarkGet is P1 in process: open the vault, resolve the name, decrypt
// one entry, append the read-log record, print the value.
func BenchmarkGet(b *testing.B) {
	h := benchHome(b, true)
	want := fmt.Sprintf("FAKE-bench-value-%0170d", 7)
	for b.Loop() {
		r := h.run("", "get", "K_50_7")
		if r.code != 0 || r.stdout != want {
			b.Fatalf("get: %d %q %s", r.code, r.stdout, r.stderr)
		}
	}
}

// BenchmarkSet is P2 in process: encrypt, validate, one commit (blob, the
// trees on the path, commit, ref CAS) and the one index entry, at 10k.
func BenchmarkSet(b *testing.B) {
	h := benchHome(b, true)
	gen := 0
	for b.Loop() {
		gen++
		r := h.run(fmt.Sprintf("FAKE-set-%d", gen), "set", "--scope", "project:p3", fmt.Sprintf("K_3_%d", gen%benchPerScope))
		if r.code != 0 {
			b.Fatalf("set: %d %s", r.code, r.stderr)
		}
	}
}

// BenchmarkLs is P3 warm: types and last-rotated for every entry from the
// metadata and rotation caches, decrypting nothing.
func BenchmarkLs(b *testing.B) {
	h := benchHome(b, true)
	h.ok("", "ls") // warm the caches
	for b.Loop() {
		r := h.run("", "ls")
		if r.code != 0 || strings.Count(r.stdout, "\n") < (benchProjects+1)*benchPerScope {
			b.Fatalf("ls: %d %d lines %s", r.code, strings.Count(r.stdout, "\n"), r.stderr)
		}
	}
}

// BenchmarkLsAfterCommit is the first ls after a set: the HEAD-keyed cache
// is stale, so metadata of the one new blob is decrypted and last-rotated is
// updated from the one new commit.
func BenchmarkLsAfterCommit(b *testing.B) {
	h := benchHome(b, true)
	h.ok("", "ls")
	gen := 0
	for b.Loop() {
		b.StopTimer()
		gen++
		h.ok(fmt.Sprintf("FAKE-ls-%d", gen), "set", "--scope", "project:p5", "K_5_1")
		b.StartTimer()
		if r := h.run("", "ls"); r.code != 0 {
			b.Fatalf("ls: %s", r.stderr)
		}
	}
}

// BenchmarkLastRotated is P4: last-rotated for every entry over 10k
// entries × 1k commits, cold (no cache: one history walk) and warm (cached
// by HEAD), and after one new commit (the cache is updated incrementally).
func BenchmarkLastRotated(b *testing.B) {
	h := benchHome(b, true)
	cache := filepath.Join(h.vault(), ".git", "tresor", "rotated.cache")
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			os.Remove(cache)
			benchRotated(b, h)
		}
	})
	b.Run("warm", func(b *testing.B) {
		benchRotated(b, h)
		for b.Loop() {
			benchRotated(b, h)
		}
	})
	b.Run("after-one-commit", func(b *testing.B) {
		gen := 0
		for b.Loop() {
			b.StopTimer()
			gen++
			h.ok(fmt.Sprintf("FAKE-inc-%d", gen), "set", "--scope", "project:p4", "K_4_1")
			b.StartTimer()
			benchRotated(b, h)
		}
	})
}

func benchRotated(b *testing.B, h *home) {
	v := openVault(b, h)
	defer v.Close()
	rot, err := v.LastRotated()
	if err != nil || len(rot) < (benchProjects+1)*benchPerScope {
		b.Fatalf("last rotated: %v, %d entries", err, len(rot))
	}
}

// BenchmarkLog is the `log` command over 1k commits of a 10k vault: the
// whole history, and one entry's.
func BenchmarkLog(b *testing.B) {
	h := benchHome(b, true)
	b.Run("vault", func(b *testing.B) {
		for b.Loop() {
			if r := h.run("", "log"); r.code != 0 {
				b.Fatalf("log: %s", r.stderr)
			}
		}
	})
	b.Run("entry", func(b *testing.B) {
		for b.Loop() {
			if r := h.run("", "log", "K_50_7"); r.code != 0 {
				b.Fatalf("log: %s", r.stderr)
			}
		}
	})
}

func openVault(b *testing.B, h *home) *repo.Vault {
	v, err := repo.Open(h.vault(), repo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return v
}
