package mcpserve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// item is one entry of the working tree as the server holds it: decrypted
// once, kept until its file changes. Items are never modified after they
// are published; a change replaces the item.
type item struct {
	ref     repo.Ref
	path    string
	entry   *schemas.Entry // nil when err is set
	typ     *schemas.Type
	err     error       // why the entry cannot be served (decrypt, parse, validate)
	fi      fs.FileInfo // of the file when it was read, to skip unchanged files on rescan
	version uint64      // changes whenever the item is re-read with new content
}

// canary reports whether the entry is a decoy.
func (it *item) canary() bool { return it.entry != nil && it.entry.Fields["canary"] == "true" }

// snapshot is every entry of the working tree, by vault-relative path.
type snapshot struct {
	vault   *repo.Vault
	keyring *codec.Keyring
	keyErr  error
	report  func(format string, args ...any)

	mu      sync.RWMutex
	items   map[string]*item
	version uint64
	sorted  []*item // items by reference; nil after a change, rebuilt by all
}

func newSnapshot(v *repo.Vault, kr *codec.Keyring, keyErr error, report func(string, ...any)) *snapshot {
	return &snapshot{vault: v, keyring: kr, keyErr: keyErr, report: report, items: map[string]*item{}}
}

// read reads and decrypts one entry file; failures are kept on the item.
func (s *snapshot) read(ref repo.Ref, path string, fi fs.FileInfo) *item {
	it := &item{ref: ref, path: path, fi: fi}
	if s.keyring == nil {
		it.err = s.keyErr
		return it
	}
	l, err := s.vault.Load(ref, s.keyring)
	if err != nil {
		it.err = err
		return it
	}
	clear(l.Doc)
	cat, err := s.vault.Catalog()
	if err == nil {
		_, err = cat.Validate(l.Entry)
	}
	if err != nil {
		it.err = &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("invalid entry: %w", err)}
		return it
	}
	it.entry, it.typ = l.Entry, l.Type
	return it
}

// same reports whether two reads of a file hold the same entry.
func same(a, b *item) bool {
	if a == nil || b == nil || (a.err == nil) != (b.err == nil) {
		return false
	}
	if a.err != nil {
		return a.err.Error() == b.err.Error()
	}
	return a.entry.Type == b.entry.Type && fieldsEqual(a.entry, b.entry)
}

func fieldsEqual(a, b *schemas.Entry) bool {
	if len(a.Fields) != len(b.Fields) || len(a.Lists) != len(b.Lists) {
		return false
	}
	for k, v := range a.Fields {
		if w, ok := b.Fields[k]; !ok || v != w {
			return false
		}
	}
	for k, v := range a.Lists {
		w, ok := b.Lists[k]
		if !ok || len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

// unchanged reports whether the file still looks as it did when read.
func unchanged(old fs.FileInfo, now fs.FileInfo) bool {
	return old != nil && now != nil && os.SameFile(old, now) && old.Size() == now.Size() && old.ModTime().Equal(now.ModTime())
}

// load reads the whole working tree, decrypting in parallel. Entries that
// fail are kept (so a read says why) and reported.
func (s *snapshot) load() {
	s.apply(s.scan(), true)
}

type job struct {
	ref  repo.Ref
	path string
	fi   fs.FileInfo
}

// scan lists the tree and returns what must be (re-)read: every file whose
// stat differs from the item held, plus the paths that disappeared (fi nil).
func (s *snapshot) scan() []job {
	list, problems := s.vault.List()
	for _, p := range problems {
		s.report("skipped: %v", p)
	}
	s.mu.RLock()
	seen := make(map[string]bool, len(list))
	var jobs []job
	for _, it := range list {
		seen[it.Path] = true
		fi, err := os.Lstat(filepath.Join(s.vault.Dir, filepath.FromSlash(it.Path)))
		if err != nil {
			continue
		}
		if old, ok := s.items[it.Path]; ok && unchanged(old.fi, fi) {
			continue
		}
		jobs = append(jobs, job{ref: it.Ref, path: it.Path, fi: fi})
	}
	for p, it := range s.items {
		if !seen[p] {
			jobs = append(jobs, job{ref: it.ref, path: p})
		}
	}
	s.mu.RUnlock()
	return jobs
}

// paths turns changed paths from the watcher into jobs. A directory means
// its whole subtree.
func (s *snapshot) paths(paths []string) (jobs []job, rescan bool) {
	for _, p := range paths {
		ref, ok := repo.PathRef(p)
		fi, err := os.Lstat(filepath.Join(s.vault.Dir, filepath.FromSlash(p)))
		if err == nil && fi.IsDir() {
			return nil, true
		}
		if !ok {
			s.mu.RLock()
			_, held := s.items[p]
			s.mu.RUnlock()
			if !held {
				continue
			}
		}
		if err != nil {
			jobs = append(jobs, job{ref: ref, path: p})
			continue
		}
		jobs = append(jobs, job{ref: ref, path: p, fi: fi})
	}
	return jobs, false
}

// apply runs the jobs (reads in parallel) and publishes the results. It
// returns whether anything changed.
func (s *snapshot) apply(jobs []job, initial bool) bool {
	if len(jobs) == 0 {
		return false
	}
	results := make([]*item, len(jobs))
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				if j.fi == nil {
					continue
				}
				if !j.fi.Mode().IsRegular() {
					results[i] = &item{ref: j.ref, path: j.path, fi: j.fi, err: &repo.EntryError{Ref: j.ref.String(), Err: repo.ErrSymlink}}
					continue
				}
				results[i] = s.read(j.ref, j.path, j.fi)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	changed := false
	var failed []string
	s.mu.Lock()
	s.sorted = nil
	for i, j := range jobs {
		it := results[i]
		old, had := s.items[j.path]
		if it == nil {
			if had {
				delete(s.items, j.path)
				changed = true
			}
			continue
		}
		if it.err != nil {
			failed = append(failed, oneLine(it.err.Error()))
		}
		if had && same(old, it) {
			it.version = old.version
			s.items[j.path] = it
			continue
		}
		s.version++
		it.version = s.version
		s.items[j.path] = it
		changed = true
	}
	s.mu.Unlock()
	sort.Strings(failed)
	if initial && s.keyring == nil && len(failed) > 0 {
		s.report("cannot decrypt any entry: %s", oneLine(s.keyErr.Error()))
		return changed
	}
	for _, f := range failed {
		s.report("skipped: %s", f)
	}
	return changed
}

// all returns the items, sorted by reference. The slice is shared and
// must not be modified; it is rebuilt only after a change.
func (s *snapshot) all() []*item {
	s.mu.RLock()
	out := s.sorted
	s.mu.RUnlock()
	if out != nil {
		return out
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sorted != nil {
		return s.sorted
	}
	type keyed struct {
		key string
		it  *item
	}
	ks := make([]keyed, 0, len(s.items))
	for _, it := range s.items {
		ks = append(ks, keyed{it.ref.String(), it})
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].key < ks[j].key })
	out = make([]*item, len(ks))
	for i, k := range ks {
		out[i] = k.it
	}
	s.sorted = out
	return out
}

// get returns the item of a reference.
func (s *snapshot) get(r repo.Ref) (*item, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, ok := s.items[r.Path()]
	return it, ok
}

// errNoEntry is the reason given for a reference that is not in the vault
// (or not visible to the client: the two are not told apart).
var errNoEntry = errors.New("no such entry")

func oneLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", ""))
	return strings.ReplaceAll(s, "\n", "; ")
}
