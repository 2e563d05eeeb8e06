package gitdb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// benchValue is a ~200-byte fake entry (never a real-looking secret).
func benchValue(i, gen int) []byte {
	return []byte(fmt.Sprintf("age-encryption.org/v1 FAKE-BENCH-ENTRY %06d gen %06d %s", i, gen, bytes.Repeat([]byte("x"), 140)))
}

// benchPath spreads entries over global/ and projects/p0..p49/ (51 dirs).
func benchPath(i int) string {
	d := i % 51
	if d == 50 {
		return fmt.Sprintf("global/e%05d.age", i)
	}
	return fmt.Sprintf("projects/p%d/e%05d.age", d, i)
}

// benchVault creates a vault with n files in one commit.
func benchVault(b *testing.B, dir string, n int) *Store {
	b.Helper()
	s, err := Init(dir, "main")
	if err != nil {
		b.Fatal(err)
	}
	chs := make([]Change, n)
	for i := range chs {
		chs[i] = Change{Path: benchPath(i), Data: benchValue(i, 0)}
	}
	unlock, err := s.Lock(context.Background(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer unlock()
	if _, err := s.Commit(chs, "initial", testAuthor); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkCommitOne measures P2: one changed file, committed, with the
// work-tree file, the index entry and the ref all updated (Lock included,
// as `tresor set` takes it).
func BenchmarkCommitOne(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			s := benchVault(b, filepath.Join(b.TempDir(), "v"), n)
			defer s.Close()
			gen := 1
			for b.Loop() {
				i := (gen * 7919) % n
				unlock, err := s.Lock(context.Background(), time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Commit([]Change{{Path: benchPath(i), Data: benchValue(i, gen)}}, "set", testAuthor); err != nil {
					b.Fatal(err)
				}
				unlock()
				gen++
			}
		})
	}
}

// BenchmarkIndexSplice measures the in-memory index update at 10k entries
// (parse, splice one entry, trailer), against go-git's decode+encode.
func BenchmarkIndexSplice(b *testing.B) {
	s := benchVault(b, filepath.Join(b.TempDir(), "v"), 10000)
	defer s.Close()
	data, err := os.ReadFile(filepath.Join(s.Dir(), ".git/index"))
	if err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Lstat(filepath.Join(s.Dir(), benchPath(42)))
	u := []indexUpdate{{path: benchPath(42), hash: blobHash([]byte("new")), mode: 0o100644, st: statOf(fi)}}
	b.Run("splice", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			p, err := parseIndex(data)
			if err != nil {
				b.Fatal(err)
			}
			if _, changed := spliceIndex(p, u); !changed {
				b.Fatal("no change")
			}
		}
	})
	b.Run("go-git-decode-encode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			idx := &index.Index{}
			if err := index.NewDecoder(bytes.NewReader(data)).Decode(idx); err != nil {
				b.Fatal(err)
			}
			e, _ := idx.Entry(benchPath(42))
			e.Hash = u[0].hash
			var buf bytes.Buffer
			if err := index.NewEncoder(&buf).Encode(idx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// walkFixture returns a vault with files entries and commits commits (one
// changed file each after the first), built once with Commit and cached
// under os.TempDir() so reruns are fast.
func walkFixture(b *testing.B, files, commits int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("tresor-gitdb-bench-walk-%dx%d-v1", files, commits))
	if _, err := os.Stat(filepath.Join(dir, ".git", "bench-complete")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	tmp := dir + fmt.Sprintf(".tmp%d", os.Getpid())
	os.RemoveAll(tmp)
	start := time.Now()
	s := benchVault(b, tmp, files)
	unlock, err := s.Lock(context.Background(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	for c := 1; c < commits; c++ {
		i := (c * 7919) % files
		msg := fmt.Sprintf("set %s\n\nTresor-Op: set\nTresor-Entry: %s\nTresor-Value-Changed: yes", benchPath(i), benchPath(i))
		if _, err := s.Commit([]Change{{Path: benchPath(i), Data: benchValue(i, c)}}, msg, testAuthor); err != nil {
			b.Fatal(err)
		}
	}
	unlock()
	s.Close()
	os.WriteFile(filepath.Join(tmp, ".git", "bench-complete"), nil, 0o600)
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	b.Logf("built walk fixture %s in %v", dir, time.Since(start))
	return dir
}

// BenchmarkWalk measures P4 cold: one first-parent walk over 1k commits of
// a 10k-file vault, diffing every commit (the "last change of every file"
// computation must go back to the root commit, which created them all).
func BenchmarkWalk(b *testing.B) {
	dir := walkFixture(b, 10000, 1000)
	b.Run("tresor", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(dir) // cold: a fresh Store, empty object cache
			if err != nil {
				b.Fatal(err)
			}
			last := map[string]bool{}
			n := 0
			err = s.Walk("", func(ci *CommitInfo) error {
				n++
				for _, c := range ci.Changes {
					last[c.Path] = true
				}
				return nil
			})
			s.Close()
			if err != nil || n != 1000 || len(last) != 10000 {
				b.Fatalf("walk: %v, %d commits, %d paths", err, n, len(last))
			}
		}
	})
	// The same history after `git gc` (everything packed, deltified).
	packed := dir + "-packed"
	if _, err := os.Stat(filepath.Join(packed, ".git", "bench-complete")); err != nil {
		os.RemoveAll(packed)
		if out, err := exec.Command("cp", "-a", dir, packed).CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		git(b, packed, "gc", "-q", "--prune=now")
	}
	b.Run("tresor-packed", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(packed)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			err = s.Walk("", func(ci *CommitInfo) error { n++; return nil })
			s.Close()
			if err != nil || n != 1000 {
				b.Fatalf("walk: %v, %d commits", err, n)
			}
		}
	})
	b.Run("git-log-baseline", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("git", "-C", dir, "log", "--name-only", "--format=%ct")
			cmd.Env = gitEnv
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCommitAll rewrites every file of a 10k vault in one commit (the
// shape of `team add`, P11, minus the encryption).
func BenchmarkCommitAll(b *testing.B) {
	s := benchVault(b, filepath.Join(b.TempDir(), "v"), 10000)
	defer s.Close()
	gen := 1
	for b.Loop() {
		chs := make([]Change, 10000)
		for i := range chs {
			chs[i] = Change{Path: benchPath(i), Data: benchValue(i, gen)}
		}
		if _, err := s.Commit(chs, "re-encrypt", testAuthor); err != nil {
			b.Fatal(err)
		}
		gen++
	}
}
