package repo

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tresor-dev/tresor/codec"
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
	blobMetaName  = "blobmeta.cache"
	listMagic     = "tresor-ls-cache-2\n"
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
		if rows, ok := decodeRows(data, head); ok {
			return rows, nil
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

// blobMetadata fills rows[i].Meta for the blob hashes[i], from the cache
// keyed by blob hash or by decrypting the committed blob. It reports whether
// every row could be read.
func (v *Vault) blobMetadata(rows []Row, hashes []plumbing.Hash, unlock func() (*codec.Keyring, error)) bool {
	cachePath := filepath.Join(v.StateDir(), blobMetaName)
	cache := map[plumbing.Hash]Meta{}
	if f, err := os.Open(cachePath); err == nil {
		if gob.NewDecoder(f).Decode(&cache) != nil {
			cache = map[plumbing.Hash]Meta{}
		}
		f.Close()
	}
	fresh := make(map[plumbing.Hash]Meta, len(rows))
	var todo []int
	for i, h := range hashes {
		if m, ok := cache[h]; ok {
			rows[i].Meta = m
			fresh[h] = m
			continue
		}
		todo = append(todo, i)
	}
	complete := true
	if len(todo) > 0 {
		kr, err := unlock()
		if err != nil {
			kr = nil
		}
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					rows[i].Meta = v.blobMeta(rows[i].Ref, hashes[i], kr)
				}
			}()
		}
		for _, i := range todo {
			next <- i
		}
		close(next)
		wg.Wait()
		for _, i := range todo {
			if rows[i].Meta.Err == "" {
				fresh[hashes[i]] = rows[i].Meta
			} else {
				complete = false
			}
		}
	}
	if len(todo) > 0 || len(fresh) != len(cache) {
		writeGob(cachePath, fresh)
	}
	return complete
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

func decodeRows(data []byte, head plumbing.Hash) (rows []Row, ok bool) {
	s := string(data)
	pre := listMagic + head.String()
	if len(s) < len(pre) || s[:len(pre)] != pre {
		return nil, false
	}
	pos := len(pre)
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
	n := getU()
	if fail || n > uint64(len(s)) {
		return nil, false
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
		r.Meta.Canary = getU() == 1
		if t := getU(); t != 0 {
			r.Rotated = time.Unix(0, int64(t))
		}
		if fail {
			return nil, false
		}
	}
	if pos != len(s) {
		return nil, false
	}
	return rows, true
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
