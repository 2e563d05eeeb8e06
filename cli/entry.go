package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// maxInput caps a value read from stdin or a file.
const maxInput = codec.MaxDocument

// readInput reads a whole value from a file or stdin, exactly.
func readInput(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%s is over the %d-byte limit", what, maxInput)
	}
	return b, nil
}

func (r *runner) readFileArg(p string) ([]byte, error) {
	f, err := os.Open(r.env.abs(p))
	if err != nil {
		return nil, fmt.Errorf("--from-file: %w", err)
	}
	defer f.Close()
	return readInput(f, p)
}

// parseFields parses --field k=v flags. Values are kept whole: commas are
// split later, and only for list fields.
func parseFields(flags []string) ([][2]string, error) {
	var out [][2]string
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, usagef("--field %q: want NAME=VALUE", k)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// applyFields sets non-secret fields from the command line. Secret fields
// are refused: argv is visible to every user of the machine. A list field
// takes comma-separated items, and --field given again for the same list
// adds to what this command line already gave (hosts=a --field hosts=b is
// [a b]); the first occurrence replaces the stored list. A scalar field
// keeps its commas and may be given once.
func applyFields(ref repo.Ref, t *schemas.Type, e *schemas.Entry, fields [][2]string) error {
	seen := map[string]bool{}
	for _, kv := range fields {
		k, v := kv[0], kv[1]
		f, ok := t.Field(k)
		if !ok {
			return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("$.%s: unknown field for type %s (fields: %s)", k, t.Name, strings.Join(t.FieldNames(), ", "))}
		}
		if f.Secret {
			return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("%s is a secret field and cannot be given on the command line (argv shows in ps and shell history); pipe it on stdin or use `tresor edit`", k)}
		}
		again := seen[k]
		seen[k] = true
		switch {
		case again && !f.IsList():
			return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("--field %s given twice; %s is not a list field", k, k)}
		case again && v == "":
			return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("--field %s= (remove) given together with other --field %s values", k, k)}
		case v == "":
			e.Delete(k)
		case f.IsList():
			var items []string
			if again {
				items = append(items, e.Lists[k]...)
			}
			items = append(items, commaList([]string{v})...)
			e.SetList(k, items)
		default:
			e.Set(k, v)
		}
	}
	return nil
}

// secretsEqual reports whether two entries hold the same secret values.
func secretsEqual(t *schemas.Type, a, b *schemas.Entry) bool {
	for _, f := range t.Fields {
		if f.Secret && (a.Fields[f.Name] != b.Fields[f.Name] || a.Has(f.Name) != b.Has(f.Name)) {
			return false
		}
	}
	return true
}

func entriesEqual(a, b *schemas.Entry) bool {
	if a.Type != b.Type || len(a.Fields) != len(b.Fields) || len(a.Lists) != len(b.Lists) {
		return false
	}
	for k, v := range a.Fields {
		if w, ok := b.Fields[k]; !ok || w != v {
			return false
		}
	}
	for k, v := range a.Lists {
		w, ok := b.Lists[k]
		if !ok || strings.Join(v, "\x00") != strings.Join(w, "\x00") || len(v) != len(w) {
			return false
		}
	}
	return true
}

