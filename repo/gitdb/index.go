package gitdb

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// The index ("dircache") format, versions 2-4, is documented in git's
// Documentation/gitformat-index.txt. Decoding and re-encoding the whole
// index with go-git costs ~22 ms at 10k entries, so for versions 2 and 3
// we only locate each entry's byte span, splice in the changed entries and
// recompute the trailer. Version 4 (prefix-compressed names) goes through
// go-git's decoder and encoder.

var errCorruptIndex = errors.New("index file is corrupt")

const (
	indexHeaderLen   = 12
	indexEntryFixed  = 62 // stat data (40) + sha-1 (20) + flags (2)
	indexFlagExtend  = 0x4000
	indexNameMask    = 0xfff
	indexTrailerSize = sha1.Size
)

// idxEntry locates one entry inside parsedIndex.data.
type idxEntry struct {
	start, end int    // byte span of the whole entry (incl. padding)
	name       []byte // aliases data for v2/v3
	stage      uint8
}

// parsedIndex is a minimally parsed index file.
type parsedIndex struct {
	data       []byte
	version    uint32
	entries    []idxEntry
	entriesEnd int // where the extensions (if any) start
	hasLink    bool
	hasSdir    bool
	mandatory  []string // other extensions git requires to understand
}

// hash returns the object id recorded in entry i.
func (p *parsedIndex) hash(i int) plumbing.Hash {
	var h plumbing.Hash
	copy(h[:], p.data[p.entries[i].start+40:])
	return h
}

// mode returns the file mode recorded in entry i.
func (p *parsedIndex) mode(i int) uint32 {
	return binary.BigEndian.Uint32(p.data[p.entries[i].start+24:])
}

// stat returns the stat data recorded in entry i.
func (p *parsedIndex) stat(i int) fileStat {
	b := p.data[p.entries[i].start:]
	u := func(k int) uint32 { return binary.BigEndian.Uint32(b[4*k:]) }
	return fileStat{ctimeSec: u(0), ctimeNsec: u(1), mtimeSec: u(2), mtimeNsec: u(3),
		dev: u(4), ino: u(5), uid: u(7), gid: u(8), size: u(9)}
}

// find returns the range [lo, hi) of entries named name (all stages).
func (p *parsedIndex) find(name []byte) (lo, hi int) {
	n := len(p.entries)
	lo = sort.Search(n, func(i int) bool { return bytes.Compare(p.entries[i].name, name) >= 0 })
	hi = lo
	for hi < n && bytes.Equal(p.entries[hi].name, name) {
		hi++
	}
	return lo, hi
}

