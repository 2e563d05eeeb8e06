// Package watch is a change feed over a vault's working tree: every
// directory under the root is watched with fsnotify (which is not
// recursive), new directories are added as they appear, editor and
// atomic-write temporary files are ignored, and the git refs (.git/HEAD,
// .git/refs/**, .git/packed-refs) are watched so that commits, checkouts and
// pulls are reported as well. Events are debounced into batches.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Change is one debounced batch of changes under the root.
type Change struct {
	// Paths are slash-separated, relative to the root, sorted and
	// de-duplicated: files created, written, removed or renamed (either
	// name of a rename). Whether a path still exists is for the consumer
	// to check. The one path below .git is .git/tresor/clients.yaml (the
	// client registry). Empty when Rescan is set.
	Paths []string
	// Refs is set when .git/HEAD, .git/refs/** or .git/packed-refs changed
	// (a commit, checkout, pull, reset).
	Refs bool
	// Rescan is set when events were lost (kernel queue overflow, a watch
	// error, a directory renamed, more changes than one batch holds): the
	// consumer must rescan everything.
	Rescan bool
}

// Options tune a Watcher. The zero value is usable.
type Options struct {
	// Debounce is the quiet period before a batch is sent (default 100ms).
	Debounce time.Duration
	// MaxWait bounds how long after its first event a batch is sent, even
	// while events keep coming (default 1s).
	MaxWait time.Duration
	// Ignore is an extra filter over paths in the working tree (rel is
	// slash-separated, relative to the root). Editor and renameio temp
	// files and .git internals other than the refs are always ignored. For
	// a removed or renamed-away path the type is unknown and Ignore is
	// asked with both values of isDir. An ignored directory is not watched.
	// It is called from the watcher's goroutine and must not block.
	Ignore func(rel string, isDir bool) bool
	// Logf receives diagnostics (never stdout); nil means silent.
	Logf func(format string, args ...any)
}

const (
	defaultDebounce = 100 * time.Millisecond
	defaultMaxWait  = time.Second
	// defaultMaxPaths bounds a batch; beyond it the batch collapses into
	// Rescan, so a slow consumer never makes the watcher grow unbounded.
	defaultMaxPaths = 1 << 14
)

// Watcher delivers Changes for one root until it is closed.
type Watcher struct {
	root     string // absolute, clean
	opt      Options
	maxPaths int
	hook     func(Change)
	fw       *fsnotify.Watcher
	out      chan Change
	done     chan struct{} // closed by Close
	exited   chan struct{} // closed when loop returns

	closeOnce sync.Once
	closeErr  error

	// Owned by loop (and by New before loop starts).
	dirs    map[string]bool // absolute paths of watched directories
	pending batch           // collecting events
	ready   *Change         // flushed, waiting for the consumer
	armed   bool            // quiet and maxWait timers running
	quiet   *time.Timer
	maxWait *time.Timer
}

type batch struct {
	paths  map[string]struct{}
	refs   bool
	rescan bool
}

func (b *batch) empty() bool { return len(b.paths) == 0 && !b.refs && !b.rescan }

// errClosed stops a directory walk when the watcher is closed.
var errClosed = errors.New("watch: closed")

// New watches every directory under root, and the refs of root/.git, and
// adds new directories as they appear. Close it when done.
func New(root string, o Options) (*Watcher, error) {
	return newWatcher(root, o, internals{maxPaths: defaultMaxPaths})
}

// internals are knobs for this package's tests.
type internals struct {
	maxPaths   int
	afterFlush func(Change) // called by the loop with the batch waiting for the consumer
}

func newWatcher(root string, o Options, in internals) (*Watcher, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("watch: %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch: %s: not a directory", abs)
	}
	if o.Debounce <= 0 {
		o.Debounce = defaultDebounce
	}
	if o.MaxWait <= 0 {
		o.MaxWait = defaultMaxWait
	}
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{
		root:     abs,
		opt:      o,
		maxPaths: in.maxPaths,
		hook:     in.afterFlush,
		fw:       fw,
		out:      make(chan Change),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		dirs:     map[string]bool{},
		pending:  batch{paths: map[string]struct{}{}},
		quiet:    stoppedTimer(),
		maxWait:  stoppedTimer(),
	}
	if err := w.walk(abs, walkInitial); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch: %w", err)
	}
	if err := w.watchGit(); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch: %w", err)
	}
	go w.loop()
	return w, nil
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// Changes returns the feed. It is closed after Close. While the consumer
// is not receiving, later batches merge into the one waiting.
func (w *Watcher) Changes() <-chan Change { return w.out }

// Close stops the watcher and closes Changes. It is safe to call more than
// once and from any goroutine.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		w.closeErr = w.fw.Close()
		<-w.exited
	})
	return w.closeErr
}

func (w *Watcher) logf(format string, args ...any) {
	if w.opt.Logf != nil {
		w.opt.Logf(format, args...)
	}
}

