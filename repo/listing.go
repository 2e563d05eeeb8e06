package repo

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo/gitdb"
)

// Row is one entry as `ls` shows it: its reference, non-secret metadata and
// when its value last changed. Never a secret.
type Row struct {
	Ref     Ref
	Key     string // Ref.String(), computed once
	Path    string
	Meta    Meta
	Rotated time.Time // zero when the history does not say
}

const (
	listCacheName = "ls.cache"
	blobMetaName  = "blobmeta-2.cache" // -2: Meta has Expires and RotateEvery
	listMagic     = "tresor-ls-cache-3\n"
)

// Listing returns every committed entry at HEAD, sorted by reference, with
// its metadata and last rotation: what `ls` prints. It lists the committed
// vault, like `git ls-files`: work-tree files that were never committed are
// `doctor`'s business, not entries.
//
// The answer is a function of HEAD alone, so it is cached in .git/tresor
// keyed by HEAD: a warm listing reads one file and decrypts nothing. When
// HEAD has moved, metadata comes from a second cache keyed by blob hash
// (only new blobs are decrypted, in parallel), and last-rotated from
// LastRotated's incremental walk. unlock is called only when some blob must
// be decrypted; when it fails those entries carry Meta.Err and the result is
// not cached.
func (v *Vault) Listing(unlock func() (*codec.Keyring, error)) ([]Row, error) {
	head, ok, err := v.db.Head()
	if err != nil || !ok {
		return nil, err
	}
	cachePath := filepath.Join(v.StateDir(), listCacheName)
	if data, err := os.ReadFile(cachePath); err == nil {
		if rows, cached, ok := decodeRows(data); ok {
			if cached == head.String() {
				return rows, nil
			}
			if rows, complete, ok := v.advance(rows, cached, unlock); ok {
				if complete {
					writeFileAtomic(cachePath, encodeRows(rows, head))
				}
				return rows, nil
			}
		}
	}
	files, err := v.db.TreeFiles(head)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(files))
	hashes := make([]plumbing.Hash, 0, len(files))
	for _, f := range files {
		if r, ok := PathRef(f.Path); ok {
			rows = append(rows, Row{Ref: r, Path: f.Path})
			hashes = append(hashes, f.Hash)
		}
	}
	complete := v.blobMetadata(rows, hashes, unlock)
	rot, err := v.LastRotated()
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].Rotated = rot[rows[i].Path].When
	}
	for i := range rows {
		rows[i].Key = rows[i].Ref.String()
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	if complete {
		writeFileAtomic(cachePath, encodeRows(rows, head))
	}
	os.Remove(filepath.Join(v.StateDir(), "meta.cache")) // the stat-keyed cache of earlier versions
	return rows, nil
}

// maxAdvance bounds how many commits advance replays before a full listing
// is cheaper.
const maxAdvance = 256

