package gitdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Problem is one finding of Check. Path is relative to the work tree
// (".git/..." for repository files).
type Problem struct {
	Path    string
	Msg     string
	Fixable bool // Fix can repair it without losing data

	kind problemKind
}

// Mode reports whether the problem is only a permission wider than tresor
// sets (0600 files, 0700 directories), as git clone and git pull leave
// under a usual umask: the files are ciphertext, so doctor warns.
func (p Problem) Mode() bool { return p.kind == probDirMode || p.kind == probFileMode }

type problemKind int

const (
	probOther    problemKind = iota
	probJournal              // an unrecovered write: Recover
	probLock                 // a lock file to remove
	probTmp                  // a temporary file to remove
	probIndex                // index entry to reset to HEAD
	probMissing              // work-tree file to restore from HEAD
	probFileMode             // chmod 0600
	probDirMode              // chmod 0700
)

// staleLockAge is the age after which Check calls a git lock file stale:
// git holds its locks for milliseconds.
const staleLockAge = 10 * time.Minute

// Check looks for damage a crash, a git command or a user can leave, for
// `doctor`: an unrecovered journal; leftover index.lock, ref .lock and
// temporary files; index entries that disagree with HEAD; tracked files
// missing, modified or replaced in the work tree; symlinks anywhere in the
// work tree; and file or directory modes wider than 0600/0700. It changes
// nothing.
func (s *Store) Check() ([]Problem, error) {
	var ps []Problem
	add := func(p Problem) { ps = append(ps, p) }

	j, err := s.readJournal()
	switch {
	case err != nil:
		add(Problem{Path: ".git/tresor/journal", Msg: "unreadable journal of an interrupted write: " + err.Error()})
	case j != nil:
		add(Problem{Path: ".git/tresor/journal", Msg: fmt.Sprintf("an interrupted %s (pid %d, %s) was not recovered", j.Op, j.PID, j.Started.Format(time.RFC3339)), Fixable: true, kind: probJournal})
	}
	if _, err := os.Lstat(s.journalPath() + ".bad"); err == nil {
		add(Problem{Path: ".git/tresor/journal.bad", Msg: "an unreadable journal was set aside; the other findings show what it left behind", Fixable: true, kind: probTmp})
	}
	ps = append(ps, s.checkGitFiles(j)...)

	head, ok, err := s.Head()
	if err != nil {
		return ps, err
	}
	root := plumbing.ZeroHash
	if ok {
		if root, err = s.commitTree(head); err != nil {
			return ps, err
		}
	}
	idxPs, tracked, err := s.checkIndexAndWorktree(root)
	if err != nil {
		return ps, err
	}
	ps = append(ps, idxPs...)
	walkPs, err := s.checkWorktreeModes(tracked)
	if err != nil {
		return ps, err
	}
	ps = append(ps, walkPs...)
	return ps, nil
}

// checkGitFiles reports lock and temporary files left in .git.
func (s *Store) checkGitFiles(j *journal) []Problem {
	var ps []Problem
	now := time.Now()
	ours := map[string]bool{}
	for _, l := range s.ourLockFiles() {
		ours[l] = true
	}
	for _, l := range s.gitLockFiles() {
		fi, err := os.Lstat(l)
		if err != nil {
			continue
		}
		rel := s.rel(l)
		age := now.Sub(fi.ModTime()).Round(time.Second)
		switch {
		case ours[l]:
			ps = append(ps, Problem{Path: rel, Msg: "lock file left by an interrupted tresor write", Fixable: true, kind: probLock})
		case age > staleLockAge:
			ps = append(ps, Problem{Path: rel, Msg: fmt.Sprintf("stale git lock file (%s old); git commands on this repository fail while it exists", age), Fixable: true, kind: probLock})
		default:
			ps = append(ps, Problem{Path: rel, Msg: "git lock file: a git command may be running; if none is, remove it"})
		}
	}
	if des, err := os.ReadDir(filepath.Join(s.gitDir, "tresor", "tmp")); err == nil && j == nil {
		for _, de := range des {
			ps = append(ps, Problem{Path: ".git/tresor/tmp/" + de.Name(), Msg: "temporary file of an interrupted write", Fixable: true, kind: probTmp})
		}
	}
	// go-git writes loose objects through objects/pack/tmp_obj_* files; a
	// crash leaves them behind (git itself ignores them).
	if des, err := os.ReadDir(filepath.Join(s.gitDir, "objects", "pack")); err == nil {
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), "tmp_obj_") {
				continue
			}
			if fi, err := de.Info(); err == nil && now.Sub(fi.ModTime()) > time.Hour {
				ps = append(ps, Problem{Path: ".git/objects/pack/" + de.Name(), Msg: "temporary object file of an interrupted write", Fixable: true, kind: probTmp})
			}
		}
	}
	return ps
}