func (r *runner) cmdSet(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME [--type T] [--scope S] [--field k=v]... [--from-file F]"); err != nil {
		return err
	}
	fields, err := parseFields(c.StringSlice("field"))
	if err != nil {
		return err
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	ref, exists, err := s.vault.Target(c.Args().First(), sc, s.ctx())
	if err != nil {
		return err
	}
	cat, err := s.vault.Catalog()
	if err != nil {
		return err
	}
	var old, e *schemas.Entry
	if exists {
		kr, err := s.unlock()
		if err != nil {
			return err
		}
		l, err := s.vault.Load(ref, kr)
		if err != nil {
			return err
		}
		clear(l.Doc)
		old, e = l.Entry, l.Entry.Clone()
		if typ := c.String("type"); typ != "" && typ != e.Type {
			return &repo.EntryError{Ref: ref.String(), Err: fmt.Errorf("is a %s entry, not %s; `tresor rm` it first to change its type", e.Type, typ)}
		}
	} else {
		typ := c.String("type")
		if typ == "" {
			typ = "secret"
			if c.String("from-file") != "" {
				typ = "file"
			}
		}
		if _, err := cat.Type(typ); err != nil {
			return usagef("--type: %v", err)
		}
		e = schemas.NewEntry(typ)
	}
	t, err := cat.Type(e.Type)
	if err != nil {
		return &repo.EntryError{Ref: ref.String(), Err: err}
	}
	if err := applyFields(ref, t, e, fields); err != nil {
		return err
	}
	var value []byte
	valueGiven := false
	switch {
	case c.String("from-file") != "":
		if value, err = r.readFileArg(c.String("from-file")); err != nil {
			return &repo.EntryError{Ref: ref.String(), Err: err}
		}
		valueGiven = true
		if f, ok := t.Field("filename"); ok && !e.Has("filename") && !f.Secret {
			e.Set("filename", filepath.Base(c.String("from-file")))
		}
	case !r.env.StdinTTY:
		if value, err = readInput(r.env.Stdin, "stdin"); err != nil {
			return &repo.EntryError{Ref: ref.String(), Err: err}
		}
		// `--field` alone on an existing entry with nothing piped in is a
		// metadata change, not an empty value.
		valueGiven = !(exists && len(fields) > 0 && len(value) == 0)
	case exists && len(fields) > 0:
	default:
		if value, err = r.env.ReadSecret(fmt.Sprintf("Value for %s: ", ref)); err != nil {
			return err
		}
		valueGiven = true
	}
	if valueGiven {
		e.Set(t.Primary, string(value))
		clear(value)
	}
	if exists && entriesEqual(old, e) {
		fmt.Fprintf(r.errw(), "no changes to %s\n", ref)
		return nil
	}
	valueChanged := !exists || !secretsEqual(t, old, e)
	op := "set"
	if exists && !valueChanged {
		op = "meta"
	}
	return s.commitOne(ref, e, repo.Message{Op: op, Entries: []string{ref.String()}, Type: e.Type, ValueChanged: valueChanged}, map[bool]string{true: "updated", false: "set"}[exists])
}

// commitOne validates, encrypts and commits one entry, printing warnings.
func (s *session) commitOne(ref repo.Ref, e *schemas.Entry, msg repo.Message, verb string) error {
	prepared, err := s.vault.Prepare([]repo.Put{{Ref: ref, Entry: e}})
	if err != nil {
		return err
	}
	for _, w := range prepared[0].Warnings {
		fmt.Fprintf(s.r.errw(), "warning: %s: %s\n", ref, w)
	}
	if err := s.vault.Commit(context.Background(), prepared, msg, s.author()); err != nil {
		return err
	}
	fmt.Fprintf(s.r.errw(), "%s %s (%s)\n", verb, ref, e.Type)
	return nil
}

// load resolves and decrypts the entry named by the first argument.
func (s *session) load(name string) (*repo.Loaded, error) {
	sc, err := scopeFlag(s.c)
	if err != nil {
		return nil, err
	}
	ref, err := s.vault.Resolve(name, sc, s.ctx())
	if err != nil {
		return nil, err
	}
	kr, err := s.unlock()
	if err != nil {
		return nil, err
	}
	l, err := s.vault.Load(ref, kr)
	if err != nil {
		var de *repo.DecryptError
		if errors.As(err, &de) {
			// A failed read is still a read attempt.
			s.logRead(s.c.Command.Name, ref, "", nil, access.ResultError, oneLine(de.Kind.Error()))
		}
		return nil, err
	}
	return l, nil
}

// isBinary reports whether a value would garble a terminal.
func isBinary(v string) bool {
	if !utf8.ValidString(v) {
		return true
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f {
			return true
		}
	}
	return false
}

