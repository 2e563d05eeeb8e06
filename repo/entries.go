package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

// Context is where a request comes from.
type Context struct {
	// Project is the project bound by .tresor.yaml, or "".
	Project string
}

// EntryError is a failure that concerns one entry. Its message starts with
// the reference, and never holds a value.
type EntryError struct {
	Ref string
	Err error
}

func (e *EntryError) Error() string { return e.Ref + ": " + e.Err.Error() }
func (e *EntryError) Unwrap() error { return e.Err }

// ErrNotFound means no entry has the name in the scopes searched.
var ErrNotFound = errors.New("no such entry")

// searchScopes lists the scopes a bare name is looked up in, most specific
// first: the project, this device, global.
func (v *Vault) searchScopes(ctx Context) []Scope {
	var out []Scope
	if ctx.Project != "" {
		out = append(out, Scope{Kind: Project, Name: ctx.Project})
	}
	if v.Device != "" {
		out = append(out, Scope{Kind: Device, Name: v.Device})
	}
	return append(out, GlobalScope)
}

// DefaultScope is where a new entry goes when no scope is given.
func (v *Vault) DefaultScope(ctx Context) Scope {
	if ctx.Project != "" {
		return Scope{Kind: Project, Name: ctx.Project}
	}
	return GlobalScope
}

// Exists reports whether the entry file exists in the work tree.
func (v *Vault) Exists(r Ref) bool {
	// A symlink "exists" too, so that reading it reports the refusal.
	_, err := os.Lstat(filepath.Join(v.Dir, filepath.FromSlash(r.Path())))
	return err == nil
}

// Resolve finds an existing entry from what a user typed: a full reference,
// or a name looked up in the given scope, or else in the visible scopes
// (project, device, global: the most specific wins).
func (v *Vault) Resolve(name string, scope *Scope, ctx Context) (Ref, error) {
	candidates, err := v.candidates(name, scope, ctx)
	if err != nil {
		return Ref{}, err
	}
	for _, r := range candidates {
		if v.Exists(r) {
			return r, nil
		}
	}
	shown := name
	if len(candidates) == 1 {
		shown = candidates[0].String()
	}
	hint := ""
	if other, ok := v.caseVariant(candidates[len(candidates)-1]); ok {
		hint = fmt.Sprintf(" (did you mean %q?)", other)
	} else if len(candidates) > 1 {
		var names []string
		for _, c := range candidates {
			names = append(names, c.Scope.String())
		}
		hint = " in scopes " + strings.Join(names, ", ")
	}
	return Ref{}, &EntryError{Ref: shown, Err: fmt.Errorf("%w%s", ErrNotFound, hint)}
}

// Target is the reference a write goes to: the full reference or scope the
// user gave; else the entry a read of the same name would find (so `set`
// updates what `get` shows); else the default scope.
func (v *Vault) Target(name string, scope *Scope, ctx Context) (r Ref, exists bool, err error) {
	candidates, err := v.candidates(name, scope, ctx)
	if err != nil {
		return Ref{}, false, err
	}
	for _, c := range candidates {
		if v.Exists(c) {
			return c, true, nil
		}
	}
	if len(candidates) == 1 {
		return candidates[0], false, nil
	}
	clean, _ := CleanName(name)
	return Ref{Scope: v.DefaultScope(ctx), Name: clean}, false, nil
}

func (v *Vault) candidates(name string, scope *Scope, ctx Context) ([]Ref, error) {
	if scope == nil && IsRef(name) {
		r, err := ParseRef(name)
		if err != nil {
			return nil, err
		}
		return []Ref{r}, nil
	}
	clean, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	if scope != nil {
		return []Ref{{Scope: *scope, Name: clean}}, nil
	}
	var out []Ref
	for _, sc := range v.searchScopes(ctx) {
		out = append(out, Ref{Scope: sc, Name: clean})
	}
	return out, nil
}

