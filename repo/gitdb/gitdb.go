// Package gitdb is tresor's low-level git layer: it stores bytes at paths in a
// non-bare git repository, one commit per change set, and reads them back.
// It knows nothing about entries, age or YAML.
//
// Writes never go through go-git's worktree API (Worktree.Add, Status,
// Commit, SetIndex, SetReference): those scan the whole tree, rewrite the
// whole index in place and move refs without a compare-and-swap. Instead a
// commit writes only the objects on the changed paths, swaps the branch ref
// under a git-compatible "<ref>.lock", and splices the changed entries into
// the index under a git-compatible "index.lock". A small journal in
// .git/tresor makes an interrupted commit recoverable (see Recover).
//
// A Store is not safe for concurrent use by several goroutines; processes
// (and Stores) serialise their writes with Lock.
package gitdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/gofrs/flock"
)

// Errors callers may want to test for with errors.Is.
var (
	// ErrNotRepo is returned by Open when the directory is not a git work tree.
	ErrNotRepo = errors.New("not a git work tree")
	// ErrUnsupportedRepo is returned by Open for repositories that use git
	// features tresor cannot safely write (extensions, split index, ...).
	ErrUnsupportedRepo = errors.New("unsupported git repository")
	// ErrLocked is returned by Lock when another process holds the vault lock.
	ErrLocked = errors.New("vault is locked by another tresor process")
	// ErrConcurrentUpdate is returned by Commit when the branch moved between
	// reading it and swapping it (a writer that did not take Lock). Nothing
	// was changed; the caller may retry.
	ErrConcurrentUpdate = errors.New("the branch was changed by another process during the commit")
	// ErrGitLocked is returned when a git lock file (index.lock, <ref>.lock)
	// stays in place: a git command is running or crashed.
	ErrGitLocked = errors.New("a git lock file is in the way")
	// ErrDetachedHead is returned when HEAD does not name a branch.
	ErrDetachedHead = errors.New("HEAD is detached (not on a branch)")
	// ErrStop may be returned by a Walk callback to end the walk early;
	// Walk then returns nil.
	ErrStop = errors.New("stop walking")
	// ErrNonFastForward is returned by Push when the remote branch has
	// commits that the local branch does not contain.
	ErrNonFastForward = errors.New("the remote has commits this vault does not have; nothing was pushed: pull first (tresor has no pull yet: `git pull --rebase REMOTE BRANCH` in the vault combines changes to different entries; a conflict on one encrypted file cannot be merged, see the README on push), then push again")
	// ErrUnknownRemote is returned for a remote name that is not configured.
	ErrUnknownRemote = errors.New("unknown remote")
)

// Store is one non-bare git repository: the vault.
type Store struct {
	dir    string // absolute path of the work tree
	gitDir string // dir/.git

	// storage is go-git's view of .git; objs wraps its object store so that a
	// miss re-reads the pack list once (an external `git gc` leaves go-git's
	// pack list stale, go-git#2242).
	storage *filesystem.Storage
	objs    *objectStore
	repo    *gogit.Repository

	flock     *flock.Flock // non-nil while this Store holds the vault lock
	recovered []string     // what the last Lock's Recover repaired
}

// Init creates a new non-bare repository in dir whose HEAD points at the
// unborn branch refs/heads/<branch>, and opens it. dir and dir/.git are made
// private (0700). It fails if dir already holds a repository.
func Init(dir, branch string) (*Store, error) {
	ref := plumbing.NewBranchReferenceName(branch)
	if branch == "" || ref.Validate() != nil {
		return nil, fmt.Errorf("init %s: invalid branch name %q", dir, branch)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
		return nil, fmt.Errorf("init %s: a git repository already exists there", dir)
	}
	_, err := gogit.PlainInitWithOptions(dir, &gogit.PlainInitOptions{
		InitOptions: gogit.InitOptions{DefaultBranch: ref},
		Bare:        false,
	})
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", dir, err)
	}
	for _, d := range []string{dir, filepath.Join(dir, ".git")} {
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("init %s: %w", dir, err)
		}
	}
	return Open(dir)
}

