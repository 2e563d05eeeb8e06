package gitdb

import (
	"bufio"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// emptyTree is the hash of the tree with no entries. git knows it without
// storing it, so it may be absent from the object store.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// objectStore is go-git's object storage with one fix: when an object is
// not found, the pack list is re-read once and the lookup retried. An
// external `git gc` or repack replaces packs behind an open go-git storage,
// which otherwise answers "object not found" (go-git#2242).
//
// It also serialises object lookups: go-git's storage is not safe for
// concurrent use, and Walk reads objects from several goroutines.
type objectStore struct {
	*filesystem.Storage
	mu sync.Mutex
}

// EncodedObject implements storer.EncodedObjectStorer.
func (o *objectStore) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.Storage.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		o.Reindex()
		obj, err = o.Storage.EncodedObject(t, h)
	}
	return obj, err
}

// readObject returns the raw content of object h, which must have type t.
func (s *Store) readObject(t plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	if typ, data, ok, err := s.readLoose(h); ok || err != nil {
		if err == nil && typ != t {
			err = fmt.Errorf("object %s is a %s, not a %s", h, typ, t)
		}
		return data, err
	}
	obj, err := s.objs.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	// A packed object may be read lazily from the pack file: keep go-git
	// serialised while reading it.
	s.objs.mu.Lock()
	defer s.objs.mu.Unlock()
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	b, err := readAllClose(r, obj.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	return b, nil
}

// writeObject stores content as a loose object of type t (go-git writes a
// temporary file and renames it into place).
func (s *Store) writeObject(t plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	obj := s.objs.NewEncodedObject()
	obj.SetType(t)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := s.objs.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s object: %w", t, err)
	}
	return h, nil
}

// readCommit decodes commit h.
func (s *Store) readCommit(h plumbing.Hash) (*object.Commit, error) {
	var obj plumbing.EncodedObject
	if typ, data, ok, err := s.readLoose(h); err != nil {
		return nil, err
	} else if ok {
		if typ != plumbing.CommitObject {
			return nil, fmt.Errorf("object %s is a %s, not a commit", h, typ)
		}
		mo := &plumbing.MemoryObject{}
		mo.SetType(typ)
		mo.Write(data)
		obj = mo
	} else if obj, err = s.objs.EncodedObject(plumbing.CommitObject, h); err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	c, err := object.DecodeCommit(s.objs, obj)
	if err != nil {
		return nil, fmt.Errorf("decode commit %s: %w", h, err)
	}
	return c, nil
}

// commitTree returns the root tree of commit h.
func (s *Store) commitTree(h plumbing.Hash) (plumbing.Hash, error) {
	c, err := s.readCommit(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return c.TreeHash, nil
}

// treeEntry is one entry of a tree object. name aliases the object's bytes.
type treeEntry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

func (e *treeEntry) isDir() bool { return e.mode == filemode.Dir }

// readTree returns the entries of tree h in git order. The zero hash and the
// empty tree have no entries.
func (s *Store) readTree(h plumbing.Hash) ([]treeEntry, error) {
	if h.IsZero() || h == emptyTree {
		return nil, nil
	}
	b, err := s.readObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	es, err := parseTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	return es, nil
}

// parseTree decodes a raw tree object ("<octal mode> <name>\0<20-byte
// hash>"...). It is a few times faster than object.Tree.Decode, which
// matters for Walk.
func parseTree(b []byte) ([]treeEntry, error) {
	// Entries are at least 28 bytes; a rough count avoids regrowing.
	es := make([]treeEntry, 0, len(b)/40+1)
	// The names alias b without a copy: b is a fresh buffer that nobody
	// writes to after this (see readTree).
	str := unsafe.String(unsafe.SliceData(b), len(b))
	for i := 0; i < len(str); {
		sp := strings.IndexByte(str[i:], ' ')
		if sp <= 0 {
			return nil, errors.New("malformed tree entry mode")
		}
		var mode uint32
		for _, c := range str[i : i+sp] {
			if c < '0' || c > '7' {
				return nil, errors.New("malformed tree entry mode")
			}
			mode = mode<<3 | uint32(c-'0')
		}
		i += sp + 1
		nul := strings.IndexByte(str[i:], 0)
		if nul <= 0 || i+nul+1+20 > len(str) {
			return nil, errors.New("malformed tree entry name")
		}
		e := treeEntry{name: str[i : i+nul], mode: filemode.FileMode(mode)}
		i += nul + 1
		copy(e.hash[:], str[i:i+20])
		i += 20
		es = append(es, e)
	}
	return es, nil
}

// cmpTreeNames compares two tree entry names in git's tree order, where a
// directory sorts as if its name ended in '/'.
func cmpTreeNames(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	for i := n; ; i++ {
		ca, cb := sortByte(a, i, aDir), sortByte(b, i, bDir)
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
		if ca == -1 {
			return 0
		}
	}
}

// sortByte returns byte i of name as git sorts it (a directory has a
// virtual trailing '/'), or -1 past the end.
func sortByte(s string, i int, dir bool) int {
	switch {
	case i < len(s):
		return int(s[i])
	case i == len(s) && dir:
		return '/'
	}
	return -1
}

// writeTree writes a tree object for entries (sorted here with go-git's
// TreeEntrySorter, i.e. git order) and returns its hash.
func (s *Store) writeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	sort.Sort(object.TreeEntrySorter(entries))
	obj := s.objs.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	h, err := s.objs.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write tree: %w", err)
	}
	return h, nil
}