// caseVariant finds an existing entry whose name differs from r's only by
// letter case.
func (v *Vault) caseVariant(r Ref) (string, bool) {
	conflict, err := v.caseConflict(r, nil)
	if err != nil || conflict == "" {
		return "", false
	}
	return conflict, true
}

// caseConflict walks r's path and reports an existing sibling, at any level,
// whose name equals r's segment ignoring case but is not identical: on macOS
// and Windows both would land in one file. Entry files in going (paths
// that the same commit deletes) are not conflicts: renaming an entry to a
// case variant of itself is allowed.
func (v *Vault) caseConflict(r Ref, going map[string]bool) (string, error) {
	rel := r.Path()
	dir := v.Dir
	for _, seg := range strings.Split(rel, "/") {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		want := FoldName(seg)
		for _, e := range ents {
			if e.Name() != seg && FoldName(e.Name()) == want {
				other := path.Join(strings.TrimPrefix(strings.TrimPrefix(dir, v.Dir), "/"), e.Name())
				if !e.IsDir() && going[filepath.ToSlash(other)] {
					continue
				}
				if ref, ok := PathRef(filepath.ToSlash(other)); ok {
					return ref.String(), nil
				}
				if n, err := decodeSegment(strings.TrimSuffix(e.Name(), Ext)); err == nil {
					return n, nil
				}
				return e.Name(), nil
			}
		}
		dir = filepath.Join(dir, seg)
	}
	return "", nil
}

// Loaded is a decrypted entry.
type Loaded struct {
	Ref   Ref
	Entry *schemas.Entry
	Type  *schemas.Type
	// Doc is the decrypted YAML document. Callers should clear it after use.
	Doc []byte
}

// ReadFile returns an entry file's bytes from the work tree, refusing
// symlinks and files too large to be entries.
func (v *Vault) ReadFile(r Ref) ([]byte, error) {
	rel := r.Path()
	if err := v.checkNoSymlink(rel); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &EntryError{Ref: r.String(), Err: ErrNotFound}
		}
		return nil, &EntryError{Ref: r.String(), Err: err}
	}
	f, err := os.Open(filepath.Join(v.Dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, &EntryError{Ref: r.String(), Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, codec.MaxFile+1))
	if err != nil {
		return nil, &EntryError{Ref: r.String(), Err: err}
	}
	if len(data) > codec.MaxFile {
		return nil, &EntryError{Ref: r.String(), Err: codec.ErrTooLarge}
	}
	return data, nil
}

// Load reads, decrypts and parses one entry. Every failure names the entry
// and says what to do.
func (v *Vault) Load(r Ref, kr *codec.Keyring) (*Loaded, error) {
	data, err := v.ReadFile(r)
	if err != nil {
		return nil, err
	}
	return v.Decode(r, data, kr)
}

// Decode decrypts and parses entry file bytes.
func (v *Vault) Decode(r Ref, data []byte, kr *codec.Keyring) (*Loaded, error) {
	doc, err := kr.Decrypt(data)
	if err != nil {
		// A header damaged after its commit reads as "not for you": say
		// what it is when the committed copy decrypts.
		if !errors.Is(err, codec.ErrNotForYou) {
		} else if derr := v.damagedInWorktree(r, data, kr); derr != nil {
			return nil, &EntryError{Ref: r.String(), Err: derr}
		}
		return nil, &EntryError{Ref: r.String(), Err: v.explainDecrypt(r, kr, err)}
	}
	e, err := codec.Unmarshal(doc)
	if err != nil {
		clear(doc)
		return nil, &EntryError{Ref: r.String(), Err: fmt.Errorf("entry document: %w", err)}
	}
	cat, err := v.Catalog()
	if err != nil {
		return nil, err
	}
	t, err := cat.Type(e.Type)
	if err != nil {
		return nil, &EntryError{Ref: r.String(), Err: err}
	}
	return &Loaded{Ref: r, Entry: e, Type: t, Doc: doc}, nil
}

