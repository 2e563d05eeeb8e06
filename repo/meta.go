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
	Expires     string // the expires field, YYYY-MM-DD
	RotateEvery string // Catalog.RotateEvery: the entry's own, else its type's
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
		Expires:     e.Fields["expires"],
		RotateEvery: cat.RotateEvery(e),
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

// Metadata returns the non-secret metadata of items, by path, from the
// listing of HEAD (see Listing): a warm cache decrypts nothing, and after a
// commit only new blobs are decrypted. An item that is not committed at
// HEAD (a file dropped in by hand) carries an Err that sends the user to
// doctor, as `ls` does not list it either. kr may be nil: then entries
// whose metadata is not cached carry an Err.
func (v *Vault) Metadata(items []Item, kr *codec.Keyring) map[string]Meta {
	rows, err := v.Listing(func() (*codec.Keyring, error) {
		if kr == nil {
			return nil, errors.New("no identity loaded")
		}
		return kr, nil
	})
	byPath := make(map[string]Meta, len(rows))
	for _, r := range rows {
		byPath[r.Path] = r.Meta
	}
	out := make(map[string]Meta, len(items))
	for _, it := range items {
		switch m, ok := byPath[it.Path]; {
		case err != nil:
			out[it.Path] = Meta{Type: "?", Err: firstLine(err.Error())}
		case ok:
			out[it.Path] = m
		default:
			out[it.Path] = Meta{Type: "?", Err: "not committed (see `tresor doctor`)"}
		}
	}
	return out
}