// parseIndex parses the entry table and the extension headers of an index
// file and verifies its trailer.
func parseIndex(data []byte) (*parsedIndex, error) {
	if len(data) < indexHeaderLen+indexTrailerSize || string(data[:4]) != "DIRC" {
		return nil, fmt.Errorf("%w: bad header", errCorruptIndex)
	}
	p := &parsedIndex{data: data, version: binary.BigEndian.Uint32(data[4:])}
	if p.version < 2 || p.version > 4 {
		return nil, fmt.Errorf("index version %d is not supported", p.version)
	}
	count := int(binary.BigEndian.Uint32(data[8:]))
	limit := len(data) - indexTrailerSize
	if count > limit/indexEntryFixed {
		return nil, fmt.Errorf("%w: entry count %d", errCorruptIndex, count)
	}
	p.entries = make([]idxEntry, 0, count)
	off := indexHeaderLen
	var prev []byte
	for i := 0; i < count; i++ {
		if off+indexEntryFixed > limit {
			return nil, fmt.Errorf("%w: truncated entry %d", errCorruptIndex, i)
		}
		flags := binary.BigEndian.Uint16(data[off+60:])
		nameOff := off + indexEntryFixed
		if flags&indexFlagExtend != 0 {
			if p.version < 3 {
				return nil, fmt.Errorf("%w: extended flags in a version 2 index", errCorruptIndex)
			}
			nameOff += 2
		}
		var name []byte
		var end int
		if p.version == 4 {
			strip, n := readOffsetVarint(data[min(nameOff, limit):limit])
			if n == 0 || strip > len(prev) {
				return nil, fmt.Errorf("%w: entry %d: bad name prefix", errCorruptIndex, i)
			}
			rest := data[nameOff+n : limit]
			nul := bytes.IndexByte(rest, 0)
			if nul < 0 {
				return nil, fmt.Errorf("%w: entry %d: unterminated name", errCorruptIndex, i)
			}
			name = make([]byte, 0, len(prev)-strip+nul)
			name = append(append(name, prev[:len(prev)-strip]...), rest[:nul]...)
			end = nameOff + n + nul + 1
		} else {
			nl := int(flags & indexNameMask)
			if nl == indexNameMask { // longer names: NUL-terminated
				nl = bytes.IndexByte(data[min(nameOff, limit):limit], 0)
				if nl < 0 {
					return nil, fmt.Errorf("%w: entry %d: unterminated name", errCorruptIndex, i)
				}
			}
			if nameOff+nl > limit {
				return nil, fmt.Errorf("%w: truncated entry %d", errCorruptIndex, i)
			}
			name = data[nameOff : nameOff+nl]
			// Entries are NUL-padded to a multiple of 8 bytes, with at
			// least one NUL (git's ondisk_ce_size).
			end = off + (nameOff-off+nl+8)&^7
			if end > limit {
				return nil, fmt.Errorf("%w: truncated entry %d", errCorruptIndex, i)
			}
		}
		stage := uint8(flags>>12) & 3
		if i > 0 {
			last := &p.entries[i-1]
			if c := bytes.Compare(last.name, name); c > 0 || c == 0 && last.stage >= stage {
				return nil, fmt.Errorf("%w: entries out of order at %q", errCorruptIndex, name)
			}
		}
		p.entries = append(p.entries, idxEntry{start: off, end: end, name: name, stage: stage})
		prev = name
		off = end
	}
	p.entriesEnd = off
	for off+8 <= limit {
		sig := string(data[off : off+4])
		size := int(binary.BigEndian.Uint32(data[off+4:]))
		if size < 0 || off+8+size > limit {
			return nil, fmt.Errorf("%w: truncated extension %q", errCorruptIndex, sig)
		}
		switch {
		case sig == "link":
			p.hasLink = true
		case sig == "sdir":
			p.hasSdir = true
		case sig[0] < 'A' || sig[0] > 'Z':
			p.mandatory = append(p.mandatory, sig)
		}
		off += 8 + size
	}
	if off != limit {
		return nil, fmt.Errorf("%w: trailing bytes", errCorruptIndex)
	}
	// index.skipHash writes an all-zero trailer, which git accepts.
	trailer := data[limit:]
	if !bytes.Equal(trailer, make([]byte, indexTrailerSize)) {
		if sum := sha1.Sum(data[:limit]); !bytes.Equal(sum[:], trailer) {
			return nil, fmt.Errorf("%w: checksum mismatch", errCorruptIndex)
		}
	}
	return p, nil
}

// readOffsetVarint decodes git's "offset" varint (used by index v4).
func readOffsetVarint(b []byte) (int, int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	v := int(c & 127)
	n := 1
	for c&128 != 0 {
		if n >= len(b) || v > 1<<48 {
			return 0, 0
		}
		c = b[n]
		n++
		v = ((v + 1) << 7) | int(c&127)
	}
	return v, n
}

// indexUpdate is a change to the index entries of one path: remove every
// entry (all stages) for path, then, unless del, add a stage-0 entry.
type indexUpdate struct {
	path string
	del  bool
	hash plumbing.Hash
	mode uint32
	st   fileStat
}

// encodeEntry returns the v2/v3 on-disk form of u.
func (u *indexUpdate) encodeEntry() []byte {
	nl := len(u.path)
	b := make([]byte, (indexEntryFixed+nl+8)&^7)
	put := func(k int, v uint32) { binary.BigEndian.PutUint32(b[4*k:], v) }
	put(0, u.st.ctimeSec)
	put(1, u.st.ctimeNsec)
	put(2, u.st.mtimeSec)
	put(3, u.st.mtimeNsec)
	put(4, u.st.dev)
	put(5, u.st.ino)
	put(6, u.mode)
	put(7, u.st.uid)
	put(8, u.st.gid)
	put(9, u.st.size)
	copy(b[40:60], u.hash[:])
	binary.BigEndian.PutUint16(b[60:], uint16(min(nl, indexNameMask)))
	copy(b[indexEntryFixed:], u.path)
	return b
}