// DecryptError explains a decryption failure with the fix.
type DecryptError struct {
	Kind error // codec.ErrNotForYou, codec.ErrCorrupt, codec.ErrTooLarge
	Msg  string
}

func (e *DecryptError) Error() string { return e.Msg }
func (e *DecryptError) Unwrap() error { return e.Kind }

func (v *Vault) explainDecrypt(r Ref, kr *codec.Keyring, err error) error {
	switch {
	case errors.Is(err, codec.ErrNotForYou):
		return &DecryptError{Kind: codec.ErrNotForYou, Msg: fmt.Sprintf(
			"not encrypted to your identity %s (public key %s); ask a member who can read it to add your public key as a line of %s, accept it with `tresor team trust`, commit it, and then change the entry (any change made with `tresor set` or `tresor edit` encrypts it to every key listed there)",
			kr.Path, kr.Recipient, RecipientsFile)}
	case errors.Is(err, codec.ErrCorrupt):
		return &DecryptError{Kind: codec.ErrCorrupt, Msg: fmt.Sprintf(
			"%v; nothing was decrypted. The last good version is in history: `tresor log %s` (restore it with `tresor doctor --fix`)",
			err, r)}
	}
	return &DecryptError{Kind: err, Msg: err.Error()}
}

// damagedInWorktree explains a decryption failure of data, r's work-tree
// file, when HEAD holds a different copy that does decrypt: the file was
// damaged (a bit flip, a bad edit) after its commit, and the key is fine.
// It returns nil when that is not the case.
func (v *Vault) damagedInWorktree(r Ref, data []byte, kr *codec.Keyring) error {
	if v.db == nil || kr == nil {
		return nil
	}
	head, ok, err := v.db.Head()
	if err != nil || !ok {
		return nil
	}
	committed, ok, err := v.db.ReadBlob(head, r.Path())
	if err != nil || !ok || bytes.Equal(committed, data) {
		return nil
	}
	doc, err := kr.Decrypt(committed)
	if err != nil {
		return nil
	}
	clear(doc)
	return &DecryptError{Kind: codec.ErrCorrupt, Msg: fmt.Sprintf(
		"the file %s is damaged: it differs from its last commit, which decrypts; nothing was decrypted. Restore the committed copy with `tresor doctor --fix`",
		r.Path())}
}

// Put is one change of an Apply: an entry to write, or nil to delete.
type Put struct {
	Ref   Ref
	Entry *schemas.Entry
}

// Prepared is an entry validated and encrypted, ready to commit.
type Prepared struct {
	Ref      Ref
	Data     []byte // ciphertext; nil for a delete
	Warnings []string
	Type     string
}

// Prepare normalises, validates, encodes and encrypts the puts. It changes
// nothing on disk.
func (v *Vault) Prepare(puts []Put) ([]Prepared, error) {
	cat, err := v.Catalog()
	if err != nil {
		return nil, err
	}
	for _, p := range puts {
		if p.Entry != nil {
			// Encrypting to a recipients set this device has not accepted
			// would hand the value to whoever a remote added.
			if err := v.checkTrust(); err != nil {
				return nil, err
			}
			break
		}
	}
	out := make([]Prepared, 0, len(puts))
	for _, p := range puts {
		if p.Entry == nil {
			out = append(out, Prepared{Ref: p.Ref})
			continue
		}
		e := p.Entry
		cat.Normalize(e, lastSegment(p.Ref.Name))
		warnings, err := cat.Validate(e)
		if err != nil {
			return nil, &EntryError{Ref: p.Ref.String(), Err: err}
		}
		t, err := cat.Type(e.Type)
		if err != nil {
			return nil, &EntryError{Ref: p.Ref.String(), Err: err}
		}
		doc, err := codec.Marshal(e, t)
		if err != nil {
			return nil, &EntryError{Ref: p.Ref.String(), Err: err}
		}
		rs, err := v.Recipients(p.Ref.Scope)
		if err != nil {
			clear(doc)
			return nil, &EntryError{Ref: p.Ref.String(), Err: err}
		}
		ct, err := codec.Encrypt(doc, rs, v.Config.Armor)
		clear(doc)
		if err != nil {
			return nil, &EntryError{Ref: p.Ref.String(), Err: err}
		}
		out = append(out, Prepared{Ref: p.Ref, Data: ct, Warnings: warnings, Type: e.Type})
	}
	return out, nil
}