// advance brings rows listed at an older HEAD up to the current one by
// replaying the commits in between, oldest first: removed paths go, new and
// changed ones get the metadata of their new blob (decrypted) and the
// last-rotated rule of LastRotated (a value change or a creation dates it; a
// metadata-only change keeps the old date; mv carries the old path's date).
// ok is false when old is not on the first-parent chain within maxAdvance
// commits (history rewritten, a pull that replaced it): then the caller lists
// from scratch.
func (v *Vault) advance(old []Row, oldHead string, unlock func() (*codec.Keyring, error)) (rows []Row, complete, ok bool) {
	var commits []*gitdb.CommitInfo
	found := false
	err := v.db.Walk("", func(ci *gitdb.CommitInfo) error {
		if ci.Hash.String() == oldHead {
			found = true
			return errStop
		}
		if len(commits) == maxAdvance {
			return errStop
		}
		commits = append(commits, ci)
		return nil
	})
	if err != nil || !found {
		return nil, false, false
	}
	index := make(map[string]int, len(old))
	for i := range old {
		index[old[i].Path] = i
	}
	// overlay holds the paths changed since old: a row, or nil if removed.
	overlay := map[string]*Row{}
	get := func(p string) (Row, bool) {
		if r, ok := overlay[p]; ok {
			if r == nil {
				return Row{}, false
			}
			return *r, true
		}
		if i, ok := index[p]; ok {
			return old[i], true
		}
		return Row{}, false
	}
	blobs := map[string]plumbing.Hash{}
	trailer := func(ci *gitdb.CommitInfo, k string) string {
		v, _, _ := strings.Cut(ci.Trailers[k], "\n")
		return v
	}
	for i := len(commits) - 1; i >= 0; i-- {
		ci := commits[i]
		op := trailer(ci, "Tresor-Op")
		valueChanged := trailer(ci, "Tresor-Value-Changed") != "no"
		removed := map[string]Row{}
		for _, ch := range ci.Changes {
			if ch.To.IsZero() {
				if r, ok := get(ch.Path); ok {
					removed[ch.Path] = r
				}
				overlay[ch.Path] = nil
				delete(blobs, ch.Path)
			}
		}
		for _, ch := range ci.Changes {
			ref, ok := PathRef(ch.Path)
			if !ok || ch.To.IsZero() {
				continue
			}
			prev, existed := get(ch.Path)
			rot := ci.Author.When
			switch {
			case ch.From.IsZero() && op == "mv":
				if from, err := ParseRef(trailer(ci, "Tresor-From")); err == nil {
					if r, ok := removed[from.Path()]; ok {
						rot = r.Rotated
					} else if r, ok := get(from.Path()); ok {
						rot = r.Rotated
					}
				}
			case !ch.From.IsZero() && !valueChanged && existed:
				rot = prev.Rotated
			}
			overlay[ch.Path] = &Row{Ref: ref, Key: ref.String(), Path: ch.Path, Rotated: rot}
			blobs[ch.Path] = ch.To
		}
	}
	complete = true
	if len(blobs) > 0 {
		fresh := make([]Row, 0, len(blobs))
		hashes := make([]plumbing.Hash, 0, len(blobs))
		for p, h := range blobs {
			fresh = append(fresh, *overlay[p])
			hashes = append(hashes, h)
		}
		complete = v.decryptMetas(fresh, hashes, unlock)
		for i := range fresh {
			overlay[fresh[i].Path] = &fresh[i]
		}
	}
	// old is sorted: keep its untouched rows in order and merge in the
	// changed ones, sorted.
	var added []Row
	for _, r := range overlay {
		if r != nil {
			added = append(added, *r)
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].Key < added[j].Key })
	rows = make([]Row, 0, len(old)+len(added))
	for i := range old {
		if _, touched := overlay[old[i].Path]; touched {
			continue
		}
		for len(added) > 0 && added[0].Key < old[i].Key {
			rows = append(rows, added[0])
			added = added[1:]
		}
		rows = append(rows, old[i])
	}
	rows = append(rows, added...)
	return rows, complete, true
}

// blobMetadata fills rows[i].Meta for the blob hashes[i], from the cache
// keyed by blob hash and the name's last segment (Meta.Env depends on it: a
// renamed entry keeps its blob), or by decrypting the committed blob. It reports whether
// every row could be read.
func (v *Vault) blobMetadata(rows []Row, hashes []plumbing.Hash, unlock func() (*codec.Keyring, error)) bool {
	cachePath := filepath.Join(v.StateDir(), blobMetaName)
	cache := map[metaKey]Meta{}
	if f, err := os.Open(cachePath); err == nil {
		if gob.NewDecoder(f).Decode(&cache) != nil {
			cache = map[metaKey]Meta{}
		}
		f.Close()
	}
	fresh := make(map[metaKey]Meta, len(rows))
	var todo []int
	for i, h := range hashes {
		k := metaKey{h, lastSegment(rows[i].Ref.Name)}
		if m, ok := cache[k]; ok {
			rows[i].Meta = m
			fresh[k] = m
			continue
		}
		todo = append(todo, i)
	}
	complete := true
	if len(todo) > 0 {
		sub := make([]Row, len(todo))
		subHashes := make([]plumbing.Hash, len(todo))
		for k, i := range todo {
			sub[k], subHashes[k] = rows[i], hashes[i]
		}
		complete = v.decryptMetas(sub, subHashes, unlock)
		for k, i := range todo {
			rows[i].Meta = sub[k].Meta
			if sub[k].Meta.Err == "" {
				fresh[metaKey{hashes[i], lastSegment(rows[i].Ref.Name)}] = sub[k].Meta
			}
		}
	}
	if len(todo) > 0 || len(fresh) != len(cache) {
		writeGob(cachePath, fresh)
	}
	return complete
}

// metaKey keys the blob metadata cache.
type metaKey struct {
	Blob plumbing.Hash
	Leaf string // the last segment of the entry's name
}

// decryptMetas sets rows[i].Meta from blob hashes[i], decrypting in
// parallel; it reports whether every blob could be read.
func (v *Vault) decryptMetas(rows []Row, hashes []plumbing.Hash, unlock func() (*codec.Keyring, error)) bool {
	kr, err := unlock()
	if err != nil {
		kr = nil
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(rows)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rows[i].Meta = v.blobMeta(rows[i].Ref, hashes[i], kr)
			}
		}()
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range rows {
		if r.Meta.Err != "" {
			return false
		}
	}
	return true
}