// spliceIndex applies ups (sorted by path, unique) to a v2/v3 index and
// returns the new file. Extensions are dropped: the cache tree (TREE) is
// stale once entries change, and git rebuilds TREE and UNTR on its own.
// changed is false when every update is already in place byte for byte.
func spliceIndex(p *parsedIndex, ups []indexUpdate) (out []byte, changed bool) {
	type span struct {
		lo, hi int
		entry  []byte
	}
	spans := make([]span, len(ups))
	count := len(p.entries)
	for i := range ups {
		u := &ups[i]
		lo, hi := p.find([]byte(u.path))
		sp := span{lo: lo, hi: hi}
		if !u.del {
			sp.entry = u.encodeEntry()
		}
		spans[i] = sp
		switch {
		case u.del:
			changed = changed || hi > lo
		case hi-lo != 1:
			changed = true
		default:
			changed = changed || !bytes.Equal(p.data[p.entries[lo].start:p.entries[lo].end], sp.entry)
		}
		count += -(hi - lo)
		if !u.del {
			count++
		}
	}
	if !changed {
		return nil, false
	}
	startOf := func(i int) int {
		if i < len(p.entries) {
			return p.entries[i].start
		}
		return p.entriesEnd
	}
	size := p.entriesEnd + indexTrailerSize
	for _, sp := range spans {
		size += len(sp.entry)
	}
	out = make([]byte, 0, size)
	out = append(out, "DIRC"...)
	out = binary.BigEndian.AppendUint32(out, p.version)
	out = binary.BigEndian.AppendUint32(out, uint32(count))
	pos := indexHeaderLen
	for _, sp := range spans {
		cut := startOf(sp.lo)
		out = append(out, p.data[pos:cut]...)
		out = append(out, sp.entry...)
		pos = startOf(sp.hi)
	}
	out = append(out, p.data[pos:p.entriesEnd]...)
	sum := sha1.Sum(out)
	return append(out, sum[:]...), true
}

// spliceIndexV4 applies ups through go-git's decoder and encoder, for
// index version 4 whose prefix-compressed names cannot be spliced.
func spliceIndexV4(data []byte, ups []indexUpdate) ([]byte, bool, error) {
	idx := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(data)).Decode(idx); err != nil {
		return nil, false, fmt.Errorf("decode index: %w", err)
	}
	changed := false
	for _, u := range ups {
		var keep []*index.Entry
		var same bool
		removed := 0
		for _, e := range idx.Entries {
			if e.Name != u.path {
				keep = append(keep, e)
				continue
			}
			removed++
			same = !u.del && e.Stage == 0 && e.Hash == u.hash && uint32(e.Mode) == u.mode &&
				e.Size == u.st.size && !e.IntentToAdd && !e.SkipWorktree &&
				e.Dev == u.st.dev && e.Inode == u.st.ino && e.UID == u.st.uid && e.GID == u.st.gid &&
				timeMatches(e.ModifiedAt, u.st.mtimeSec, u.st.mtimeNsec) && timeMatches(e.CreatedAt, u.st.ctimeSec, u.st.ctimeNsec)
		}
		if (u.del && removed == 0) || (removed == 1 && same) {
			continue
		}
		changed = true
		if !u.del {
			keep = append(keep, &index.Entry{
				Name: u.path, Hash: u.hash, Mode: filemode.FileMode(u.mode), Size: u.st.size,
				CreatedAt: unixTime(u.st.ctimeSec, u.st.ctimeNsec), ModifiedAt: unixTime(u.st.mtimeSec, u.st.mtimeNsec),
				Dev: u.st.dev, Inode: u.st.ino, UID: u.st.uid, GID: u.st.gid,
			})
		}
		idx.Entries = keep
	}
	if !changed {
		return nil, false, nil
	}
	idx.Cache, idx.ResolveUndo, idx.EndOfIndexEntry = nil, nil, nil
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return nil, false, fmt.Errorf("encode index: %w", err)
	}
	return buf.Bytes(), true, nil
}

func unixTime(sec, nsec uint32) time.Time {
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), int64(nsec))
}

func timeMatches(t time.Time, sec, nsec uint32) bool {
	if t.IsZero() {
		return sec == 0 && nsec == 0
	}
	return uint32(t.Unix()) == sec && uint32(t.Nanosecond()) == nsec
}

