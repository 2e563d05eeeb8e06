// Package codec turns entries into file bytes and back: a strict YAML
// document inside an age file. It knows nothing of git.
package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/tresor-dev/tresor/schemas"
)

// FormatVersion is the entry document format this code writes (`tresor: 1`).
const FormatVersion = 1

// MaxDocument caps the size of an entry document before it is parsed. Field
// limits (1 MiB for most values, more for file content) are enforced by
// validation; this cap only keeps hostile input from reaching the parser.
const MaxDocument = 12 << 20

// maxNodes caps the structural tokens (keys, list items) of a document. An
// entry has a few dozen fields; goccy's parser is quadratic in keys, so a
// document with 50k keys would otherwise take seconds to parse.
const maxNodes = 4096

// DocumentError is a problem with an entry document. Path is the YAML path
// ("$.hosts[1]") or "" for the whole document. It never holds a value.
type DocumentError struct {
	Path string
	Msg  string
}

func (e *DocumentError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func docErr(path, format string, args ...any) error {
	return &DocumentError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Unmarshal parses an entry document strictly: one YAML mapping of scalar and
// list fields, no anchors, aliases, nested mappings or tags other than
// !!binary and !!str, at most MaxDocument bytes. Scalars are taken verbatim
// as written (`0123` stays "0123", `1.10` stays "1.10"), never coerced.
// Field names and types are checked later by schemas validation.
func Unmarshal(doc []byte) (*schemas.Entry, error) {
	if len(doc) > MaxDocument {
		return nil, docErr("", "document is %d bytes, over the %d-byte limit", len(doc), MaxDocument)
	}
	if !utf8.Valid(doc) {
		return nil, docErr("", "document is not valid UTF-8")
	}
	if n := countNodes(doc); n > maxNodes {
		return nil, docErr("", "document has %d keys and items, over the limit of %d", n, maxNodes)
	}
	f, err := parseYAML(doc)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, docErr("", "expected exactly one YAML document, found %d", len(f.Docs))
	}
	m, ok := f.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return nil, docErr("", "expected a YAML mapping of fields (tresor: 1, type: …), found %s", nodeKind(f.Docs[0].Body))
	}
	e := schemas.NewEntry("")
	for _, mv := range m.Values {
		keyNode := mv.Key
		if _, ok := keyNode.(*ast.StringNode); !ok {
			return nil, docErr("", "line %d: field names must be plain words", keyNode.GetToken().Position.Line)
		}
		key := keyNode.GetToken().Value
		path := "$." + key
		if !fieldName.MatchString(key) {
			return nil, docErr("", "line %d: %q is not a valid field name (lower-case letters, digits, _)", keyNode.GetToken().Position.Line, key)
		}
		if e.Has(key) || (key == "type" && e.Type != "") {
			return nil, docErr(path, "field given twice")
		}
		switch v := mv.Value.(type) {
		case *ast.SequenceNode:
			if key == "tresor" || key == "type" {
				return nil, docErr(path, "must be a single value, found a list")
			}
			items := make([]string, 0, len(v.Values))
			for i, item := range v.Values {
				s, err := scalar(doc, item, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return nil, err
				}
				items = append(items, s)
			}
			e.SetList(key, items)
			continue
		}
		s, err := scalar(doc, mv.Value, path)
		if err != nil {
			return nil, err
		}
		switch key {
		case "tresor":
			if s != strconv.Itoa(FormatVersion) {
				return nil, docErr(path, "unsupported document format %q (this tresor reads format %d; upgrade tresor)", s, FormatVersion)
			}
		case "type":
			if s == "" {
				return nil, docErr(path, "type is empty")
			}
			e.Type = s
		default:
			e.Set(key, s)
		}
	}
	if e.Type == "" {
		e.Type = "secret"
	}
	return e, nil
}

// parseYAML runs goccy's parser with a recover: its historic panics on
// malformed input must become errors, never a crash of the MCP server.
func parseYAML(doc []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, docErr("", "malformed YAML (parser failure)")
		}
	}()
	f, err = parser.ParseBytes(doc, 0)
	if err != nil {
		return nil, docErr("", "malformed YAML: %s", firstLine(err.Error()))
	}
	return f, nil
}