func (v *Vault) blobMeta(r Ref, h plumbing.Hash, kr *codec.Keyring) Meta {
	if kr == nil {
		return Meta{Type: "?", Err: "no identity"}
	}
	data, err := v.db.BlobByHash(h)
	if err != nil {
		return Meta{Type: "?", Err: "unreadable: " + firstLine(err.Error())}
	}
	return v.metaOf(r, data, kr)
}

// The ls cache: magic, HEAD, row count, then each row's strings as
// uvarint-length-prefixed bytes. Decoding slices one string, so a warm
// listing of 10k entries allocates little.
func encodeRows(rows []Row, head plumbing.Hash) []byte {
	var b bytes.Buffer
	b.WriteString(listMagic)
	b.WriteString(head.String())
	var tmp [binary.MaxVarintLen64]byte
	putU := func(n uint64) { b.Write(tmp[:binary.PutUvarint(tmp[:], n)]) }
	putS := func(s string) { putU(uint64(len(s))); b.WriteString(s) }
	putL := func(l []string) {
		putU(uint64(len(l)))
		for _, s := range l {
			putS(s)
		}
	}
	putU(uint64(len(rows)))
	for _, r := range rows {
		putS(r.Path)
		putS(r.Key)
		putS(r.Ref.Scope.Kind)
		putS(r.Ref.Scope.Name)
		putS(r.Ref.Name)
		m := r.Meta
		putS(m.Type)
		putS(m.Service)
		putS(m.Env)
		putS(m.Description)
		putL(m.Hosts)
		putL(m.Tags)
		putS(m.Expires)
		putS(m.RotateEvery)
		if m.Canary {
			putU(1)
		} else {
			putU(0)
		}
		if r.Rotated.IsZero() {
			putU(0)
		} else {
			putU(uint64(r.Rotated.UnixNano()))
		}
	}
	return b.Bytes()
}

func decodeRows(data []byte) (rows []Row, head string, ok bool) {
	s := string(data)
	pre := len(listMagic) + 40
	if len(s) < pre || s[:len(listMagic)] != listMagic {
		return nil, "", false
	}
	head = s[len(listMagic):pre]
	pos := pre
	fail := false
	getU := func() uint64 {
		n, k := binary.Uvarint(data[pos:])
		if k <= 0 {
			fail = true
			return 0
		}
		pos += k
		return n
	}
	getS := func() string {
		n := getU()
		if fail || n > uint64(len(s)-pos) {
			fail = true
			return ""
		}
		out := s[pos : pos+int(n)]
		pos += int(n)
		return out
	}
	getL := func() []string {
		n := getU()
		if fail || n > uint64(len(s)-pos) {
			fail = true
			return nil
		}
		if n == 0 {
			return nil
		}
		l := make([]string, n)
		for i := range l {
			l[i] = getS()
		}
		return l
	}
	// A row takes at least minRowBytes (one byte per field), so a count
	// the data cannot hold is rejected before anything is allocated.
	const minRowBytes = 15
	n := getU()
	if fail || n > uint64(len(s)-pos)/minRowBytes {
		return nil, "", false
	}
	rows = make([]Row, n)
	for i := range rows {
		r := &rows[i]
		r.Path = getS()
		r.Key = getS()
		r.Ref.Scope.Kind = getS()
		r.Ref.Scope.Name = getS()
		r.Ref.Name = getS()
		r.Meta.Type = getS()
		r.Meta.Service = getS()
		r.Meta.Env = getS()
		r.Meta.Description = getS()
		r.Meta.Hosts = getL()
		r.Meta.Tags = getL()
		r.Meta.Expires = getS()
		r.Meta.RotateEvery = getS()
		r.Meta.Canary = getU() == 1
		if t := getU(); t != 0 {
			r.Rotated = time.Unix(0, int64(t))
		}
		if fail {
			return nil, "", false
		}
	}
	if pos != len(s) {
		return nil, "", false
	}
	return rows, head, true
}

// writeFileAtomic writes a cache file atomically; caches are best effort.
func writeFileAtomic(path string, data []byte) {
	f, err := os.CreateTemp(filepath.Dir(path), ".cache-*")
	if err != nil {
		return
	}
	name := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || os.Rename(name, path) != nil {
		os.Remove(name)
	}
}