// Open opens the repository whose work tree is dir. It refuses, with a
// clear error, directories that are not a git work tree (including linked
// worktrees and submodules, whose .git is a file), bare repositories,
// repositories that use git extensions (objectformat, reftable, ...) and
// repositories with a split index.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	gitDir := filepath.Join(abs, ".git")
	fi, err := os.Lstat(gitDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("open %s: %w (no .git directory)", abs, ErrNotRepo)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", abs, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("open %s: %w: .git is not a directory (linked worktrees and submodules are not supported)", abs, ErrUnsupportedRepo)
	}
	if _, err := os.Stat(filepath.Join(gitDir, "HEAD")); err != nil {
		return nil, fmt.Errorf("open %s: %w (.git has no HEAD)", abs, ErrNotRepo)
	}

	st := filesystem.NewStorageWithOptions(osfs.New(gitDir), cache.NewObjectLRU(64*cache.MiByte),
		filesystem.Options{KeepDescriptors: true})
	repo, err := gogit.Open(st, osfs.New(abs))
	if err != nil {
		st.Close()
		if errors.Is(err, gogit.ErrUnknownExtension) || errors.Is(err, gogit.ErrUnsupportedExtensionRepositoryFormatVersion) ||
			errors.Is(err, gogit.ErrUnsupportedRepositoryFormatVersion) {
			return nil, fmt.Errorf("open %s: %w: %v (tresor only supports plain git repositories without extensions.*)", abs, ErrUnsupportedRepo, err)
		}
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	s := &Store{dir: abs, gitDir: gitDir, storage: st, objs: &objectStore{Storage: st}, repo: repo}
	if err := s.checkSupported(); err != nil {
		st.Close()
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	return s, nil
}

// checkSupported refuses configurations whose on-disk formats this package
// does not write correctly.
func (s *Store) checkSupported() error {
	cfg, err := s.repo.Config()
	if err != nil {
		return err
	}
	if cfg.Core.IsBare {
		return fmt.Errorf("%w: the repository is bare; a vault needs a work tree", ErrUnsupportedRepo)
	}
	core := cfg.Raw.Section("core")
	if v := strings.ToLower(core.Option("splitIndex")); v == "true" || v == "yes" || v == "on" || v == "1" {
		return fmt.Errorf("%w: core.splitIndex is enabled; run `git config core.splitIndex false && git update-index --no-split-index`", ErrUnsupportedRepo)
	}
	if matches, _ := filepath.Glob(filepath.Join(s.gitDir, "sharedindex.*")); len(matches) > 0 {
		if idx, err := os.ReadFile(filepath.Join(s.gitDir, "index")); err == nil {
			if p, err := parseIndex(idx); err == nil && p.hasLink {
				return fmt.Errorf("%w: the index is a split index; run `git update-index --no-split-index`", ErrUnsupportedRepo)
			}
		}
	}
	return nil
}

// Dir returns the absolute path of the work tree.
func (s *Store) Dir() string { return s.dir }

// Close releases the vault lock if this Store still holds it and closes the
// pack files go-git keeps open.
func (s *Store) Close() error {
	if s.flock != nil {
		s.flock.Unlock()
		s.flock = nil
	}
	return s.storage.Close()
}

// Branch returns the short name of the branch HEAD points to (it may be
// unborn).
func (s *Store) Branch() (string, error) {
	ref, err := s.headRef()
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(ref, "refs/heads/"), nil
}

// Head returns the commit HEAD's branch points to; ok is false while the
// branch is unborn (no commit yet).
func (s *Store) Head() (h plumbing.Hash, ok bool, err error) {
	ref, err := s.headRef()
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	return s.resolveRef(ref)
}

// headRef reads .git/HEAD, which must be a symbolic ref to a branch.
func (s *Store) headRef() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.gitDir, "HEAD"))
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	line := strings.TrimRight(string(b), "\r\n")
	target, ok := strings.CutPrefix(line, "ref: ")
	if !ok {
		return "", ErrDetachedHead
	}
	target = strings.TrimSpace(target)
	if !strings.HasPrefix(target, "refs/heads/") || plumbing.ReferenceName(target).Validate() != nil {
		return "", fmt.Errorf("HEAD points to %q, which is not a branch", target)
	}
	return target, nil
}

// resolveRef returns the value of a full ref name the way git does: the
// loose file under .git/ wins, else the packed-refs line, else the ref
// does not exist (ok=false). Symbolic refs other than HEAD are not
// expected in a vault and are reported as errors.
func (s *Store) resolveRef(name string) (plumbing.Hash, bool, error) {
	b, err := os.ReadFile(filepath.Join(s.gitDir, filepath.FromSlash(name)))
	switch {
	case err == nil:
		line := strings.TrimSpace(string(b))
		if strings.HasPrefix(line, "ref: ") {
			return plumbing.ZeroHash, false, fmt.Errorf("ref %s is symbolic (%s); not supported", name, line)
		}
		if !plumbing.IsHash(line) {
			return plumbing.ZeroHash, false, fmt.Errorf("ref %s is corrupt: %q", name, line)
		}
		return plumbing.NewHash(line), true, nil
	case errors.Is(err, os.ErrNotExist), isNotDir(err):
		// fall through to packed-refs
	default:
		return plumbing.ZeroHash, false, fmt.Errorf("read ref %s: %w", name, err)
	}
	return s.packedRef(name)
}

// isNotDir reports ENOTDIR: a path component is a file, so the ref cannot
// exist as a loose file.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

// packedRef looks name up in .git/packed-refs.
func (s *Store) packedRef(name string) (plumbing.Hash, bool, error) {
	f, err := os.Open(filepath.Join(s.gitDir, "packed-refs"))
	if errors.Is(err, os.ErrNotExist) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("read packed-refs: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	want := []byte(name)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) < 42 || line[0] == '#' || line[0] == '^' {
			continue
		}
		if line[40] == ' ' && bytes.Equal(line[41:], want) {
			hex := string(line[:40])
			if !plumbing.IsHash(hex) {
				return plumbing.ZeroHash, false, fmt.Errorf("packed-refs: corrupt line for %s", name)
			}
			return plumbing.NewHash(hex), true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("read packed-refs: %w", err)
	}
	return plumbing.ZeroHash, false, nil
}

// tresorDir returns .git/tresor, creating it (0700) if needed.
func (s *Store) tresorDir() (string, error) {
	d := filepath.Join(s.gitDir, "tresor")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// tmpDir returns .git/tresor/tmp, where every temporary file of this
// package lives, so that a crash never leaves stray files in the work tree.
func (s *Store) tmpDir() (string, error) {
	d := filepath.Join(s.gitDir, "tresor", "tmp")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// config returns go-git's parsed .git/config.
func (s *Store) config() (*config.Config, error) { return s.repo.Config() }

// readAllClose reads r fully and closes it.
func readAllClose(r io.ReadCloser, size int64) ([]byte, error) {
	defer r.Close()
	if size >= 0 && size < 1<<31 {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(r)
}
