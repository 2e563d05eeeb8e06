package gitdb

import (
	"container/list"
	"errors"
	"runtime"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// PathChange is one file changed by a commit; a zero From means added, a
// zero To means deleted.
type PathChange struct {
	Path     string
	From, To plumbing.Hash
}

// CommitInfo describes one commit visited by Walk.
type CommitInfo struct {
	Hash    plumbing.Hash
	Author  Signature
	Message string
	// Trailers holds the "Key: value" lines of the message's last
	// paragraph (git trailers). A key given several times has its values
	// joined with "\n".
	Trailers map[string]string
	Parents  int
	// Changes lists the files that differ from the first parent (for the
	// root commit: every file), in git's tree order.
	Changes []PathChange
}

// Walk visits commits newest first along the first-parent chain from HEAD
// (as `git log --first-parent`), each with the files it changed against its
// first parent. Returning ErrStop from fn ends the walk early (Walk returns
// nil); any other error is returned. fn is called from Walk's goroutine,
// one commit at a time, in order.
//
// prefix, if not empty, is a slash path (a directory or a file, matched by
// whole segments) that restricts the diff to that subtree; commits that
// change nothing there are skipped, like `git log --first-parent -- prefix`.
//
// The diff is a hand-written tree differ that merge-joins entries by name
// and descends only into subtrees whose hashes differ, so the cost of a
// commit is proportional to what it changed, not to the size of the tree.
// Inflating tree objects dominates that cost, so consecutive chunks of the
// chain are diffed on several goroutines while fn consumes them in order.
func (s *Store) Walk(prefix string, fn func(*CommitInfo) error) error {
	segs, err := splitPrefix(prefix)
	if err != nil {
		return err
	}
	head, ok, err := s.Head()
	if err != nil || !ok {
		return err
	}

	type result struct {
		infos []*CommitInfo
		err   error
	}
	type chunk struct {
		commits []*object.Commit
		res     chan result
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	done := make(chan struct{})
	jobs := make(chan *chunk, workers)
	order := make(chan *chunk, 2*workers)
	var wg sync.WaitGroup
	cache := newTreeCache(walkCacheBudget)

	// The producer reads the commit chain (cheap) and cuts it into chunks,
	// small at first so that an early ErrStop wastes little work.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		h, size := head, 4
		for {
			ch := &chunk{res: make(chan result, 1)}
			last := false
			for len(ch.commits) < size {
				c, err := s.readCommit(h)
				if err != nil {
					ch.res <- result{err: err}
					select {
					case order <- ch:
					case <-done:
					}
					return
				}
				ch.commits = append(ch.commits, c)
				if len(c.ParentHashes) == 0 {
					last = true
					break
				}
				h = c.ParentHashes[0]
			}
			select {
			case order <- ch:
			case <-done:
				return
			}
			select {
			case jobs <- ch:
			case <-done:
				return
			}
			if last {
				return
			}
			size = min(2*size, 64)
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range jobs {
				infos, err := s.diffChunk(segs, ch.commits, cache, done)
				ch.res <- result{infos, err}
			}
		}()
	}
	stop := func() {
		close(done)
		wg.Wait()
	}
	for ch := range order {
		r := <-ch.res
		if r.err != nil {
			stop()
			return r.err
		}
		for _, info := range r.infos {
			if err := fn(info); err != nil {
				stop()
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
	}
	stop()
	return nil
}

// walkCacheBudget bounds the memory of Walk's tree cache.
const walkCacheBudget = 48 << 20

// diffChunk diffs consecutive first-parent commits (each commit's parent is
// the next one, except for the last) and returns the CommitInfos to report.
func (s *Store) diffChunk(segs []string, commits []*object.Commit, cache *treeCache, done <-chan struct{}) ([]*CommitInfo, error) {
	d := &differ{s: s, cache: cache}
	var infos []*CommitInfo
	for i, c := range commits {
		select {
		case <-done:
			return nil, errors.New("walk canceled")
		default:
		}
		parentTree := plumbing.ZeroHash
		switch {
		case len(c.ParentHashes) == 0:
		case i+1 < len(commits):
			parentTree = commits[i+1].TreeHash
		default:
			p, err := s.readCommit(c.ParentHashes[0])
			if err != nil {
				return nil, err
			}
			parentTree = p.TreeHash
		}
		var changes []PathChange
		var err error
		if segs == nil {
			err = d.diffTree("", c.TreeHash, parentTree, &changes)
		} else {
			err = d.diffPrefix(segs, c.TreeHash, parentTree, &changes)
		}
		if err != nil {
			return nil, err
		}
		if segs != nil && len(changes) == 0 {
			continue
		}
		infos = append(infos, &CommitInfo{
			Hash:     c.Hash,
			Author:   Signature{Name: c.Author.Name, Email: c.Author.Email, When: c.Author.When},
			Message:  c.Message,
			Trailers: parseTrailers(c.Message),
			Parents:  len(c.ParentHashes),
			Changes:  changes,
		})
	}
	return infos, nil
}

// differ diffs trees through a treeCache.
type differ struct {
	s     *Store
	cache *treeCache
}

func (d *differ) tree(h plumbing.Hash) ([]treeEntry, error) {
	if h.IsZero() || h == emptyTree {
		return nil, nil
	}
	if es, ok := d.cache.get(h); ok {
		return es, nil
	}
	es, err := d.s.readTree(h)
	if err != nil {
		return nil, err
	}
	d.cache.put(h, es)
	return es, nil
}

// treeCache keeps parsed trees for one Walk, shared by its goroutines, up
// to a byte budget (least recently used trees are dropped first). A
// directory's tree is typically read as the parent side of the commit that
// changed it last and needed again, unchanged, as the new side of the
// commit that changed it before: with the cache every distinct tree is
// inflated about once, which halves the work of a walk.
type treeCache struct {
	mu     sync.Mutex
	budget int
	size   int
	m      map[plumbing.Hash]*list.Element
	lru    list.List // of *cachedTree, most recent at the front
}

type cachedTree struct {
	h    plumbing.Hash
	es   []treeEntry
	size int
}

func newTreeCache(budget int) *treeCache {
	return &treeCache{budget: budget, m: map[plumbing.Hash]*list.Element{}}
}

func (c *treeCache) get(h plumbing.Hash) ([]treeEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[h]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cachedTree).es, true
	}
	return nil, false
}

func (c *treeCache) put(h plumbing.Hash, es []treeEntry) {
	size := 64
	for i := range es {
		size += 48 + len(es[i].name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[h]; ok {
		return
	}
	c.m[h] = c.lru.PushFront(&cachedTree{h, es, size})
	c.size += size
	for c.size > c.budget && c.lru.Len() > 1 {
		el := c.lru.Back()
		ct := el.Value.(*cachedTree)
		c.lru.Remove(el)
		delete(c.m, ct.h)
		c.size -= ct.size
	}
}

// diffTree appends the file changes between trees newH and oldH (either may
// be zero: absent), whose entries live under dir.
func (d *differ) diffTree(dir string, newH, oldH plumbing.Hash, out *[]PathChange) error {
	if newH == oldH {
		return nil
	}
	ne, err := d.tree(newH)
	if err != nil {
		return err
	}
	oe, err := d.tree(oldH)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ne) || j < len(oe) {
		var c int
		switch {
		case i == len(ne):
			c = 1
		case j == len(oe):
			c = -1
		default:
			c = cmpTreeNames(ne[i].name, ne[i].isDir(), oe[j].name, oe[j].isDir())
		}
		switch {
		case c < 0:
			err = d.side(joinPath(dir, ne[i].name), &ne[i], true, out)
			i++
		case c > 0:
			err = d.side(joinPath(dir, oe[j].name), &oe[j], false, out)
			j++
		default:
			// Most entries are unchanged: compare before building a path.
			if ne[i].hash != oe[j].hash || ne[i].mode != oe[j].mode {
				err = d.pair(joinPath(dir, ne[i].name), &ne[i], &oe[j], out)
			}
			i++
			j++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pair diffs two entries with the same name and kind.
func (d *differ) pair(p string, n, o *treeEntry, out *[]PathChange) error {
	if n.hash == o.hash && n.mode == o.mode {
		return nil
	}
	if n.isDir() {
		return d.diffTree(p, n.hash, o.hash, out)
	}
	*out = append(*out, PathChange{Path: p, From: o.hash, To: n.hash})
	return nil
}

// side reports an entry present on one side only (added when isNew).
func (d *differ) side(p string, e *treeEntry, isNew bool, out *[]PathChange) error {
	if e.isDir() {
		if isNew {
			return d.diffTree(p, e.hash, plumbing.ZeroHash, out)
		}
		return d.diffTree(p, plumbing.ZeroHash, e.hash, out)
	}
	if isNew {
		*out = append(*out, PathChange{Path: p, To: e.hash})
	} else {
		*out = append(*out, PathChange{Path: p, From: e.hash})
	}
	return nil
}

// diffPrefix is diffTree restricted to the path segs (a file, a directory,
// or both in different commits).
func (d *differ) diffPrefix(segs []string, newRoot, oldRoot plumbing.Hash, out *[]PathChange) error {
	newH, oldH := newRoot, oldRoot
	for _, seg := range segs[:len(segs)-1] {
		if newH == oldH {
			return nil
		}
		var err error
		if newH, err = d.child(newH, seg, true); err != nil {
			return err
		}
		if oldH, err = d.child(oldH, seg, true); err != nil {
			return err
		}
	}
	if newH == oldH {
		return nil
	}
	last := segs[len(segs)-1]
	p := strings.Join(segs, "/")
	ne, err := d.tree(newH)
	if err != nil {
		return err
	}
	oe, err := d.tree(oldH)
	if err != nil {
		return err
	}
	// git order: the file "x" sorts before the directory "x/".
	for _, dir := range []bool{false, true} {
		n, nok := exactEntry(ne, last, dir)
		o, ook := exactEntry(oe, last, dir)
		switch {
		case nok && ook:
			err = d.pair(p, &n, &o, out)
		case nok:
			err = d.side(p, &n, true, out)
		case ook:
			err = d.side(p, &o, false, out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// child returns the hash of subdirectory name of tree h (zero if absent).
func (d *differ) child(h plumbing.Hash, name string, dir bool) (plumbing.Hash, error) {
	es, err := d.tree(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	e, ok := exactEntry(es, name, dir)
	if !ok {
		return plumbing.ZeroHash, nil
	}
	return e.hash, nil
}

// exactEntry finds the entry called name that is (or is not) a directory.
func exactEntry(es []treeEntry, name string, dir bool) (treeEntry, bool) {
	for i := range es {
		if es[i].name == name && es[i].isDir() == dir {
			return es[i], true
		}
	}
	return treeEntry{}, false
}

// parseTrailers returns the git trailers ("Key: value" lines) of the last
// paragraph of msg, or nil if that paragraph is not a trailer block.
func parseTrailers(msg string) map[string]string {
	msg = strings.TrimRight(strings.ReplaceAll(msg, "\r\n", "\n"), "\n \t")
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return nil // a subject alone has no trailers
	}
	block := strings.TrimLeft(msg[i+2:], "\n")
	m := map[string]string{}
	last := ""
	for _, line := range strings.Split(block, "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && last != "" {
			m[last] += " " + strings.TrimSpace(line) // folded continuation
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !isTrailerKey(k) {
			return nil
		}
		v = strings.TrimSpace(v)
		if prev, dup := m[k]; dup {
			v = prev + "\n" + v
		}
		m[k] = v
		last = k
	}
	return m
}

func isTrailerKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