// countNodes counts keys and sequence items with the (linear) lexer.
func countNodes(doc []byte) (n int) {
	defer func() {
		if recover() != nil {
			n = 0 // the parser reports the malformed input
		}
	}()
	for _, t := range lexer.Tokenize(string(doc)) {
		switch t.Type {
		case token.MappingValueType, token.SequenceEntryType, token.CollectEntryType:
			n++
		}
	}
	return n
}

// scalar returns the verbatim text of a scalar node.
func scalar(doc []byte, n ast.Node, path string) (string, error) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		return v.Value.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		// The token holds the text as written: no octal, float or bool coercion.
		return v.GetToken().Value, nil
	case *ast.NullNode:
		// `key:` with nothing after it is an empty value; a written `null` or
		// `~` is kept as the text the user typed.
		t := v.GetToken()
		if off := t.Position.Offset - 1; off >= 0 && off < len(doc) && bytes.HasPrefix(doc[off:], []byte(t.Value)) {
			return t.Value, nil
		}
		return "", nil
	case *ast.TagNode:
		inner, err := scalar(doc, v.Value, path)
		if err != nil {
			return "", err
		}
		switch v.Start.Value {
		case "!!binary":
			b, err := base64.StdEncoding.DecodeString(stripSpace(inner))
			if err != nil {
				return "", docErr(path, "!!binary value is not valid base64")
			}
			return string(b), nil
		case "!!str":
			return inner, nil
		}
		return "", docErr(path, "YAML tag %s is not allowed (only !!binary and !!str)", v.Start.Value)
	case *ast.AnchorNode, *ast.AliasNode:
		return "", docErr(path, "YAML anchors and aliases are not allowed in entries")
	case *ast.MappingNode, *ast.MappingValueNode:
		return "", docErr(path, "nested mappings are not allowed; fields are scalars or lists")
	case *ast.SequenceNode:
		return "", docErr(path, "nested lists are not allowed")
	case nil:
		return "", nil
	}
	return "", docErr(path, "unsupported YAML node (%s)", nodeKind(n))
}

func nodeKind(n ast.Node) string {
	switch n.(type) {
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode:
		return "a mapping"
	case nil:
		return "nothing"
	}
	return "a single value"
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, s)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// Marshal writes the canonical document of an entry: `tresor: 1`, `type`,
// then the type's fields in declaration order, then any other fields sorted.
// Every value is spelled so that Unmarshal returns its exact bytes: the
// encoder checks its own output and falls back to !!binary for any field
// whose spelling would not survive.
func Marshal(e *schemas.Entry, t *schemas.Type) ([]byte, error) {
	keys := fieldOrder(e, t)
	binary := map[string]bool{}
	for attempt := 0; attempt < 2; attempt++ {
		var b bytes.Buffer
		fmt.Fprintf(&b, "tresor: %d\n", FormatVersion)
		typ := e.Type
		if typ == "" {
			typ = "secret"
		}
		b.WriteString("type:")
		writeScalar(&b, typ, 0, false)
		for _, k := range keys {
			if !fieldName.MatchString(k) || k == "tresor" || k == "type" {
				return nil, docErr("$."+k, "invalid field name")
			}
			if list, ok := e.Lists[k]; ok {
				writeList(&b, k, list)
				continue
			}
			b.WriteString(k)
			b.WriteString(":")
			writeScalar(&b, e.Fields[k], 2, binary[k])
		}
		out := b.Bytes()
		back, err := Unmarshal(out)
		if err != nil {
			return nil, fmt.Errorf("encoding entry: %w", err)
		}
		bad := false
		for _, k := range keys {
			if _, ok := e.Lists[k]; ok {
				if !equalLists(e.Lists[k], back.Lists[k]) {
					return nil, docErr("$."+k, "list items must be valid UTF-8 text")
				}
				continue
			}
			if back.Fields[k] != e.Fields[k] {
				binary[k] = true
				bad = true
			}
		}
		if !bad {
			return out, nil
		}
	}
	return nil, errors.New("encoding entry: a value did not survive encoding")
}