// newIndexData applies ups to the index file content data (nil when there
// is no index yet, in which case the entries of tree base form the
// starting point).
func (s *Store) newIndexData(data []byte, ups []indexUpdate, base plumbing.Hash) ([]byte, bool, error) {
	if data == nil {
		return s.indexFromTree(base, ups)
	}
	if len(data) >= 8 && string(data[:4]) == "DIRC" && binary.BigEndian.Uint32(data[4:]) == 4 {
		return spliceIndexV4(data, ups)
	}
	p, err := parseIndex(data)
	if err != nil {
		return nil, false, err
	}
	switch {
	case p.hasLink:
		return nil, false, fmt.Errorf("%w: the index is a split index; run `git update-index --no-split-index`", ErrUnsupportedRepo)
	case p.hasSdir:
		return nil, false, fmt.Errorf("%w: the index is a sparse index; run `git sparse-checkout disable`", ErrUnsupportedRepo)
	case len(p.mandatory) > 0:
		return nil, false, fmt.Errorf("%w: the index uses extension %q", ErrUnsupportedRepo, p.mandatory[0])
	}
	out, changed := spliceIndex(p, ups)
	return out, changed, nil
}

// indexFromTree builds a version 2 index holding every file of tree base
// and then ups (only used when .git/index is missing).
func (s *Store) indexFromTree(base plumbing.Hash, ups []indexUpdate) ([]byte, bool, error) {
	all := map[string]indexUpdate{}
	if !base.IsZero() {
		err := s.walkFiles(base, "", func(p string, e *treeEntry) error {
			u := indexUpdate{path: p, hash: e.hash, mode: uint32(e.mode)}
			// Record the stat data of work-tree files that hold the
			// committed content, so git need not re-hash them.
			if fi, err := s.inspectPath(p); err == nil && fi != nil && fi.Mode().IsRegular() {
				if same, _ := s.fileMatches(p, e.hash); same {
					u.st = statOf(fi)
				}
			}
			all[p] = u
			return nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	for _, u := range ups {
		if u.del {
			delete(all, u.path)
		} else {
			all[u.path] = u
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := []byte("DIRC")
	out = binary.BigEndian.AppendUint32(out, 2)
	out = binary.BigEndian.AppendUint32(out, uint32(len(paths)))
	for _, p := range paths {
		u := all[p]
		out = append(out, u.encodeEntry()...)
	}
	sum := sha1.Sum(out)
	return append(out, sum[:]...), true, nil
}

// lockIndex computes the index with ups applied and holds it as
// .git/index.lock (see gitLock), ready to be committed, waiting up to wait
// for a git command's lock. It returns a nil lock when the index needs no
// change. tmp is the temporary file recorded in the journal.
//
// The index is read before the lock is taken (the lock is created from a
// complete file), so after locking we check that .git/index was not
// replaced meanwhile; git always replaces it by rename, so a changed inode,
// size or mtime reveals a concurrent writer, and we start over.
func (s *Store) lockIndex(tmp string, ups []indexUpdate, base plumbing.Hash, wait time.Duration) (*gitLock, error) {
	sort.Slice(ups, func(i, j int) bool { return ups[i].path < ups[j].path })
	indexPath := filepath.Join(s.gitDir, "index")
	for attempt := 0; ; attempt++ {
		before, err := os.Lstat(indexPath)
		var data []byte
		switch {
		case err == nil:
			if data, err = os.ReadFile(indexPath); err != nil {
				return nil, fmt.Errorf("read index: %w", err)
			}
			if data == nil {
				data = []byte{}
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("read index: %w", err)
		}
		out, changed, err := s.newIndexData(data, ups, base)
		if err != nil {
			return nil, err
		}
		if !changed {
			return nil, nil
		}
		l, err := createLocked(indexPath, tmp, out, wait)
		if err != nil {
			return nil, err
		}
		after, err := os.Lstat(indexPath)
		if sameFileState(before, after) {
			return l, nil
		}
		l.release()
		if attempt >= 10 {
			return nil, fmt.Errorf("%w: .git/index keeps changing under us", ErrGitLocked)
		}
	}
}

// sameFileState reports whether two Lstat results describe the same,
// unmodified file (both nil: still absent).
func sameFileState(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
