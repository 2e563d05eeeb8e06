package watch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// startHooked starts a watcher that reports every flush on the returned
// channel: the batch then waiting for the consumer.
func startHooked(t *testing.T, root string, o Options, maxPaths int) (*Watcher, <-chan Change) {
	t.Helper()
	flushed := make(chan Change, 10000)
	o.Logf = t.Logf
	w, err := newWatcher(root, o, internals{maxPaths: maxPaths, afterFlush: func(c Change) { flushed <- c }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, flushed
}

// waitFlush waits for a flush whose waiting batch satisfies ok.
func waitFlush(t *testing.T, flushed <-chan Change, ok func(Change) bool) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case c := <-flushed:
			if ok(c) {
				return
			}
		case <-deadline:
			t.Fatal("timed out waiting for a flush")
		}
	}
}

func hasAll(c Change, paths ...string) bool {
	for _, p := range paths {
		if !slices.Contains(c.Paths, p) {
			return false
		}
	}
	return true
}

func TestSlowConsumerGetsMergedBatch(t *testing.T) {
	root := t.TempDir()
	w, flushed := startHooked(t, root, Options{Debounce: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond}, defaultMaxPaths)

	// Two separate flushes while nobody receives: the second merges into
	// the waiting batch instead of blocking the event reader.
	write(t, root, "a.age", "1")
	waitFlush(t, flushed, func(c Change) bool { return hasAll(c, "a.age") })
	write(t, root, "b.age", "1")
	waitFlush(t, flushed, func(c Change) bool { return hasAll(c, "a.age", "b.age") })
	c := <-w.Changes()
	if !slices.Equal(c.Paths, []string{"a.age", "b.age"}) || c.Rescan || c.Refs {
		t.Fatalf("merged batch = %+v", c)
	}
}

func TestPathCapCollapsesIntoRescan(t *testing.T) {
	root := t.TempDir()
	const limit = 10

	t.Run("one batch", func(t *testing.T) {
		w, _ := startHooked(t, root, Options{Debounce: 300 * time.Millisecond, MaxWait: time.Hour}, limit)
		for i := range 3 * limit {
			write(t, root, fmt.Sprintf("one%02d", i), "")
		}
		c := <-w.Changes()
		for !c.Rescan {
			if len(c.Paths) > limit {
				t.Fatalf("batch of %d paths, cap %d", len(c.Paths), limit)
			}
			c = <-w.Changes()
		}
		if c.Paths != nil {
			t.Fatalf("Rescan batch lists paths: %q", c.Paths)
		}
	})

	t.Run("merged batches", func(t *testing.T) {
		w, flushed := startHooked(t, root, Options{Debounce: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond}, limit)
		var first, second []string
		for i := range limit - 2 {
			first = append(first, fmt.Sprintf("m1-%02d", i))
			second = append(second, fmt.Sprintf("m2-%02d", i))
		}
		for _, p := range first {
			write(t, root, p, "")
		}
		waitFlush(t, flushed, func(c Change) bool { return hasAll(c, first...) })
		for _, p := range second {
			write(t, root, p, "")
		}
		waitFlush(t, flushed, func(c Change) bool { return c.Rescan })
		c := <-w.Changes()
		if !c.Rescan || c.Paths != nil {
			t.Fatalf("over-cap merge = %+v", c)
		}
		// And the feed goes on normally.
		write(t, root, "after", "")
		c = <-w.Changes()
		if !slices.Equal(c.Paths, []string{"after"}) || c.Rescan {
			t.Fatalf("after rescan = %+v", c)
		}
	})
}

func TestWatchErrorMeansRescan(t *testing.T) {
	// A stalled event reader: Ignore blocks the loop on "block", so the
	// kernel queue overflows while files keep coming; fsnotify then reports
	// ErrEventOverflow.
	root := t.TempDir()
	q := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		fmt.Sscan(string(b), &q)
	}
	release := make(chan struct{})
	var once sync.Once
	w := start(t, root, Options{Debounce: 20 * time.Millisecond, Ignore: func(rel string, isDir bool) bool {
		if rel == "block" {
			once.Do(func() { <-release })
		}
		return false
	}})
	mkdir(t, root, "moved")
	write(t, root, "block", "")
	files := q/2 + 8000 // two events each, plus fsnotify's buffers
	for i := range files {
		write(t, root, fmt.Sprintf("f%06d", i), "x")
	}
	// Lost in the overflow: a new directory, and a rename whose old name
	// is taken again by a new directory.
	mkdir(t, root, "late")
	if err := os.Rename(filepath.Join(root, "moved"), filepath.Join(root, "a-moved")); err != nil {
		t.Fatal(err)
	}
	mkdir(t, root, "moved")
	close(release)
	collect(t, w, func(s *seen) bool { return s.rescan })
	// The rescan watched the tree afresh, under the current names.
	write(t, root, "late/a.age", "")
	write(t, root, "moved/b.age", "")
	write(t, root, "a-moved/c.age", "")
	write(t, root, "sentinel", "")
	s := collect(t, w, func(s *seen) bool { return s.has("sentinel") })
	if !s.has("late/a.age", "moved/b.age", "a-moved/c.age") || s.rescan {
		t.Fatalf("after the rescan: %v, rescan %v", keys(s.paths), s.rescan)
	}
}

func TestNothingOnStdout(t *testing.T) {
	r, wp, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = wp
	t.Cleanup(func() { os.Stdout = old })
	root := t.TempDir()
	mkdir(t, root, "a")
	w, err := New(root, Options{Debounce: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "a/x", "")
	os.Rename(filepath.Join(root, "a"), filepath.Join(root, "b")) // logs a rescan
	collect(t, w, func(s *seen) bool { return s.rescan })
	w.Close()
	os.Stdout = old
	wp.Close()
	out, _ := io.ReadAll(r)
	if len(out) > 0 {
		t.Fatalf("wrote to stdout: %q", out)
	}
}