// lookup finds the entry at slash path p below tree root. ok is false when
// any component is missing (or a non-directory is in the way).
func (s *Store) lookup(root plumbing.Hash, p string) (treeEntry, bool, error) {
	cur := root
	for {
		name, rest, more := strings.Cut(p, "/")
		es, err := s.readTree(cur)
		if err != nil {
			return treeEntry{}, false, err
		}
		e, ok := findEntry(es, name, more)
		if !ok {
			return treeEntry{}, false, nil
		}
		if !more {
			return e, true, nil
		}
		cur, p = e.hash, rest
	}
}

// findEntry looks up name in es. When dir is true only a directory matches;
// otherwise a file is preferred and a directory accepted.
func findEntry(es []treeEntry, name string, dir bool) (treeEntry, bool) {
	var found treeEntry
	ok := false
	for i := range es {
		if es[i].name != name {
			continue
		}
		if es[i].isDir() == dir {
			return es[i], true
		}
		if !dir && !ok {
			found, ok = es[i], true
		}
	}
	return found, ok
}

// blobHash returns the git object id of data as a blob.
func blobHash(data []byte) plumbing.Hash {
	return plumbing.ComputeHash(plumbing.BlobObject, data)
}

// zlibReaders recycles inflaters: allocating one per object dominated the
// cost of Walk.
var zlibReaders, bufReaders sync.Pool

// readLoose reads object h if it is stored loose (as every object tresor
// writes is). ok is false when there is no loose file; the caller then
// asks go-git, which also searches the packs. Reading loose objects
// directly avoids go-git's per-object inflater allocation and cache
// hashing, which made Walk slower than `git log`.
func (s *Store) readLoose(h plumbing.Hash) (plumbing.ObjectType, []byte, bool, error) {
	hex := h.String()
	f, err := os.Open(filepath.Join(s.gitDir, "objects", hex[:2], hex[2:]))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil, false, nil
		}
		return 0, nil, false, err
	}
	defer f.Close()
	br, _ := bufReaders.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(f, 8192)
	} else {
		br.Reset(f)
	}
	defer bufReaders.Put(br)
	var zr io.ReadCloser
	if v := zlibReaders.Get(); v != nil {
		zr = v.(io.ReadCloser)
		err = zr.(zlib.Resetter).Reset(br, nil)
	} else {
		zr, err = zlib.NewReader(br)
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("read object %s: %w", h, err)
	}
	defer zlibReaders.Put(zr)
	// Header: "<type> <size>\x00".
	var hdr [32]byte
	n := 0
	for {
		if n == len(hdr) {
			return 0, nil, false, fmt.Errorf("read object %s: bad header", h)
		}
		if _, err := io.ReadFull(zr, hdr[n:n+1]); err != nil {
			return 0, nil, false, fmt.Errorf("read object %s: %w", h, err)
		}
		if hdr[n] == 0 {
			break
		}
		n++
	}
	typName, sizeStr, ok := strings.Cut(string(hdr[:n]), " ")
	size, err := strconv.ParseInt(sizeStr, 10, 64)
	if !ok || err != nil || size < 0 || size > 1<<31 {
		return 0, nil, false, fmt.Errorf("read object %s: bad header", h)
	}
	typ, err := plumbing.ParseObjectType(typName)
	if err != nil {
		return 0, nil, false, fmt.Errorf("read object %s: %w", h, err)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(zr, data); err != nil {
		return 0, nil, false, fmt.Errorf("read object %s: %w", h, err)
	}
	return typ, data, true, nil
}
