package gitdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testHook, when set by a test, is called at named points of a write so a
// test can crash the process exactly there. It is nil in production.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

// Change is one file change of a commit. Path is slash-separated and
// relative to the repository root. Files are written with mode 0600 and
// missing directories are created with mode 0700.
type Change struct {
	Path   string
	Data   []byte
	Delete bool // remove Path (it must exist in HEAD); Data is ignored
}

// Signature identifies the author (and committer) of a commit. A zero When
// means now.
type Signature struct {
	Name, Email string
	When        time.Time
}

// Commit applies changes to the work tree and makes exactly one commit on
// HEAD's branch (the first commit if the branch is unborn), with author and
// committer set to author. It also updates the index entries of the changed
// paths, so `git status` stays clean. The caller must hold Lock.
//
// On error nothing has changed: the work tree, index and branch are as
// before (an interrupted call is repaired by the next Lock, see Recover).
// ErrConcurrentUpdate means the branch moved under us (a writer that did not
// take Lock); the changes were rolled back. The one exception is an error
// returned together with a non-zero hash: the commit was made but tidying
// up after it failed (`doctor` repairs that).
func (s *Store) Commit(changes []Change, message string, author Signature) (plumbing.Hash, error) {
	chs, err := prepareChanges(changes)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}
	if strings.TrimSpace(message) == "" {
		return plumbing.ZeroHash, errors.New("commit: empty commit message")
	}
	if err := checkSignature(author); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}
	if author.When.IsZero() {
		author.When = time.Now()
	}
	ref, err := s.headRef()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}
	old, hadOld, err := s.resolveRef(ref)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}
	// Refuse symlinks (and files in a directory's place) before anything
	// is written.
	for _, c := range chs {
		fi, err := s.inspectPath(c.Path)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
		}
		if fi != nil && fi.IsDir() {
			return plumbing.ZeroHash, fmt.Errorf("commit: %s is a directory in the work tree", c.Path)
		}
	}

	paths := make([]string, len(chs))
	for i, c := range chs {
		paths[i] = c.Path
	}
	j := s.newJournal("commit", ref, old, hadOld, paths)
	if err := s.writeJournal(j); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}

	hook("journaled")
	h, moved, err := s.commit(j, chs, message, author, old, hadOld)
	if err == nil {
		return h, s.removeJournal()
	}
	if moved {
		// The branch moved: the commit exists. Bring the work tree and
		// index in line with it (roll forward) and report the trouble.
		if _, rerr := s.syncPaths(j, paths); rerr != nil {
			return h, fmt.Errorf("commit %s was made but updating the work tree/index failed: %v (%w); run `tresor doctor`", h, rerr, err)
		}
		return h, s.removeJournal()
	}
	// Nothing was committed: roll the touched paths back to the branch's
	// current commit.
	if _, rerr := s.syncPaths(j, paths); rerr != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w (restoring the work tree also failed: %v; the next command or `tresor doctor` will retry)", err, rerr)
	}
	if rerr := s.removeJournal(); rerr != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w (%v)", err, rerr)
	}
	return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
}

// commit does the work of Commit once the journal is written. moved reports
// whether the branch ref was swapped (the point of no return).
func (s *Store) commit(j *journal, chs []Change, message string, author Signature, old plumbing.Hash, hadOld bool) (plumbing.Hash, bool, error) {
	// 1. Objects: blobs, the trees on the changed paths, the commit.
	oldTree := plumbing.ZeroHash
	var parents []plumbing.Hash
	if hadOld {
		t, err := s.commitTree(old)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		oldTree = t
		parents = []plumbing.Hash{old}
	}
	blobs := make([]plumbing.Hash, len(chs))
	root, err := s.buildTrees(oldTree, chs, blobs)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	sig := object.Signature{Name: author.Name, Email: author.Email, When: author.When}
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: root, ParentHashes: parents}
	obj := s.objs.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("encode commit: %w", err)
	}
	h, err := s.objs.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("write commit: %w", err)
	}

	hook("objects")

	// 2. Work tree: deletions first (they prune emptied directories, which
	// must not race with writes creating them), then the writes.
	ups, err := s.applyWorktree(chs, blobs)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}

	// 3. Take index.lock (the new index is ready inside it), then the ref
	// lock, in git's order, so that a `git commit` running now cannot
	// interleave with us.
	hook("worktree")
	il, err := s.lockIndex(s.gitPath(j.IndexTmp), ups, root, gitLockWait)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	hook("index-locked")
	rl, err := s.lockRef(j, h, old, hadOld)
	if err != nil {
		il.release()
		return plumbing.ZeroHash, false, err
	}
	hook("ref-locked")
	if err := rl.commit(); err != nil {
		rl.release()
		il.release()
		return plumbing.ZeroHash, false, err
	}
	hook("ref-moved")
	// 4. The commit is made; now publish the index.
	if il != nil {
		if err := il.commit(); err != nil {
			il.release()
			return h, true, err
		}
	}
	subject, _, _ := strings.Cut(message, "\n")
	reflogMsg := "commit: " + subject
	if !hadOld {
		reflogMsg = "commit (initial): " + subject
	}
	hook("index-moved")
	s.appendReflog(j.Ref, old, h, sig, reflogMsg, true)
	return h, true, nil
}

