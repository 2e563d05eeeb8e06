package gitdb

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ReadBlob returns the content of the file at slash path p in commit's
// tree; ok is false when there is no file there.
func (s *Store) ReadBlob(commit plumbing.Hash, p string) (data []byte, ok bool, err error) {
	if err := checkPath(p); err != nil {
		return nil, false, err
	}
	root, err := s.commitTree(commit)
	if err != nil {
		return nil, false, err
	}
	e, found, err := s.lookup(root, p)
	if err != nil || !found || e.isDir() || e.mode == filemode.Submodule {
		return nil, false, err
	}
	data, err = s.readObject(plumbing.BlobObject, e.hash)
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// Files returns every file path in commit's tree with its blob hash. It
// walks trees only (go-git's TreeWalker); blobs are never loaded.
func (s *Store) Files(commit plumbing.Hash) (map[string]plumbing.Hash, error) {
	c, err := s.readCommit(commit)
	if err != nil {
		return nil, err
	}
	files := map[string]plumbing.Hash{}
	if c.TreeHash == emptyTree {
		return files, nil
	}
	// TreeWalker turns a failure to load a subtree into io.EOF, which would
	// silently truncate the listing; the recording storer catches that.
	rec := &recordingStore{objectStore: s.objs}
	obj, err := rec.EncodedObject(plumbing.TreeObject, c.TreeHash)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", c.TreeHash, err)
	}
	t, err := object.DecodeTree(rec, obj)
	if err != nil {
		return nil, fmt.Errorf("decode tree %s: %w", c.TreeHash, err)
	}
	w := object.NewTreeWalker(t, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list files of %s: %w", commit, err)
		}
		if e.Mode != filemode.Dir {
			files[name] = e.Hash
		}
	}
	if rec.err != nil {
		return nil, fmt.Errorf("list files of %s: %w", commit, rec.err)
	}
	return files, nil
}

// recordingStore remembers the first object lookup failure.
type recordingStore struct {
	*objectStore
	err error
}

func (r *recordingStore) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := r.objectStore.EncodedObject(t, h)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("read %s %s: %w", t, h, err)
	}
	return obj, err
}

// walkFiles calls fn for every non-directory entry below tree h, with its
// path prefixed by dir.
func (s *Store) walkFiles(h plumbing.Hash, dir string, fn func(p string, e *treeEntry) error) error {
	es, err := s.readTree(h)
	if err != nil {
		return err
	}
	for i := range es {
		e := &es[i]
		p := joinPath(dir, e.name)
		if e.isDir() {
			if err := s.walkFiles(e.hash, p, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(p, e); err != nil {
			return err
		}
	}
	return nil
}

// splitPrefix normalises a Walk prefix into path segments.
func splitPrefix(prefix string) ([]string, error) {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return nil, nil
	}
	if err := checkPath(prefix); err != nil {
		return nil, err
	}
	return strings.Split(prefix, "/"), nil
}

// FileHash is one file of a commit's tree.
type FileHash struct {
	Path string
	Hash plumbing.Hash
}

// TreeFiles returns every file of commit's tree with its blob hash, in tree
// order, reading trees with tresor's own parser (no blob is loaded).
func (s *Store) TreeFiles(commit plumbing.Hash) ([]FileHash, error) {
	root, err := s.commitTree(commit)
	if err != nil {
		return nil, err
	}
	var out []FileHash
	if root == emptyTree {
		return out, nil
	}
	err = s.walkFiles(root, "", func(p string, e *treeEntry) error {
		if e.mode != filemode.Submodule {
			out = append(out, FileHash{Path: p, Hash: e.hash})
		}
		return nil
	})
	return out, err
}

// BlobByHash returns the content of a blob.
func (s *Store) BlobByHash(h plumbing.Hash) ([]byte, error) {
	return s.readObject(plumbing.BlobObject, h)
}
