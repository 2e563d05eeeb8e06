package gitdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkPath validates a repository-relative slash path.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("path %q: must be relative, without a trailing slash", p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("path %q: empty segment", p)
		case seg == "." || seg == "..":
			return fmt.Errorf("path %q: %q segments are not allowed", p, seg)
		case strings.EqualFold(seg, ".git"):
			return fmt.Errorf("path %q: a .git segment is not allowed", p)
		}
		for i := 0; i < len(seg); i++ {
			if seg[i] < 0x20 || seg[i] == 0x7f {
				return fmt.Errorf("path %q: control character not allowed", p)
			}
		}
	}
	return nil
}

// inspectPath Lstats every component of rel below the work tree, refusing
// to follow symlinks anywhere on the path (a symlink could point a write
// outside the vault). It returns the final component's info, or nil when
// the path does not exist.
func (s *Store) inspectPath(rel string) (fs.FileInfo, error) {
	cur := s.dir
	segs := strings.Split(rel, "/")
	for i, seg := range segs {
		cur = filepath.Join(cur, seg)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		sub := func() string { return strings.Join(segs[:i+1], "/") }
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s: refusing to follow the symlink at %s (symlinks are not allowed in the vault)", rel, sub())
		}
		last := i == len(segs)-1
		if !last && !fi.IsDir() {
			return nil, fmt.Errorf("%s: %s is not a directory", rel, sub())
		}
		if last {
			if !fi.Mode().IsRegular() && !fi.IsDir() {
				return nil, fmt.Errorf("%s: not a regular file", rel)
			}
			return fi, nil
		}
	}
	return nil, nil
}

// writeWorktreeFile atomically replaces rel with data (0600, fsynced),
// creating missing parent directories 0700, and returns the Lstat of the
// result. The temporary file lives in .git/tresor/tmp, so a crash never
// leaves a stray file in the work tree.
func (s *Store) writeWorktreeFile(rel string, data []byte) (fs.FileInfo, error) {
	abs := filepath.Join(s.dir, filepath.FromSlash(rel))
	if err := s.mkdirs(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	tmp, err := s.tmpDir()
	if err != nil {
		return nil, err
	}
	// The temporary name is short and fixed in shape ("w-" and a random
	// number): a name derived from the entry's would overflow the 255-byte
	// file name limit for long entry names.
	f, err := os.CreateTemp(tmp, "w-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	if _, err := f.Write(data); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	if err := os.Rename(f.Name(), abs); err != nil {
		os.Remove(f.Name())
		done = true
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	done = true
	// Lstat after the rename: rename changes ctime, which git compares.
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	return fi, nil
}

// mkdirs creates dir and its missing parents inside the work tree with mode
// 0700 (os.MkdirAll would apply the umask to a wider mode).
func (s *Store) mkdirs(dir string) error {
	if dir == s.dir {
		return nil
	}
	fi, err := os.Lstat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", s.rel(dir))
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chmod(dir, 0o700) // Mkdir is subject to the umask
}

// removeWorktreeFile deletes rel (if present) and then every parent
// directory that became empty, up to the work-tree root: git does not
// track directories, so an empty one would linger forever.
func (s *Store) removeWorktreeFile(rel string) error {
	abs := filepath.Join(s.dir, filepath.FromSlash(rel))
	if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	s.pruneEmptyDirs(filepath.Dir(abs))
	return nil
}

// pruneEmptyDirs removes dir and its parents while they are empty.
func (s *Store) pruneEmptyDirs(dir string) {
	for dir != s.dir && strings.HasPrefix(dir, s.dir+string(filepath.Separator)) {
		if os.Remove(dir) != nil { // not empty (or gone): stop
			return
		}
		dir = filepath.Dir(dir)
	}
}