// prepareChanges validates changes and returns them sorted by path.
func prepareChanges(changes []Change) ([]Change, error) {
	if len(changes) == 0 {
		return nil, errors.New("no changes")
	}
	chs := append([]Change(nil), changes...)
	sort.Slice(chs, func(i, j int) bool { return chs[i].Path < chs[j].Path })
	for i, c := range chs {
		if err := checkPath(c.Path); err != nil {
			return nil, err
		}
		if i > 0 && chs[i-1].Path == c.Path {
			return nil, fmt.Errorf("path %q changed twice", c.Path)
		}
	}
	// A path may not be both a file and a directory of another path.
	set := make(map[string]bool, len(chs))
	for _, c := range chs {
		set[c.Path] = true
	}
	for _, c := range chs {
		for d := c.Path; ; {
			i := strings.LastIndexByte(d, '/')
			if i < 0 {
				break
			}
			d = d[:i]
			if set[d] {
				return nil, fmt.Errorf("path %q is a file and also a directory of %q", d, c.Path)
			}
		}
	}
	return chs, nil
}

// checkSignature refuses identities git would store corruptly.
func checkSignature(sig Signature) error {
	if strings.TrimSpace(sig.Name) == "" || strings.TrimSpace(sig.Email) == "" {
		return errors.New("author name and email are required")
	}
	if strings.ContainsAny(sig.Name+sig.Email, "<>\n\x00") {
		return errors.New("author name and email must not contain '<', '>', newlines or NUL")
	}
	return nil
}

// changeDir is the part of a change set below one directory.
type changeDir struct {
	files map[string]int // name -> index into the change slice
	dirs  map[string]*changeDir
}

