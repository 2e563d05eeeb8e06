package gitdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Recover repairs an interrupted Commit, if the journal in .git/tresor
// says there was one. Every journaled path is brought in line
// with the commit HEAD's branch points to now, whatever it is: if the ref
// moved, the commit happened and the work tree and index are rolled
// forward; if not, the old files are restored and new ones removed. Our
// own stale lock files are removed (any git lock that is a hard link of
// one of our temporary files, see gitLock); a lock we cannot prove is ours
// (a git command may be running) is left alone and reported.
// Afterwards the journal is removed and `git status` is clean for those
// paths. Lock calls Recover; callers holding the lock may call it too.
func (s *Store) Recover() (repaired []string, err error) {
	j, err := s.readJournal()
	if err != nil {
		// Unusable (it is written atomically, so this is damage, not a
		// torn write). Move it aside so that the vault stays usable, and
		// send the user to doctor, whose Check finds what it would have
		// repaired.
		bad := s.journalPath() + ".bad"
		if rerr := os.Rename(s.journalPath(), bad); rerr != nil {
			return nil, fmt.Errorf("%w (and moving it aside failed: %v)", err, rerr)
		}
		return []string{"moved an unreadable journal to .git/tresor/journal.bad"},
			fmt.Errorf("%w; it was moved aside: run `tresor doctor` to check the vault", err)
	}
	for _, l := range s.ourLockFiles() {
		if err := os.Remove(l); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return repaired, fmt.Errorf("recover: %w", err)
		}
		repaired = append(repaired, "removed stale "+s.rel(l)+" left by an interrupted write")
	}
	if j == nil {
		s.cleanTmp()
		return repaired, nil
	}
	for _, l := range []string{j.RefLock, "index.lock"} {
		if _, err := os.Lstat(s.gitPath(l)); err == nil {
			repaired = append(repaired, "left .git/"+l+" in place: it was not created by tresor (a git command may be running; remove it if none is)")
		}
	}
	fixed, err := s.syncPaths(j, j.Paths)
	repaired = append(repaired, fixed...)
	if err != nil {
		return repaired, fmt.Errorf("recover an interrupted %s: %w", j.Op, err)
	}
	if err := s.removeJournal(); err != nil {
		return repaired, err
	}
	s.cleanTmp()
	if len(fixed) == 0 {
		repaired = append(repaired, "completed an interrupted "+j.Op)
	}
	return repaired, nil
}

// ourLockFiles returns the git lock files (index.lock, HEAD.lock,
// packed-refs.lock, refs/**/*.lock) that are hard links of a file in
// .git/tresor/tmp: every lock we take is such a link (see gitLock), so
// these, and only these, are provably ours.
func (s *Store) ourLockFiles() []string {
	des, err := os.ReadDir(filepath.Join(s.gitDir, "tresor", "tmp"))
	if err != nil || len(des) == 0 {
		return nil
	}
	var tmps []fs.FileInfo
	for _, de := range des {
		if fi, err := os.Lstat(filepath.Join(s.gitDir, "tresor", "tmp", de.Name())); err == nil && fi.Mode().IsRegular() {
			tmps = append(tmps, fi)
		}
	}
	var ours []string
	for _, l := range s.gitLockFiles() {
		fi, err := os.Lstat(l)
		if err != nil {
			continue
		}
		for _, t := range tmps {
			if os.SameFile(fi, t) {
				ours = append(ours, l)
				break
			}
		}
	}
	return ours
}

// gitLockFiles lists the git lock files present in .git.
func (s *Store) gitLockFiles() []string {
	var locks []string
	for _, name := range []string{"index.lock", "HEAD.lock", "packed-refs.lock", "config.lock"} {
		p := filepath.Join(s.gitDir, name)
		if _, err := os.Lstat(p); err == nil {
			locks = append(locks, p)
		}
	}
	filepath.WalkDir(filepath.Join(s.gitDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".lock") {
			locks = append(locks, p)
		}
		return nil
	})
	return locks
}

// cleanTmp empties .git/tresor/tmp. Only writers holding the vault lock
// create files there, so under the lock anything left is from a dead one.
func (s *Store) cleanTmp() {
	dir := filepath.Join(s.gitDir, "tresor", "tmp")
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		os.Remove(filepath.Join(dir, de.Name()))
	}
}

