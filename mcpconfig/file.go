package mcpconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2/maybe"
	"github.com/tailscale/hujson"
)

// maxConfig caps a config file (~/.claude.json grows with history, so be
// generous).
const maxConfig = 64 << 20

// File is one app config, parsed so that it can be changed in place: what
// tresor does not touch is written back byte for byte (key order, spacing,
// comments).
type File struct {
	Path   string
	jsonc  bool
	exists bool
	mode   fs.FileMode
	mtime  time.Time
	size   int64
	doc    hujson.Value
	unit   string // indentation unit found in the file
	bom    bool   // the file starts with a UTF-8 byte order mark, kept on write
}

// utf8BOM is what Windows editors put first in a UTF-8 file. VS Code reads
// a config that starts with one, so tresor does too and writes it back.
var utf8BOM = []byte("\xef\xbb\xbf")

// Load reads and parses a config file. A missing file is an empty one. A
// symlink, something that is not a regular file, or a file that is not
// valid JSON (JSONC for VS Code) is an error, and nothing will ever
// overwrite it.
func Load(path string, jsonc bool) (*File, error) {
	f := &File{Path: path, jsonc: jsonc, mode: 0o600, unit: "  "}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.doc, _ = hujson.Parse([]byte("{}"))
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case st.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return nil, fmt.Errorf("%s is a symlink (to %s); tresor does not write through symlinks: pass --config with the real file", path, target)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Size() > maxConfig:
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxConfig>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.exists, f.mode, f.mtime, f.size = true, st.Mode().Perm(), st.ModTime(), st.Size()
	if rest, ok := bytes.CutPrefix(data, utf8BOM); ok {
		data, f.bom = rest, true
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}\n")
	}
	if !jsonc && !json.Valid(data) {
		var syn *json.SyntaxError
		msg := "not valid JSON"
		if err := json.Unmarshal(data, new(any)); errors.As(err, &syn) {
			line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
			msg = fmt.Sprintf("not valid JSON (line %d: %v)", line, syn)
		}
		return nil, fmt.Errorf("%s: %s; fix it by hand, tresor will not overwrite it", path, msg)
	}
	if depth(data) > maxDepth {
		return nil, fmt.Errorf("%s: nested more than %d levels deep; tresor will not read it", path, maxDepth)
	}
	f.doc, err = hujson.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid JSON with comments (%v); fix it by hand, tresor will not overwrite it", path, err)
	}
	if _, ok := f.doc.Value.(*hujson.Object); !ok {
		return nil, fmt.Errorf("%s: the top level is not a JSON object; tresor will not overwrite it", path)
	}
	if k := duplicateKey(&f.doc); k != "" {
		return nil, fmt.Errorf("%s: key %q appears twice in one object (apps read only one of them); fix it by hand, tresor will not overwrite it", path, k)
	}
	f.unit = indentUnit(data)
	return f, nil
}

// duplicateKey returns a name that appears twice in some object, or "".
func duplicateKey(v *hujson.Value) string {
	for v := range v.All() {
		obj, ok := v.Value.(*hujson.Object)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, m := range obj.Members {
			lit, _ := m.Name.Value.(hujson.Literal)
			if name := lit.String(); seen[name] {
				return name
			} else {
				seen[name] = true
			}
		}
	}
	return ""
}

// maxDepth bounds nesting: the parser recurses, and a hostile file of a
// million brackets must be an error, not a crash.
const maxDepth = 1000

// depth is the deepest nesting of brackets outside strings and comments.
func depth(b []byte) int {
	d, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return deepest
			}
			i += end + 3
		case c == '[' || c == '{':
			d++
			deepest = max(deepest, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return deepest
}

// indentUnit is the leading whitespace of the first indented line, or two
// spaces.
func indentUnit(data []byte) string {
	for _, line := range bytes.Split(data, []byte("\n"))[1:] {
		trimmed := bytes.TrimLeft(line, " \t")
		if n := len(line) - len(trimmed); n > 0 && len(trimmed) > 0 {
			return string(line[:n])
		}
	}
	return "  "
}

// Exists reports whether the file was there when loaded.
func (f *File) Exists() bool { return f.exists }

// Mode is the file's permission bits (0600 for a new file).
func (f *File) Mode() fs.FileMode { return f.mode }

// Bytes is the document as it would be written.
func (f *File) Bytes() []byte {
	b := f.body()
	if f.bom {
		b = append(append([]byte{}, utf8BOM...), b...)
	}
	return b
}

// body is the document without the byte order mark.
func (f *File) body() []byte {
	b := f.doc.Pack()
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	return b
}