func (w *Watcher) loop() {
	defer close(w.exited)
	defer close(w.out)
	defer w.quiet.Stop()
	defer w.maxWait.Stop()
	for {
		var out chan<- Change
		var next Change
		if w.ready != nil {
			out, next = w.out, *w.ready
		}
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.handleError(err)
		case <-w.quiet.C:
			w.flush()
		case <-w.maxWait.C:
			w.flush()
		case out <- next:
			w.ready = nil
		}
	}
}

// touch (re)starts the debounce for the pending batch.
func (w *Watcher) touch() {
	if !w.armed {
		w.armed = true
		w.maxWait.Reset(w.opt.MaxWait)
	}
	w.quiet.Reset(w.opt.Debounce)
}

func (w *Watcher) addPath(rel string) {
	w.touch()
	if w.pending.rescan {
		return
	}
	if _, ok := w.pending.paths[rel]; ok {
		return
	}
	if len(w.pending.paths) >= w.maxPaths {
		w.setRescan("more than %d changed paths in one batch", w.maxPaths)
		return
	}
	w.pending.paths[rel] = struct{}{}
}

func (w *Watcher) setRefs() {
	w.touch()
	w.pending.refs = true
}

func (w *Watcher) setRescan(format string, args ...any) {
	w.logf("watch: rescan: "+format, args...)
	w.touch()
	w.pending.rescan = true
	w.pending.paths = map[string]struct{}{}
}

// flush moves the pending batch to the consumer, merging it into a batch
// the consumer has not taken yet.
func (w *Watcher) flush() {
	w.quiet.Stop()
	w.maxWait.Stop()
	w.armed = false
	if w.pending.empty() {
		return
	}
	c := w.ready
	if c == nil {
		c = &Change{}
	}
	c.Refs = c.Refs || w.pending.refs
	c.Rescan = c.Rescan || w.pending.rescan
	if !c.Rescan {
		for p := range w.pending.paths {
			c.Paths = append(c.Paths, p)
		}
		slices.Sort(c.Paths)
		c.Paths = slices.Compact(c.Paths)
		if len(c.Paths) > w.maxPaths {
			w.logf("watch: rescan: the consumer is behind by more than %d paths", w.maxPaths)
			c.Rescan = true
		}
	}
	if c.Rescan {
		c.Paths = nil
	}
	w.ready = c
	w.pending = batch{paths: map[string]struct{}{}}
	if w.hook != nil {
		w.hook(*c)
	}
}

func (w *Watcher) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.setRescan("event queue overflow")
	} else {
		w.setRescan("%v", err)
	}
	// Directories created while events were lost have no watch yet.
	w.resync()
}

// resync watches the tree afresh. Every old watch goes first: a directory
// renamed while events were lost keeps its watch under the old name, and
// adding the new name would only find that stale watch again.
func (w *Watcher) resync() {
	for d := range w.dirs {
		_ = w.fw.Remove(d)
	}
	clear(w.dirs)
	if err := w.walk(w.root, walkResync); err != nil && !errors.Is(err, errClosed) {
		w.logf("watch: rescan walk: %v", err)
	}
	if err := w.watchGit(); err != nil && !errors.Is(err, errClosed) {
		w.logf("watch: rescan .git: %v", err)
	}
}

// rel returns name relative to the root, slash-separated ("" for the root).
func (w *Watcher) rel(name string) (string, bool) {
	r, err := filepath.Rel(w.root, name)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	if r == "." {
		return "", true
	}
	return filepath.ToSlash(r), true
}

func (w *Watcher) ignored(rel string, isDir bool) bool {
	return w.opt.Ignore != nil && w.opt.Ignore(rel, isDir)
}

func (w *Watcher) handle(ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod || ev.Op == 0 {
		return // noise: indexers, antivirus, touch -m on a dir
	}
	rel, ok := w.rel(ev.Name)
	if !ok {
		return
	}
	if rel == ".git" || strings.HasPrefix(rel, ".git/") {
		w.handleGit(rel, ev)
		return
	}
	gone := ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	if rel == "" {
		if gone {
			w.setRescan("the root %s was removed or renamed", w.root)
		}
		return
	}
	if w.dirs[ev.Name] && gone {
		w.drop(ev.Name)
		if ev.Has(fsnotify.Rename) {
			// The files below went with it and no event names them.
			w.setRescan("directory %s renamed", rel)
		}
		return
	}
	if hasGitSegment(rel) || tempName(path.Base(rel)) {
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			// Already watched: a walk of its parent got here first and
			// reported its files then.
			if !w.dirs[ev.Name] && !w.ignored(rel, true) {
				w.walkLive(ev.Name)
			}
			return
		}
	}
	if gone && w.ignored(rel, true) || w.ignored(rel, false) {
		return
	}
	w.addPath(rel)
}

