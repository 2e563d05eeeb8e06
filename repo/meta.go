package repo

import (
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"

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

// metaOf decrypts entry file bytes for their non-secret metadata.
func (v *Vault) metaOf(r Ref, data []byte, kr *codec.Keyring) Meta {
	l, err := v.Decode(r, data, kr)
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