// Decode unmarshals the value at path (standard JSON semantics, comments
// dropped) into out. It reports false when there is no such value.
func (f *File) Decode(path []string, out any) (bool, error) {
	v := f.find(path)
	if v == nil {
		return false, nil
	}
	c := v.Clone()
	c.Standardize()
	if err := json.Unmarshal(c.Pack(), out); err != nil {
		return true, fmt.Errorf("%s: %s: %v", f.Path, strings.Join(path, "."), err)
	}
	return true, nil
}

func (f *File) find(path []string) *hujson.Value {
	v := &f.doc
	for _, k := range path {
		obj, ok := v.Value.(*hujson.Object)
		if !ok {
			return nil
		}
		m := member(obj, k)
		if m == nil {
			return nil
		}
		v = &m.Value
	}
	return v
}

func member(obj *hujson.Object, name string) *hujson.ObjectMember {
	for i := range obj.Members {
		if lit, ok := obj.Members[i].Name.Value.(hujson.Literal); ok && lit.String() == name {
			return &obj.Members[i]
		}
	}
	return nil
}

// Set puts val at path, creating the objects on the way, replacing what was
// there. New members go last in their object, indented like their
// siblings.
func (f *File) Set(path []string, val any) error {
	if len(path) == 0 {
		return errors.New("empty path")
	}
	v := &f.doc
	for depth, k := range path {
		obj, ok := v.Value.(*hujson.Object)
		if !ok {
			return fmt.Errorf("%s: %s is not an object", f.Path, strings.Join(path[:depth], "."))
		}
		m := member(obj, k)
		if depth == len(path)-1 || m == nil {
			rest := val
			for i := len(path) - 1; i > depth; i-- {
				rest = map[string]any{path[i]: rest}
			}
			nv, err := f.encode(rest, depth+1)
			if err != nil {
				return err
			}
			if m != nil {
				m.Value.Value = nv.Value
				return nil
			}
			appendMember(obj, k, nv, f.indent(depth+1), f.indent(depth))
			return nil
		}
		v = &m.Value
	}
	return nil
}

// Append adds val at the end of the array at path (created if missing).
func (f *File) Append(path []string, val any) error {
	v := f.find(path)
	if v == nil {
		return f.Set(path, []any{val})
	}
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		return fmt.Errorf("%s: %s is not an array", f.Path, strings.Join(path, "."))
	}
	depth := len(path) + 1
	nv, err := f.encode(val, depth)
	if err != nil {
		return err
	}
	nv.BeforeExtra = hujson.Extra("\n" + f.indent(depth))
	if n := len(arr.Elements); n > 0 {
		nv.BeforeExtra = lineIndent(arr.Elements[n-1].BeforeExtra, nv.BeforeExtra)
		nv.BeforeExtra = takeLineComment(&arr.AfterExtra, nv.BeforeExtra)
		if arr.Elements[n-1].AfterExtra != nil { // trailing comma: keep it last
			nv.AfterExtra, arr.Elements[n-1].AfterExtra = hujson.Extra{}, nil
		}
	} else if isSpace(arr.AfterExtra) {
		arr.AfterExtra = hujson.Extra("\n" + f.indent(depth-1))
	}
	arr.Elements = append(arr.Elements, nv)
	return nil
}

// Remove deletes the member at path; a missing one is not an error.
func (f *File) Remove(path []string) {
	parent := f.find(path[:len(path)-1])
	if parent == nil {
		return
	}
	obj, ok := parent.Value.(*hujson.Object)
	if !ok {
		return
	}
	for i := range obj.Members {
		if lit, ok := obj.Members[i].Name.Value.(hujson.Literal); ok && lit.String() == path[len(path)-1] {
			trailing := obj.Members[i].Value.AfterExtra != nil && i == len(obj.Members)-1
			obj.Members = append(obj.Members[:i], obj.Members[i+1:]...)
			if n := len(obj.Members); n > 0 && i == n {
				last := &obj.Members[n-1].Value
				switch {
				case f.jsonc && trailing:
					if last.AfterExtra == nil { // keep the trailing comma the file had
						last.AfterExtra = hujson.Extra{}
					}
				case last.AfterExtra != nil:
					// what separated it from the removed member is no
					// trailing comma: keep the file strict JSON
					obj.AfterExtra = append(append(hujson.Extra{}, last.AfterExtra...), obj.AfterExtra...)
					last.AfterExtra = nil
				}
			}
			return
		}
	}
}

// RemoveEmptyArray removes the member at path when it is an array with no
// elements and no comments left: what tresor emptied, it takes away.
func (f *File) RemoveEmptyArray(path []string) bool {
	v := f.find(path)
	if v == nil {
		return false
	}
	arr, ok := v.Value.(*hujson.Array)
	if !ok || len(arr.Elements) > 0 || !isSpace(arr.AfterExtra) {
		return false
	}
	f.Remove(path)
	return true
}