// headFile is a file of the HEAD tree.
type headFile struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

// checkIndexAndWorktree compares, for every path tracked in HEAD or the
// index, the HEAD entry, the index entry and the work-tree file.
// It also returns every tracked path.
func (s *Store) checkIndexAndWorktree(root plumbing.Hash) ([]Problem, map[string]bool, error) {
	var ps []Problem
	headFiles := map[string]headFile{}
	if !root.IsZero() {
		err := s.walkFiles(root, "", func(p string, e *treeEntry) error {
			headFiles[p] = headFile{e.hash, e.mode}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	type idxInfo struct {
		hash   plumbing.Hash
		mode   uint32
		stage  uint8
		stat   fileStat
		stages int
	}
	idx := map[string]*idxInfo{}
	data, err := os.ReadFile(filepath.Join(s.gitDir, "index"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if len(headFiles) > 0 {
			ps = append(ps, Problem{Path: ".git/index", Msg: "the index is missing", Fixable: true, kind: probIndex})
		}
	case err != nil:
		return nil, nil, err
	default:
		p, err := parseIndex(data)
		if err != nil {
			ps = append(ps, Problem{Path: ".git/index", Msg: "unreadable index: " + err.Error()})
			break
		}
		if p.hasLink || p.hasSdir {
			ps = append(ps, Problem{Path: ".git/index", Msg: "split or sparse index; not supported (run `git update-index --no-split-index`)"})
			break
		}
		for i := range p.entries {
			name := string(p.entries[i].name)
			if info, dup := idx[name]; dup {
				info.stages++
				continue
			}
			idx[name] = &idxInfo{hash: p.hash(i), mode: p.mode(i), stage: p.entries[i].stage, stat: p.stat(i), stages: 1}
		}
	}
	paths := make([]string, 0, len(headFiles)+len(idx))
	for p := range headFiles {
		paths = append(paths, p)
	}
	for p := range idx {
		if _, ok := headFiles[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	tracked := make(map[string]bool, len(paths))
	for _, p := range paths {
		tracked[p] = true
	}
	for _, p := range paths {
		hf, inHead := headFiles[p]
		ie, inIndex := idx[p]
		switch {
		case inIndex && (ie.stage != 0 || ie.stages > 1):
			ps = append(ps, Problem{Path: p, Msg: "unresolved merge conflict in the index"})
			continue
		case !inHead:
			ps = append(ps, Problem{Path: p, Msg: "in the index but not committed (staged by a git command or left by a crash)", Fixable: true, kind: probIndex})
			continue
		case data != nil && !inIndex:
			ps = append(ps, Problem{Path: p, Msg: "committed but missing from the index", Fixable: true, kind: probIndex})
		case inIndex && (ie.hash != hf.hash || ie.mode != uint32(hf.mode)):
			ps = append(ps, Problem{Path: p, Msg: "the index entry differs from HEAD (a staged, uncommitted change)", Fixable: true, kind: probIndex})
		}
		// The work-tree file.
		abs := filepath.Join(s.dir, filepath.FromSlash(p))
		if _, err := s.inspectPath(p); err != nil {
			ps = append(ps, Problem{Path: p, Msg: err.Error()})
			continue
		}
		fi, err := os.Lstat(abs)
		if errors.Is(err, fs.ErrNotExist) {
			ps = append(ps, Problem{Path: p, Msg: "committed file missing from the work tree", Fixable: true, kind: probMissing})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if !fi.Mode().IsRegular() {
			ps = append(ps, Problem{Path: p, Msg: "not a regular file in the work tree"})
			continue
		}
		// Trust the stat data when it matches the index entry and the entry
		// matches HEAD (git's own shortcut); otherwise hash the content.
		if inIndex && ie.hash == hf.hash && ie.stat == statOf(fi) {
			continue
		}
		same, err := s.fileMatches(p, hf.hash)
		if err != nil {
			return nil, nil, err
		}
		if !same {
			ps = append(ps, Problem{Path: p, Msg: "modified in the work tree but not committed (commit it with git, or discard it with `git checkout -- " + p + "`)"})
		}
	}
	return ps, tracked, nil
}

// checkWorktreeModes walks the work tree: symlinks are refused in a vault,
// nothing may be readable by others, and a file that is not tracked (put
// there by hand or by another tool) is reported: tresor never commits it.
func (s *Store) checkWorktreeModes(tracked map[string]bool) ([]Problem, error) {
	var ps []Problem
	for _, d := range []string{s.dir, s.gitDir} {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&^0o700 != 0 {
			ps = append(ps, Problem{Path: s.relOrDot(d), Msg: fmt.Sprintf("directory mode %04o is wider than 0700", fi.Mode().Perm()), Fixable: true, kind: probDirMode})
		}
	}
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.dir {
			return nil
		}
		if p == s.gitDir {
			return filepath.SkipDir
		}
		rel := s.rel(p)
		if d.Type()&fs.ModeSymlink != 0 {
			ps = append(ps, Problem{Path: rel, Msg: "symlink in the vault (not allowed; tresor refuses to follow it)"})
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir() && fi.Mode().Perm()&^0o700 != 0:
			ps = append(ps, Problem{Path: rel, Msg: fmt.Sprintf("directory mode %04o is wider than 0700", fi.Mode().Perm()), Fixable: true, kind: probDirMode})
		case fi.Mode().IsRegular() && fi.Mode().Perm()&^0o600 != 0:
			ps = append(ps, Problem{Path: rel, Msg: fmt.Sprintf("file mode %04o is wider than 0600", fi.Mode().Perm()), Fixable: true, kind: probFileMode})
		}
		if fi.Mode().IsRegular() && !tracked[rel] {
			ps = append(ps, Problem{Path: rel, Msg: "untracked file: not committed and not part of the vault (commit it with git, or remove it)"})
		}
		return nil
	})
	return ps, err
}

func (s *Store) relOrDot(p string) string {
	if p == s.dir {
		return "."
	}
	return s.rel(p)
}

// Fix repairs what Check reports as fixable: it recovers an interrupted
// write, removes our and stale lock and temporary files, resets index
// entries to HEAD, restores committed files missing from the work tree,
// and narrows modes to 0600/0700. It never overwrites or deletes a
// work-tree file that holds uncommitted content. It takes the vault lock
// unless this Store already holds it. It returns what it did.
func (s *Store) Fix() ([]string, error) {
	if s.flock == nil {
		if err := s.lockOnly(context.Background(), 30*time.Second); err != nil {
			return nil, err
		}
		defer s.unlock()
	}
	done, err := s.Recover()
	if err != nil {
		return done, err
	}
	ps, err := s.Check()
	if err != nil {
		return done, err
	}
	var paths []string
	for _, p := range ps {
		if !p.Fixable {
			continue
		}
		abs := filepath.Join(s.dir, filepath.FromSlash(p.Path))
		switch p.kind {
		case probLock, probTmp:
			if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return done, err
			}
			done = append(done, "removed "+p.Path)
		case probFileMode, probDirMode:
			mode := fs.FileMode(0o600)
			if p.kind == probDirMode {
				mode = 0o700
			}
			if err := os.Chmod(abs, mode); err != nil {
				return done, err
			}
			done = append(done, fmt.Sprintf("set mode %04o on %s", mode, p.Path))
		case probIndex, probMissing:
			if p.Path == ".git/index" {
				paths = append(paths, "") // rebuild from HEAD
			} else {
				paths = append(paths, p.Path)
			}
		}
	}
	if len(paths) > 0 {
		fixed, err := s.resetToHead(paths)
		done = append(done, fixed...)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// resetToHead sets the index entries of paths to HEAD and restores
// committed files missing from the work tree. Unlike syncPaths it keeps
// work-tree files with uncommitted content (their index entry gets empty
// stat data, so git shows them as modified). A "" path means the index is
// missing and is rebuilt from HEAD.
func (s *Store) resetToHead(paths []string) ([]string, error) {
	var done []string
	head, ok, err := s.Head()
	if err != nil {
		return nil, err
	}
	root := plumbing.ZeroHash
	if ok {
		if root, err = s.commitTree(head); err != nil {
			return nil, err
		}
	}
	ups := []indexUpdate{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		e, found, err := s.lookup(root, p)
		if err != nil {
			return done, err
		}
		if !found || e.isDir() {
			ups = append(ups, indexUpdate{path: p, del: true})
			done = append(done, "removed the uncommitted index entry of "+p)
			continue
		}
		fi, err := s.inspectPath(p)
		if err != nil {
			return done, err
		}
		if fi == nil {
			data, err := s.readObject(plumbing.BlobObject, e.hash)
			if err != nil {
				return done, err
			}
			if fi, err = s.writeWorktreeFile(p, data); err != nil {
				return done, err
			}
			done = append(done, "restored "+p+" from HEAD")
		}
		u := indexUpdate{path: p, hash: e.hash, mode: uint32(e.mode)}
		if same, err := s.fileMatches(p, e.hash); err != nil {
			return done, err
		} else if same {
			u.st = statOf(fi)
		}
		ups = append(ups, u)
		done = append(done, "reset the index entry of "+p+" to HEAD")
	}
	tmp, err := s.tmpDir()
	if err != nil {
		return done, err
	}
	l, err := s.lockIndex(filepath.Join(tmp, fmt.Sprintf("fix-%d.index", time.Now().UnixNano())), ups, root, gitLockWait)
	if err != nil {
		return done, err
	}
	if l != nil {
		if err := l.commit(); err != nil {
			l.release()
			return done, err
		}
	}
	return done, nil
}
