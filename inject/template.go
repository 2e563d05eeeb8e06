package inject

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// MaxTemplate is the largest template inject reads.
const MaxTemplate = 16 << 20

// TemplateRef is one {{ tresor://ref#field }} reference in a template, with
// its percent-encoding decoded.
type TemplateRef struct {
	// Ref is the reference or name as written after tresor://, decoded
	// ("global/openai", "projects/a b/db", or a bare name like "openai").
	Ref string
	// Field is the part after #, decoded; "" for the primary field.
	Field string
}

func (r TemplateRef) String() string {
	if r.Field == "" {
		return "tresor://" + r.Ref
	}
	return "tresor://" + r.Ref + "#" + r.Field
}

// Template is a parsed template: literal text and references. Only
// {{ tresor://… }} is special; any other {{ … }} (Helm, Jinja, Go
// templates) is literal text. Nothing in a template is ever executed.
type Template struct {
	parts []tplPart
}

type tplPart struct {
	lit   []byte
	ref   TemplateRef
	line  int
	isRef bool
}

// TemplateError is a bad template line. It names the line and never quotes
// template text (the template may already hold secrets).
type TemplateError struct {
	Line int
	Msg  string
}

func (e *TemplateError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

const refScheme = "tresor://"

// ParseTemplate parses a template. A reference is
//
//	{{ tresor://REF }}  or  {{ tresor://REF#FIELD }}
//
// with optional spaces or tabs inside the braces, on one line; REF and FIELD
// are URL path segments (percent-encoding for spaces, #, % and other
// special bytes). A {{ tresor:// that does not form such a reference is an
// error naming the line.
func ParseTemplate(data []byte) (*Template, error) {
	if len(data) > MaxTemplate {
		return nil, fmt.Errorf("template is %d bytes, over the %d-byte limit", len(data), MaxTemplate)
	}
	t := &Template{}
	line := 1
	lit := 0
	i := 0
	for {
		j := bytes.Index(data[i:], []byte("{{"))
		if j < 0 {
			break
		}
		j += i
		line += bytes.Count(data[i:j], []byte("\n"))
		k := j + 2
		for k < len(data) && (data[k] == ' ' || data[k] == '\t') {
			k++
		}
		if !bytes.HasPrefix(data[k:], []byte(refScheme)) {
			i = j + 2
			line += bytes.Count(data[j:i], []byte("\n"))
			continue
		}
		end := bytes.Index(data[k:], []byte("}}"))
		nl := bytes.IndexByte(data[k:], '\n')
		if end < 0 || (nl >= 0 && nl < end) {
			return nil, &TemplateError{Line: line, Msg: "{{ tresor:// is not closed by }} on the same line"}
		}
		body := strings.TrimRight(string(data[k+len(refScheme):k+end]), " \t")
		ref, err := parseTemplateRef(body)
		if err != nil {
			return nil, &TemplateError{Line: line, Msg: err.Error()}
		}
		if j > lit {
			t.parts = append(t.parts, tplPart{lit: data[lit:j]})
		}
		t.parts = append(t.parts, tplPart{ref: ref, line: line, isRef: true})
		i = k + end + 2
		lit = i
	}
	if lit < len(data) {
		t.parts = append(t.parts, tplPart{lit: data[lit:]})
	}
	return t, nil
}

func parseTemplateRef(body string) (TemplateRef, error) {
	if body == "" {
		return TemplateRef{}, fmt.Errorf("empty reference after tresor://")
	}
	if strings.ContainsAny(body, " \t\r{}") {
		return TemplateRef{}, fmt.Errorf("a reference may not hold spaces or braces (percent-encode them: %%20)")
	}
	refPart, field, hasField := strings.Cut(body, "#")
	if hasField && strings.Contains(field, "#") {
		return TemplateRef{}, fmt.Errorf("more than one # in a reference")
	}
	segs := strings.Split(refPart, "/")
	for n, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return TemplateRef{}, fmt.Errorf("bad percent-encoding in a reference")
		}
		if u == "" {
			return TemplateRef{}, fmt.Errorf("empty segment in a reference")
		}
		segs[n] = u
	}
	f, err := url.PathUnescape(field)
	if err != nil {
		return TemplateRef{}, fmt.Errorf("bad percent-encoding in a field name")
	}
	if hasField && f == "" {
		return TemplateRef{}, fmt.Errorf("empty field name after #")
	}
	return TemplateRef{Ref: strings.Join(segs, "/"), Field: f}, nil
}

// Refs returns the template's references in order of first appearance,
// each once, with the line of its first use.
func (t *Template) Refs() []LineRef {
	var out []LineRef
	seen := map[TemplateRef]bool{}
	for _, p := range t.parts {
		if p.isRef && !seen[p.ref] {
			seen[p.ref] = true
			out = append(out, LineRef{TemplateRef: p.ref, Line: p.line})
		}
	}
	return out
}

// LineRef is a reference and the line it is first used on.
type LineRef struct {
	TemplateRef
	Line int
}

// Render writes the template with every reference replaced by its value,
// exactly. values must hold every reference of Refs.
func (t *Template) Render(w io.Writer, values map[TemplateRef]string) error {
	var b bytes.Buffer
	for _, p := range t.parts {
		if !p.isRef {
			b.Write(p.lit)
			continue
		}
		v, ok := values[p.ref]
		if !ok {
			return &TemplateError{Line: p.line, Msg: fmt.Sprintf("no value for %s", p.ref)}
		}
		b.WriteString(v)
	}
	_, err := w.Write(b.Bytes())
	clear(b.Bytes())
	return err
}