func equalLists(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fieldOrder(e *schemas.Entry, t *schemas.Type) []string {
	seen := map[string]bool{}
	var keys []string
	if t != nil {
		for _, f := range t.Fields {
			if e.Has(f.Name) && !seen[f.Name] {
				keys = append(keys, f.Name)
				seen[f.Name] = true
			}
		}
	}
	var rest []string
	for k := range e.Fields {
		if !seen[k] {
			rest = append(rest, k)
			seen[k] = true
		}
	}
	for k := range e.Lists {
		if !seen[k] {
			rest = append(rest, k)
			seen[k] = true
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// plainSafe matches values that YAML reads back as the same string when
// written unquoted: they start with a letter, `_` or `/` (so never a number,
// .inf or an indicator) and hold no space, `#`, `:` or quote.
var plainSafe = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./@+-]*$`)

var yamlWords = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true,
}

func writeList(b *bytes.Buffer, key string, list []string) {
	b.WriteString(key)
	b.WriteString(":")
	flow := true
	for _, s := range list {
		if !plainSafe.MatchString(s) || yamlWords[strings.ToLower(s)] {
			flow = false
		}
	}
	if flow {
		b.WriteString(" [")
		b.WriteString(strings.Join(list, ", "))
		b.WriteString("]\n")
		return
	}
	b.WriteString("\n")
	for _, s := range list {
		b.WriteString("  -")
		writeScalar(b, s, 4, false)
	}
}

// writeScalar writes " value\n" in the simplest spelling that round-trips.
func writeScalar(b *bytes.Buffer, s string, indent int, forceBinary bool) {
	switch {
	case forceBinary || !utf8.ValidString(s):
		writeBinary(b, s, indent)
	case s == "":
		b.WriteString(` ""` + "\n")
	case plainSafe.MatchString(s) && !yamlWords[strings.ToLower(s)]:
		b.WriteString(" ")
		b.WriteString(s)
		b.WriteString("\n")
	case blockSafe(s):
		writeBlock(b, s, indent)
	default:
		b.WriteString(" ")
		writeDoubleQuoted(b, s)
		b.WriteString("\n")
	}
}

func writeBinary(b *bytes.Buffer, s string, indent int) {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	if len(enc) <= 76 {
		b.WriteString(" !!binary ")
		b.WriteString(enc)
		b.WriteString("\n")
		return
	}
	b.WriteString(" !!binary |\n")
	pad := strings.Repeat(" ", indent)
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.WriteString(pad)
		b.WriteString(enc[:n])
		b.WriteString("\n")
		enc = enc[n:]
	}
}

// blockSafe reports whether s reads well and survives as a literal block
// scalar: several lines of printable text, no leading space on the first
// line (that would need an indentation indicator), no CR or other controls.
func blockSafe(s string) bool {
	if !strings.Contains(strings.TrimRight(s, "\n"), "\n") {
		return false
	}
	if s[0] == ' ' || s[0] == '\n' {
		return false
	}
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff {
			return false
		}
	}
	return true
}

func writeBlock(b *bytes.Buffer, s string, indent int) {
	body := strings.TrimRight(s, "\n")
	trailing := len(s) - len(body)
	switch trailing {
	case 0:
		b.WriteString(" |-\n")
	case 1:
		b.WriteString(" |\n")
	default:
		b.WriteString(" |+\n")
	}
	pad := strings.Repeat(" ", indent)
	for _, line := range strings.Split(body, "\n") {
		if line != "" {
			b.WriteString(pad)
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	for i := 1; i < trailing; i++ {
		b.WriteString("\n")
	}
}

func writeDoubleQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		default:
			switch {
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(b, `\x%02x`, r)
			case r == 0x85 || r == 0xa0 || r == 0x2028 || r == 0x2029 || r == 0xfeff:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