func (r *runner) cmdGet(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME [--field F] [--raw] [--out FILE]"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	if o := c.String("out"); o != "" && s.vault.Contains(r.env.abs(o)) {
		return usagef("--out %s: inside the vault; plaintext is never written there (choose a file outside %s)", r.env.abs(o), s.vault.Dir)
	}
	l, err := s.load(c.Args().First())
	if err != nil {
		return err
	}
	clear(l.Doc)
	field := c.String("field")
	if field == "" {
		field = l.Type.Primary
	}
	var value string
	if list, ok := l.Entry.Lists[field]; ok {
		value = strings.Join(list, "\n")
		if len(list) > 0 {
			value += "\n"
		}
	} else if v, ok := l.Entry.Fields[field]; ok {
		value = v
	} else {
		return &repo.EntryError{Ref: l.Ref.String(), Err: fmt.Errorf("has no field %q (it has: %s)", field, strings.Join(presentFields(l), ", "))}
	}
	result := access.ResultOK
	canary := l.Entry.Fields["canary"] == "true"
	if canary {
		result = access.ResultAlert
	}
	if err := s.logRead("get", l.Ref, field, []byte(value), result, ""); err != nil {
		return err
	}
	if canary {
		fmt.Fprintf(r.errw(), "warning: %s is a canary entry; this read was recorded as an alert\n", l.Ref)
	}
	switch {
	case c.String("out") != "":
		p := r.env.abs(c.String("out"))
		if err := renameio.WriteFile(p, []byte(value), 0o600); err != nil {
			return fmt.Errorf("--out %s: %w", p, err)
		}
		fmt.Fprintf(r.errw(), "wrote %s (%d bytes, mode 0600)\n", p, len(value))
		return nil
	case c.Bool("json"):
		out := map[string]string{"ref": l.Ref.String(), "field": field}
		if utf8.ValidString(value) {
			out["value"] = value
		} else {
			out["value_base64"] = base64.StdEncoding.EncodeToString([]byte(value))
		}
		return writeJSON(r.out(), out)
	case c.Bool("raw") || !r.env.StdoutTTY:
		_, err := io.WriteString(r.out(), value)
		return err
	case isBinary(value):
		fmt.Fprintf(r.errw(), "%s: binary value (%d bytes) not printed to the terminal; use --raw to print it anyway or --out FILE to save it\n", l.Ref, len(value))
		return nil
	default:
		if !strings.HasSuffix(value, "\n") {
			value += "\n"
		}
		_, err := io.WriteString(r.out(), value)
		return err
	}
}

func presentFields(l *repo.Loaded) []string {
	var names []string
	for _, f := range l.Type.Fields {
		if l.Entry.Has(f.Name) {
			names = append(names, f.Name)
		}
	}
	return names
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (r *runner) cmdShow(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME [--reveal]"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	l, err := s.load(c.Args().First())
	if err != nil {
		return err
	}
	defer clear(l.Doc)
	shown := l.Entry
	reveal := c.Bool("reveal")
	if reveal {
		result := access.ResultOK
		canary := l.Entry.Fields["canary"] == "true"
		if canary {
			result = access.ResultAlert
		}
		if err := s.logRead("show", l.Ref, "", l.Doc, result, "reveal"); err != nil {
			return err
		}
		if canary {
			fmt.Fprintf(r.errw(), "warning: %s is a canary entry; this read was recorded as an alert\n", l.Ref)
		}
	} else {
		shown = l.Entry.Clone()
		for _, f := range l.Type.Fields {
			if v, ok := shown.Fields[f.Name]; ok && f.Secret {
				shown.Fields[f.Name] = fmt.Sprintf("<hidden, %d bytes>", len(v))
			}
		}
	}
	rot, _ := s.vault.LastRotated()
	last := ""
	if rr, ok := rot[l.Ref.Path()]; ok {
		last = rr.When.Format("2006-01-02 15:04")
	}
	if c.Bool("json") {
		fields := map[string]any{}
		for k, v := range shown.Fields {
			if utf8.ValidString(v) {
				fields[k] = v
			} else {
				fields[k] = map[string]string{"base64": base64.StdEncoding.EncodeToString([]byte(v))}
			}
		}
		for k, v := range shown.Lists {
			fields[k] = v
		}
		return writeJSON(r.out(), map[string]any{"ref": l.Ref.String(), "type": shown.Type, "last_rotated": last, "fields": fields, "revealed": reveal})
	}
	doc, err := codec.Marshal(shown, l.Type)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out(), "# %s", l.Ref)
	if last != "" {
		fmt.Fprintf(r.out(), " (last rotated %s)", last)
	}
	fmt.Fprintln(r.out())
	_, err = r.out().Write(doc)
	clear(doc)
	return err
}