// RemoveElement deletes the first element of the array at path for which
// match (on its decoded object) is true, and reports whether it did.
func (f *File) RemoveElement(path []string, match func(map[string]any) bool) bool {
	v := f.find(path)
	if v == nil {
		return false
	}
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		return false
	}
	for i := range arr.Elements {
		c := arr.Elements[i].Clone()
		c.Standardize()
		var obj map[string]any
		if json.Unmarshal(c.Pack(), &obj) != nil || !match(obj) {
			continue
		}
		trailing := arr.Elements[i].AfterExtra != nil && i == len(arr.Elements)-1
		arr.Elements = append(arr.Elements[:i], arr.Elements[i+1:]...)
		if n := len(arr.Elements); n > 0 && i == n {
			last := &arr.Elements[n-1]
			switch {
			case f.jsonc && trailing:
				if last.AfterExtra == nil {
					last.AfterExtra = hujson.Extra{}
				}
			case last.AfterExtra != nil:
				arr.AfterExtra = append(append(hujson.Extra{}, last.AfterExtra...), arr.AfterExtra...)
				last.AfterExtra = nil
			}
		}
		return true
	}
	return false
}

func appendMember(obj *hujson.Object, name string, val hujson.Value, indent, closeIndent string) {
	before := hujson.Extra("\n" + indent)
	if n := len(obj.Members); n > 0 {
		before = lineIndent(obj.Members[n-1].Name.BeforeExtra, before)
		before = takeLineComment(&obj.AfterExtra, before)
		if obj.Members[n-1].Value.AfterExtra != nil { // trailing comma: keep it last
			val.AfterExtra, obj.Members[n-1].Value.AfterExtra = hujson.Extra{}, nil
		}
	} else if isSpace(obj.AfterExtra) {
		obj.AfterExtra = hujson.Extra("\n" + closeIndent)
	}
	val.BeforeExtra = hujson.Extra(" ")
	obj.Members = append(obj.Members, hujson.ObjectMember{
		Name:  hujson.Value{BeforeExtra: before, Value: hujson.String(name)},
		Value: val,
	})
}

// takeLineComment moves a comment that ends the last member's line (it
// sits in the container's closing extra) in front of the new member, so it
// stays beside the member it was written for.
func takeLineComment(closing *hujson.Extra, before hujson.Extra) hujson.Extra {
	i := bytes.IndexByte(*closing, '\n')
	if i < 0 {
		return before
	}
	head := (*closing)[:i]
	if isSpace(head) || bytes.Count(head, []byte("/*")) != bytes.Count(head, []byte("*/")) {
		return before
	}
	out := append(append(hujson.Extra{}, head...), before...)
	*closing = append(hujson.Extra{}, (*closing)[i:]...)
	return out
}

// lineIndent takes the newline and indentation that precede a sibling,
// without any comment that sits there, or def when the sibling does not
// start a line.
func lineIndent(sibling hujson.Extra, def hujson.Extra) hujson.Extra {
	i := bytes.LastIndexByte(sibling, '\n')
	if i < 0 {
		return def
	}
	line := sibling[i:]
	j := 1
	for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
		j++
	}
	return append(hujson.Extra{}, line[:j]...)
}

func isSpace(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

func (f *File) indent(depth int) string { return strings.Repeat(f.unit, depth) }

// encode renders val as indented JSON for the given depth and parses it
// into the document's model.
func (f *File) encode(val any, depth int) (hujson.Value, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(f.indent(depth), f.unit)
	if err := enc.Encode(val); err != nil {
		return hujson.Value{}, err
	}
	v, err := hujson.Parse(bytes.TrimSpace(buf.Bytes()))
	if err != nil {
		return hujson.Value{}, err
	}
	return v, nil
}

// Save writes the document atomically (temporary file, fsync, rename),
// with the file's mode kept (0600 for a new file, in a 0700 directory). It
// refuses when the file became a symlink, or changed on disk since Load
// (an app rewrote it meanwhile): run again then. The result is checked to
// parse before anything is replaced.
func (f *File) Save() error {
	out := f.Bytes()
	if body := f.body(); !f.jsonc && !json.Valid(body) {
		return fmt.Errorf("%s: internal error: the merged config is not valid JSON; nothing written", f.Path)
	}
	if _, err := hujson.Parse(f.body()); err != nil {
		return fmt.Errorf("%s: internal error: the merged config does not parse; nothing written", f.Path)
	}
	st, err := os.Lstat(f.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !f.exists:
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("%s: %w", f.Path, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s became a symlink; nothing written", f.Path)
	case !f.exists || !st.ModTime().Equal(f.mtime) || st.Size() != f.size:
		return fmt.Errorf("%s changed while tresor was editing it (is the app rewriting it?); nothing written, run the command again", f.Path)
	}
	// renameio: temp file in the same directory, fsync, rename (plain
	// write on Windows, where rename over an open file fails)
	if err := maybe.WriteFile(f.Path, out, f.mode); err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	return nil
}
