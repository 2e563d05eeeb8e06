package repo

import (
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"github.com/tresor-dev/tresor/codec"
)

// Meta is the non-secret metadata of an entry: what `ls` shows. It never
// holds a secret field.
type Meta struct {
	Type        string
	Service     string
	Env         string
	Description string
	Hosts       []string
	Tags        []string
	Canary      bool
	// Err says why the entry could not be read ("" when it could).
	Err string
}

type metaStamp struct {
	Size  int64
	Mtime int64
	Ctime int64
	Ino   uint64
}

type metaRecord struct {
	Stamp metaStamp
	Meta  Meta
}

const metaCacheName = "meta.cache"

func stampOf(fi os.FileInfo) metaStamp {
	s := metaStamp{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.Ino = uint64(st.Ino)
		s.Ctime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return s
}

// Metadata returns the metadata of the items, by path. Entries unchanged
// since they were last seen (same size, times and inode) come from a cache
// in .git/tresor and are not decrypted; the others are decrypted in
// parallel. kr may be nil: then uncached entries report Err.
func (v *Vault) Metadata(items []Item, kr *codec.Keyring) map[string]Meta {
	cachePath := filepath.Join(v.StateDir(), metaCacheName)
	cache := map[string]metaRecord{}
	if f, err := os.Open(cachePath); err == nil {
		if gob.NewDecoder(f).Decode(&cache) != nil {
			cache = map[string]metaRecord{}
		}
		f.Close()
	}
	out := make(map[string]Meta, len(items))
	fresh := make(map[string]metaRecord, len(items))
	var todo []Item
	var stamps []metaStamp
	for _, it := range items {
		fi, err := os.Lstat(filepath.Join(v.Dir, filepath.FromSlash(it.Path)))
		if err != nil {
			out[it.Path] = Meta{Type: "?", Err: err.Error()}
			continue
		}
		st := stampOf(fi)
		if rec, ok := cache[it.Path]; ok && rec.Stamp == st && rec.Meta.Err == "" {
			out[it.Path] = rec.Meta
			fresh[it.Path] = rec
			continue
		}
		todo = append(todo, it)
		stamps = append(stamps, st)
	}
	if len(todo) > 0 {
		metas := make([]Meta, len(todo))
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					metas[i] = v.readMeta(todo[i].Ref, kr)
				}
			}()
		}
		for i := range todo {
			next <- i
		}
		close(next)
		wg.Wait()
		for i, it := range todo {
			out[it.Path] = metas[i]
			if metas[i].Err == "" {
				fresh[it.Path] = metaRecord{Stamp: stamps[i], Meta: metas[i]}
			}
		}
	}
	if len(todo) > 0 || len(fresh) != len(cache) {
		writeGob(cachePath, fresh)
	}
	return out
}

func (v *Vault) readMeta(r Ref, kr *codec.Keyring) Meta {
	if kr == nil {
		return Meta{Type: "?", Err: "no identity"}
	}
	l, err := v.Load(r, kr)
	if err != nil {
		var de *DecryptError
		msg := err.Error()
		switch {
		case errors.As(err, &de) && errors.Is(de.Kind, codec.ErrNotForYou):
			msg = "not encrypted to you"
		case errors.As(err, &de) && errors.Is(de.Kind, codec.ErrCorrupt):
			msg = "corrupted"
		}
		return Meta{Type: "?", Err: msg}
	}
	defer clear(l.Doc)
	cat, _ := v.Catalog()
	e := l.Entry
	return Meta{
		Type:        e.Type,
		Service:     e.Fields["service"],
		Env:         cat.EnvName(e, lastSegment(r.Name)),
		Description: e.Fields["description"],
		Hosts:       e.Lists["hosts"],
		Tags:        e.Lists["tags"],
		Canary:      e.Fields["canary"] == "true",
	}
}

// writeGob writes a cache file atomically; caches are best effort.
func writeGob(path string, v any) {
	f, err := os.CreateTemp(filepath.Dir(path), ".cache-*")
	if err != nil {
		return
	}
	name := f.Name()
	err = gob.NewEncoder(f).Encode(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return
	}
	if os.Rename(name, path) != nil {
		os.Remove(name)
	}
}