// buildTrees writes a blob per written file (hashes stored in blobs) and
// rewrites only the trees on the changed paths, leaf to root. It returns
// the new root tree.
func (s *Store) buildTrees(oldRoot plumbing.Hash, chs []Change, blobs []plumbing.Hash) (plumbing.Hash, error) {
	top := &changeDir{}
	for i, c := range chs {
		d := top
		segs := strings.Split(c.Path, "/")
		for _, seg := range segs[:len(segs)-1] {
			if d.dirs == nil {
				d.dirs = map[string]*changeDir{}
			}
			sub := d.dirs[seg]
			if sub == nil {
				sub = &changeDir{}
				d.dirs[seg] = sub
			}
			d = sub
		}
		if d.files == nil {
			d.files = map[string]int{}
		}
		d.files[segs[len(segs)-1]] = i
	}
	root, empty, err := s.buildTree(oldRoot, "", top, chs, blobs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if empty {
		// git represents a commit without files by the empty tree.
		return s.writeTree(nil)
	}
	return root, nil
}

// buildTree applies the changes in d to tree old (zero: no tree) and
// returns the new tree; empty reports that no entries remain (git never
// stores empty subtrees, so the caller drops the entry).
func (s *Store) buildTree(old plumbing.Hash, dir string, d *changeDir, chs []Change, blobs []plumbing.Hash) (plumbing.Hash, bool, error) {
	es, err := s.readTree(old)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	byName := make(map[string]object.TreeEntry, len(es)+len(d.files))
	for _, e := range es {
		byName[e.name] = object.TreeEntry{Name: e.name, Mode: e.mode, Hash: e.hash}
	}
	for name, i := range d.files {
		c := chs[i]
		ex, exists := byName[name]
		if exists && ex.Mode == filemode.Dir {
			return plumbing.ZeroHash, false, fmt.Errorf("%s is a directory in HEAD", c.Path)
		}
		if c.Delete {
			if !exists {
				return plumbing.ZeroHash, false, fmt.Errorf("cannot delete %s: %w", c.Path, fs.ErrNotExist)
			}
			delete(byName, name)
			continue
		}
		h, err := s.writeObject(plumbing.BlobObject, c.Data)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		blobs[i] = h
		byName[name] = object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h}
	}
	for name, sub := range d.dirs {
		subPath := joinPath(dir, name)
		ex, exists := byName[name]
		var subOld plumbing.Hash
		if exists {
			if ex.Mode != filemode.Dir {
				return plumbing.ZeroHash, false, fmt.Errorf("%s is a file in HEAD, not a directory", subPath)
			}
			subOld = ex.Hash
		}
		h, empty, err := s.buildTree(subOld, subPath, sub, chs, blobs)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if empty {
			delete(byName, name)
		} else {
			byName[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		}
	}
	if len(byName) == 0 {
		return plumbing.ZeroHash, true, nil
	}
	entries := make([]object.TreeEntry, 0, len(byName))
	for _, e := range byName {
		entries = append(entries, e)
	}
	h, err := s.writeTree(entries)
	return h, false, err
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// lockRef takes <ref>.lock holding the new value, then checks (under the
// lock, as git does) that the ref still has the value we built on. The
// caller commits the lock to move the branch.
func (s *Store) lockRef(j *journal, newHash, old plumbing.Hash, hadOld bool) (*gitLock, error) {
	target := s.gitPath(j.Ref)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", j.Ref, err)
	}
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("lock %s: a directory is in the way", j.Ref)
	}
	l, err := createLocked(target, s.gitPath(j.RefTmp), []byte(newHash.String()+"\n"), gitLockWait)
	if err != nil {
		return nil, err
	}
	cur, ok, err := s.resolveRef(j.Ref)
	if err != nil {
		l.release()
		return nil, err
	}
	if ok != hadOld || cur != old {
		l.release()
		return nil, ErrConcurrentUpdate
	}
	return l, nil
}

// appendReflog adds a line in git's reflog format to the ref's log (and to
// HEAD's when alsoHead), so that `git reflog` shows our commits. Failures
// are ignored: the reflog is a convenience, never needed for correctness.
func (s *Store) appendReflog(ref string, old, new plumbing.Hash, sig object.Signature, msg string, alsoHead bool) {
	msg = strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(msg)
	_, off := sig.When.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	line := fmt.Sprintf("%s %s %s <%s> %d %c%02d%02d\t%s\n", old, new, sig.Name, sig.Email,
		sig.When.Unix(), sign, off/3600, off%3600/60, msg)
	logs := []string{filepath.Join(s.gitDir, "logs", filepath.FromSlash(ref))}
	if alsoHead {
		logs = append(logs, filepath.Join(s.gitDir, "logs", "HEAD"))
	}
	for _, p := range logs {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			continue
		}
		f.WriteString(line) // one write(2): a crash cannot tear the line
		f.Close()
	}
}

// parallelWrites is the change-set size from which work-tree files are
// written by several goroutines: each write ends in an fsync, and
// concurrent fsyncs share the file system's journal commits, which makes
// large commits (re-encrypting a whole vault) several times faster.
const parallelWrites = 8

// applyWorktree deletes and writes the work-tree files of chs and returns
// the matching index updates.
func (s *Store) applyWorktree(chs []Change, blobs []plumbing.Hash) ([]indexUpdate, error) {
	ups := make([]indexUpdate, len(chs))
	var writes []int
	for i, c := range chs {
		if !c.Delete {
			writes = append(writes, i)
			continue
		}
		if err := s.removeWorktreeFile(c.Path); err != nil {
			return nil, err
		}
		ups[i] = indexUpdate{path: c.Path, del: true}
		hook("worktree-partial")
	}
	write := func(i int) error {
		fi, err := s.writeWorktreeFile(chs[i].Path, chs[i].Data)
		if err != nil {
			return err
		}
		ups[i] = indexUpdate{path: chs[i].Path, hash: blobs[i], mode: uint32(filemode.Regular), st: statOf(fi)}
		return nil
	}
	if len(writes) < parallelWrites {
		for _, i := range writes {
			if err := write(i); err != nil {
				return nil, err
			}
			hook("worktree-partial")
		}
		return ups, nil
	}
	work := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := write(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, i := range writes {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return ups, nil
}