func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// Commit writes prepared changes as exactly one commit, under the vault
// lock. New names that differ from an existing one only by case are refused.
// On error nothing changes.
func (v *Vault) Commit(ctx context.Context, prepared []Prepared, msg Message, author gitdb.Signature, extra ...gitdb.Change) error {
	unlock, err := v.db.Lock(ctx, LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	changes := make([]gitdb.Change, 0, len(prepared)+len(extra))
	going := map[string]bool{}
	for _, p := range prepared {
		if p.Data == nil {
			going[p.Ref.Path()] = true
		}
	}
	// Deletions first: on a case-insensitive file system, renaming Foo to
	// foo must remove Foo.age before writing foo.age, not after.
	prepared = append([]Prepared(nil), prepared...)
	sort.SliceStable(prepared, func(i, j int) bool { return prepared[i].Data == nil && prepared[j].Data != nil })
	for _, p := range prepared {
		if p.Data == nil {
			if !v.Exists(p.Ref) {
				return &EntryError{Ref: p.Ref.String(), Err: ErrNotFound}
			}
			changes = append(changes, gitdb.Change{Path: p.Ref.Path(), Delete: true})
			continue
		}
		if !v.Exists(p.Ref) {
			if other, err := v.caseConflict(p.Ref, going); err != nil {
				return err
			} else if other != "" {
				return &EntryError{Ref: p.Ref.String(), Err: fmt.Errorf("differs only by letter case from existing %q; names are unique ignoring case so the vault works on macOS and Windows", other)}
			}
		}
		changes = append(changes, gitdb.Change{Path: p.Ref.Path(), Data: p.Data})
	}
	for _, ch := range extra {
		// A new recipients file is built from the current one: if that is
		// not trusted, committing it would accept what a pull slipped in.
		if ch.Path == RecipientsFile {
			if err := v.checkTrust(); err != nil {
				return err
			}
		}
	}
	changes = append(changes, extra...)
	if msg.Device == "" {
		msg.Device = v.Device
	}
	author.When = v.clock()
	if _, err = v.db.Commit(changes, msg.String(), author); err != nil {
		return err
	}
	// A recipients file this device commits itself is one it accepts.
	for _, ch := range extra {
		if ch.Path == RecipientsFile && !ch.Delete {
			return v.recordTrusted(ch.Data)
		}
	}
	return nil
}

// Item is one entry file found in the work tree.
type Item struct {
	Ref  Ref
	Path string
}

// List walks the work tree and returns every entry, sorted by reference.
// Files that are not entries (bad names, temp files) are skipped; symlinks
// are reported as errors.
func (v *Vault) List() ([]Item, []error) {
	var items []Item
	var problems []error
	for _, top := range []string{"global", "projects", "devices", "mcp"} {
		root := filepath.Join(v.Dir, top)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				problems = append(problems, err)
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				rel, _ := filepath.Rel(v.Dir, p)
				problems = append(problems, fmt.Errorf("%s: %w", filepath.ToSlash(rel), ErrSymlink))
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), Ext) {
				return nil
			}
			rel, _ := filepath.Rel(v.Dir, p)
			rel = filepath.ToSlash(rel)
			if r, ok := PathRef(rel); ok {
				items = append(items, Item{Ref: r, Path: rel})
			}
			return nil
		})
		if err != nil {
			problems = append(problems, err)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Ref.String() < items[j].Ref.String() })
	return items, problems
}
