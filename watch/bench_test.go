package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkWriteToChange measures the latency from writing a file to
// receiving the Change naming it: the debounce plus the watcher's own cost.
func BenchmarkWriteToChange(b *testing.B) {
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, defaultDebounce} {
		b.Run(fmt.Sprintf("debounce=%v", d), func(b *testing.B) {
			root := b.TempDir()
			for i := range 100 {
				dir := filepath.Join(root, fmt.Sprintf("scope%02d", i))
				if err := os.MkdirAll(dir, 0o700); err != nil {
					b.Fatal(err)
				}
			}
			w, err := New(root, Options{Debounce: d})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			// A new name each time, so that a late event of the previous
			// write can never satisfy the wait.
			n := 0
			for b.Loop() {
				n++
				rel := fmt.Sprintf("scope42/x%d.age", n)
				if err := os.WriteFile(filepath.Join(root, rel), []byte("x"), 0o600); err != nil {
					b.Fatal(err)
				}
				for c := range w.Changes() {
					if slices.Contains(c.Paths, rel) {
						break
					}
				}
			}
		})
	}
}

// BenchmarkNew measures starting a watcher over a 10,000-entry vault in
// 200 scope directories (the walk and one inotify watch per directory).
func BenchmarkNew(b *testing.B) {
	root := b.TempDir()
	for i := range 10000 {
		dir := filepath.Join(root, fmt.Sprintf("scope%03d", i%200))
		if i < 200 {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("e%05d.age", i)), []byte("x"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		w, err := New(root, Options{})
		if err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
}
