package gitdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// gitLockWait is how long we wait for a git lock file (index.lock,
// <ref>.lock) held by someone else before giving up: git commands hold
// them for milliseconds.
const gitLockWait = 2 * time.Second

// gitLock is a git-compatible "<target>.lock" that we hold.
//
// git takes such a lock with open(O_CREAT|O_EXCL), writes it, then renames
// it over the target. We get the same exclusion with link(2), which is
// also atomic and fails with EEXIST, but we link a temporary file that is
// already complete and fsynced. That has two benefits: the lock never
// exists half-written, and after a crash Recover can tell our lock from a
// git command's by comparing inodes with the temporary file named in the
// journal (same inode = ours), without writing any extra record after the
// lock is taken.
type gitLock struct {
	target string
	lock   string
	tmp    string // our hard link to lock; "" when link(2) was unavailable
}

// createLocked writes content to tmp and takes target's lock with it,
// waiting up to wait while someone else holds the lock.
func createLocked(target, tmp string, content []byte, wait time.Duration) (*gitLock, error) {
	lock := target + ".lock"
	os.Remove(tmp) // a leftover of an earlier attempt of the same operation
	if err := writeSynced(tmp, content, fs.ModeExclusive); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := os.Link(tmp, lock)
		if err == nil {
			return &gitLock{target: target, lock: lock, tmp: tmp}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			// No hard links on this file system: fall back to git's own
			// O_EXCL create. Recover cannot prove such a lock is ours.
			os.Remove(tmp)
			return createLockedExcl(target, content, deadline, wait)
		}
		if time.Now().After(deadline) {
			os.Remove(tmp)
			return nil, lockedError(lock, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func createLockedExcl(target string, content []byte, deadline time.Time, wait time.Duration) (*gitLock, error) {
	lock := target + ".lock"
	for {
		err := writeSynced(lock, content, fs.ModeExclusive)
		if err == nil {
			return &gitLock{target: target, lock: lock}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", target, err)
		}
		if time.Now().After(deadline) {
			return nil, lockedError(lock, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lockedError(lock string, wait time.Duration) error {
	return fmt.Errorf("%w: %s exists (waited %s); another git process seems to be running in this repository; if none is, remove that file",
		ErrGitLocked, lock, wait)
}

// commit renames the lock over the target: the new content becomes
// visible atomically.
func (l *gitLock) commit() error {
	if err := os.Rename(l.lock, l.target); err != nil {
		return fmt.Errorf("replace %s: %w", l.target, err)
	}
	if l.tmp != "" {
		os.Remove(l.tmp)
	}
	return nil
}

// release drops the lock without changing the target.
func (l *gitLock) release() {
	if l == nil {
		return
	}
	if l.tmp == "" || ownsLock(l.lock, l.tmp) {
		os.Remove(l.lock)
	}
	if l.tmp != "" {
		os.Remove(l.tmp)
	}
}

// ownsLock reports whether lock is a hard link of our temporary file tmp.
func ownsLock(lock, tmp string) bool {
	a, err := os.Lstat(lock)
	if err != nil {
		return false
	}
	b, err := os.Lstat(tmp)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}

// writeSynced creates path (failing if it exists when mode has
// fs.ModeExclusive), writes data and fsyncs it.
func writeSynced(path string, data []byte, mode fs.FileMode) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if mode&fs.ModeExclusive != 0 {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory so that a rename in it survives power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// rel returns p relative to the work tree, for messages.
func (s *Store) rel(p string) string {
	if r, err := filepath.Rel(s.dir, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}