func (r *runner) cmdRm(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME"); err != nil {
		return err
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	ref, err := s.vault.Resolve(c.Args().First(), sc, s.ctx())
	if err != nil {
		return err
	}
	if r.env.StdinTTY && !c.Bool("force") {
		ok, err := r.env.Confirm(fmt.Sprintf("Remove %s?", ref))
		if err != nil {
			return err
		}
		if !ok {
			return &exitError{code: 1, err: errors.New("not removed")}
		}
	}
	msg := repo.Message{Op: "rm", Entries: []string{ref.String()}}
	if err := s.vault.Commit(context.Background(), []repo.Prepared{{Ref: ref}}, msg, s.author()); err != nil {
		return err
	}
	fmt.Fprintf(r.errw(), "removed %s (history keeps it: tresor log %s)\n", ref, ref)
	return nil
}

func (r *runner) cmdMv(c *ucli.Context) error {
	if err := args(c, 2, 2, "OLD NEW"); err != nil {
		return err
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	from, err := s.vault.Resolve(c.Args().Get(0), sc, s.ctx())
	if err != nil {
		return err
	}
	var to repo.Ref
	if newName := c.Args().Get(1); repo.IsRef(newName) {
		if to, err = repo.ParseRef(newName); err != nil {
			return err
		}
	} else {
		clean, err := repo.CleanName(newName)
		if err != nil {
			return err
		}
		to = repo.Ref{Scope: from.Scope, Name: clean}
	}
	if to == from {
		return usagef("mv: %s and %s are the same entry", from, to)
	}
	// A case-only rename (Foo -> foo) is one file on macOS and Windows,
	// where Exists(to) finds the entry itself.
	if repo.FoldName(to.Path()) != repo.FoldName(from.Path()) && s.vault.Exists(to) {
		return &repo.EntryError{Ref: to.String(), Err: errors.New("already exists; remove it first or choose another name")}
	}
	data, err := s.vault.ReadFile(from)
	if err != nil {
		return err
	}
	typ := ""
	if from.Scope.Kind == repo.Device || to.Scope.Kind == repo.Device {
		// Device entries are encrypted to one device: re-encrypt.
		kr, err := s.unlock()
		if err != nil {
			return err
		}
		l, err := s.vault.Decode(from, data, kr)
		if err != nil {
			return err
		}
		clear(l.Doc)
		p, err := s.vault.Prepare([]repo.Put{{Ref: to, Entry: l.Entry}})
		if err != nil {
			return err
		}
		data, typ = p[0].Data, l.Entry.Type
	} else if kr, err := s.unlock(); err == nil {
		if l, err := s.vault.Decode(from, data, kr); err == nil {
			typ = l.Entry.Type
			clear(l.Doc)
		}
	}
	msg := repo.Message{Op: "mv", Entries: []string{to.String()}, From: from.String(), Type: typ, Summary: fmt.Sprintf("mv %s -> %s", from, to)}
	if err := s.vault.Commit(context.Background(), []repo.Prepared{{Ref: from}, {Ref: to, Data: data}}, msg, s.author()); err != nil {
		return err
	}
	fmt.Fprintf(r.errw(), "moved %s to %s\n", from, to)
	return nil
}

func (r *runner) cmdRotate(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME [--from-file F]"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	l, err := s.load(c.Args().First())
	if err != nil {
		return err
	}
	clear(l.Doc)
	var value []byte
	switch {
	case c.String("from-file") != "":
		value, err = r.readFileArg(c.String("from-file"))
	case !r.env.StdinTTY:
		value, err = readInput(r.env.Stdin, "stdin")
	default:
		value, err = r.env.ReadSecret(fmt.Sprintf("New value for %s: ", l.Ref))
	}
	if err != nil {
		return &repo.EntryError{Ref: l.Ref.String(), Err: err}
	}
	if string(value) == l.Entry.Fields[l.Type.Primary] {
		return &repo.EntryError{Ref: l.Ref.String(), Err: errors.New("the new value is the same as the current one; nothing rotated")}
	}
	e := l.Entry.Clone()
	e.Set(l.Type.Primary, string(value))
	clear(value)
	return s.commitOne(l.Ref, e, repo.Message{Op: "rotate", Entries: []string{l.Ref.String()}, Type: e.Type, ValueChanged: true}, "rotated")
}

func (r *runner) cmdPath(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME"); err != nil {
		return err
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	ref, _, err := s.vault.Target(c.Args().First(), sc, s.ctx())
	if err != nil {
		return err
	}
	fmt.Fprintln(r.out(), filepath.Join(s.vault.Dir, filepath.FromSlash(ref.Path())))
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