// walkLive adds a directory that appeared, reporting every file in it:
// files created before its watch was added have no event of their own.
func (w *Watcher) walkLive(dir string) {
	if err := w.walk(dir, walkNew); err != nil && !errors.Is(err, errClosed) {
		w.setRescan("%v", err)
	}
}

func (w *Watcher) handleGit(rel string, ev fsnotify.Event) {
	gone := ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	if rel == ".git" {
		if gone {
			w.drop(ev.Name)
			w.setRescan(".git removed")
		} else if ev.Has(fsnotify.Create) {
			if err := w.watchGit(); err != nil && !errors.Is(err, errClosed) {
				w.setRescan("%v", err)
			}
			w.setRefs()
		}
		return
	}
	switch classifyGit(rel) {
	case gitRefs, gitRefsDir:
		if gone && w.dirs[ev.Name] {
			w.drop(ev.Name)
		} else if ev.Has(fsnotify.Create) {
			if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
				// A new ref directory (refs/heads/feature/, refs/remotes/x/):
				// refs written in it before the watch are covered by Refs.
				if err := w.walkDirs(ev.Name); err != nil && !errors.Is(err, errClosed) {
					w.setRescan("%v", err)
				}
			}
		}
		w.setRefs()
	case gitStateDir:
		if gone {
			w.drop(ev.Name)
			w.addPath(clientsPath)
		} else if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() && ev.Has(fsnotify.Create) {
			if err := w.add(ev.Name); err != nil && !errors.Is(err, errClosed) {
				w.setRescan("%v", err)
			}
			// Written before the watch was added?
			if _, err := os.Lstat(filepath.Join(ev.Name, "clients.yaml")); err == nil {
				w.addPath(clientsPath)
			}
		}
	case gitClients:
		w.addPath(clientsPath)
	}
}

// watchGit watches root/.git (for HEAD, packed-refs), every directory of
// .git/refs and .git/tresor. A missing or non-directory .git is fine.
func (w *Watcher) watchGit() error {
	g := filepath.Join(w.root, ".git")
	if fi, err := os.Lstat(g); err != nil || !fi.IsDir() {
		if err == nil {
			w.logf("watch: %s is not a directory (a linked worktree?): refs are not watched", g)
		}
		return nil
	}
	if err := w.add(g); err != nil {
		return err
	}
	if err := w.walkDirs(filepath.Join(g, "refs")); err != nil {
		return err
	}
	st := filepath.Join(g, "tresor")
	if fi, err := os.Lstat(st); err == nil && fi.IsDir() {
		return w.add(st)
	}
	return nil
}

// walkDirs watches dir and every directory below it (for .git/refs).
func (w *Watcher) walkDirs(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if err := w.add(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir // gone again before we got to it
			}
			return err
		}
		return nil
	})
	return err
}

type walkMode int

const (
	walkInitial walkMode = iota // New: watch everything, report nothing
	walkNew                     // a directory appeared: watch and report its files
	walkResync                  // after lost events: watch everything again
)

// walk watches dir and the directories below it that are not ignored.
func (w *Watcher) walk(dir string, mode walkMode) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		select {
		case <-w.done:
			return errClosed
		default:
		}
		if err != nil {
			if mode != walkInitial && errors.Is(err, fs.ErrNotExist) {
				return nil // gone again before we got to it
			}
			return err
		}
		rel, _ := w.rel(p)
		if rel == ".git" {
			if d.IsDir() {
				return fs.SkipDir // watchGit's job
			}
			return nil // a linked worktree's "gitdir:" file
		}
		if rel != "" && (hasGitSegment(rel) || tempName(d.Name())) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			if mode == walkNew && !w.ignored(rel, false) {
				w.addPath(rel)
			}
			return nil
		}
		if rel != "" && w.ignored(rel, true) {
			return fs.SkipDir
		}
		if mode == walkNew && w.dirs[p] {
			return fs.SkipDir // already watched, and its files scanned then
		}
		if err := w.add(p); err != nil {
			if mode != walkInitial && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		return nil
	})
}

// add watches one directory.
func (w *Watcher) add(dir string) error {
	if err := w.fw.Add(dir); err != nil {
		if errors.Is(err, fsnotify.ErrClosed) {
			return errClosed
		}
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("watch %s: %w (too many directories: raise fs.inotify.max_user_watches)", dir, err)
		}
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	w.dirs[dir] = true
	return nil
}

// drop forgets the watches of dir and every directory below it. A
// renamed directory keeps its inotify watches under the old names, so they
// must go before the new name is walked.
func (w *Watcher) drop(dir string) {
	prefix := dir + string(filepath.Separator)
	for d := range w.dirs {
		if d == dir || strings.HasPrefix(d, prefix) {
			delete(w.dirs, d)
			// The watch may already be gone with the directory.
			_ = w.fw.Remove(d)
		}
	}
}