// syncPaths makes the work-tree file and the index entry of every path
// agree with HEAD: files whose content differs are rewritten (0600), files
// absent from HEAD are removed, and index entries are set from the files'
// stat data. The index is written only if an entry actually changes. It
// uses the journal's temporary file for index.lock, so a crash in here is
// recoverable the same way.
func (s *Store) syncPaths(j *journal, paths []string) (repaired []string, err error) {
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
	ups := make([]indexUpdate, 0, len(paths))
	for _, p := range paths {
		fi, err := s.inspectPath(p)
		if err != nil {
			return repaired, err
		}
		e, found, err := s.lookup(root, p)
		if err != nil {
			return repaired, err
		}
		if found && e.isDir() {
			found = false // a directory in HEAD: nothing of ours to restore
		}
		if !found {
			if fi != nil && fi.Mode().IsRegular() {
				if err := s.removeWorktreeFile(p); err != nil {
					return repaired, err
				}
				repaired = append(repaired, "removed "+p+" (not in HEAD)")
			}
			ups = append(ups, indexUpdate{path: p, del: true})
			continue
		}
		if e.mode == filemode.Symlink || e.mode == filemode.Submodule {
			return repaired, fmt.Errorf("%s: HEAD has a symlink or submodule there; not supported", p)
		}
		if fi != nil && fi.IsDir() {
			return repaired, fmt.Errorf("%s: a directory is in the way of a file in HEAD", p)
		}
		same := false
		if fi != nil && fi.Mode().IsRegular() {
			if same, err = s.fileMatches(p, e.hash); err != nil {
				return repaired, err
			}
		}
		if same {
			if fi.Mode().Perm() != 0o600 {
				if err := os.Chmod(filepath.Join(s.dir, filepath.FromSlash(p)), 0o600); err != nil {
					return repaired, err
				}
				repaired = append(repaired, "set mode 0600 on "+p)
				if fi, err = os.Lstat(filepath.Join(s.dir, filepath.FromSlash(p))); err != nil {
					return repaired, err
				}
			}
		} else {
			data, err := s.readObject(plumbing.BlobObject, e.hash)
			if err != nil {
				return repaired, err
			}
			if fi, err = s.writeWorktreeFile(p, data); err != nil {
				return repaired, err
			}
			repaired = append(repaired, "restored "+p+" from HEAD")
		}
		ups = append(ups, indexUpdate{path: p, hash: e.hash, mode: uint32(e.mode), st: statOf(fi)})
	}
	hook("sync-worktree")
	// If the entries already name the right blobs, only their stat data
	// can be stale, which git refreshes by itself: then a git command
	// holding index.lock is no reason to wait or fail.
	statOnly := s.indexHasContent(ups)
	wait := gitLockWait
	if statOnly {
		wait = 0
	}
	il, err := s.lockIndex(s.gitPath(j.IndexTmp), ups, root, wait)
	if errors.Is(err, ErrGitLocked) && statOnly {
		return repaired, nil
	}
	if err != nil {
		return repaired, err
	}
	hook("sync-index-locked")
	if il != nil {
		if err := il.commit(); err != nil {
			il.release()
			return repaired, err
		}
		repaired = append(repaired, "updated the index entries of "+strings.Join(paths, ", "))
	}
	return repaired, nil
}

// fileMatches reports whether the work-tree file rel hashes to h.
func (s *Store) fileMatches(rel string, h plumbing.Hash) (bool, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return blobHash(data) == h, nil
}

// validJournalFile reports whether a path recorded in a journal is one we
// could have written (so a corrupt journal cannot make Recover delete
// arbitrary files).
func validJournalFile(rel string, prefix, suffix string) bool {
	return strings.HasPrefix(rel, prefix) && strings.HasSuffix(rel, suffix) && !strings.Contains(rel, "..") &&
		!strings.Contains(rel, "\\")
}

// indexHasContent reports whether the index already has exactly the
// entries ups describe (presence, blob and mode; stat data ignored).
func (s *Store) indexHasContent(ups []indexUpdate) bool {
	data, err := os.ReadFile(filepath.Join(s.gitDir, "index"))
	if err != nil {
		return false
	}
	p, err := parseIndex(data)
	if err != nil {
		return false
	}
	for _, u := range ups {
		lo, hi := p.find([]byte(u.path))
		if u.del {
			if hi > lo {
				return false
			}
			continue
		}
		if hi-lo != 1 || p.entries[lo].stage != 0 || p.hash(lo) != u.hash || p.mode(lo) != u.mode {
			return false
		}
	}
	return true
}
