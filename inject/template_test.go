package inject

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name, in string
		refs     []LineRef
		err      string
	}{
		{name: "plain", in: "no refs {{ .Helm }} {{}} {{ tresor }}"},
		{name: "one", in: "a {{ tresor://global/openai }} b", refs: []LineRef{{TemplateRef{Ref: "global/openai"}, 1}}},
		{name: "tight and field", in: "{{tresor://global/x#user}}", refs: []LineRef{{TemplateRef{Ref: "global/x", Field: "user"}, 1}}},
		{name: "percent", in: "\n\n{{ tresor://global/Shop/Papa%20Johns%23x#pass%20word }}", refs: []LineRef{{TemplateRef{Ref: "global/Shop/Papa Johns#x", Field: "pass word"}, 3}}},
		{name: "bare name", in: "{{\ttresor://openai\t}}", refs: []LineRef{{TemplateRef{Ref: "openai"}, 1}}},
		{name: "repeat once", in: "{{ tresor://a/b }}\n{{ tresor://a/b }}", refs: []LineRef{{TemplateRef{Ref: "a/b"}, 1}}},
		{name: "lines counted past other braces", in: "{{ x\n}}\n{{ tresor://global/a }}", refs: []LineRef{{TemplateRef{Ref: "global/a"}, 3}}},
		{name: "unclosed", in: "ok\n{{ tresor://global/a", err: "line 2: {{ tresor:// is not closed"},
		{name: "closed on next line", in: "{{ tresor://global/a\n}}", err: "line 1: {{ tresor:// is not closed"},
		{name: "space", in: "{{ tresor://global/a b }}", err: "line 1: a reference may not hold spaces"},
		{name: "empty", in: "{{ tresor:// }}", err: "line 1: empty reference"},
		{name: "bad percent", in: "{{ tresor://global/%zz }}", err: "line 1: bad percent-encoding"},
		{name: "empty segment", in: "{{ tresor://global//a }}", err: "line 1: empty segment"},
		{name: "two hashes", in: "{{ tresor://global/a#b#c }}", err: "line 1: more than one #"},
		{name: "empty field", in: "{{ tresor://global/a# }}", err: "line 1: empty field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := ParseTemplate([]byte(tt.in))
			if tt.err != "" {
				var te *TemplateError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &te) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tpl.Refs()
			if len(got) != len(tt.refs) {
				t.Fatalf("refs = %+v, want %+v", got, tt.refs)
			}
			for i := range got {
				if got[i] != tt.refs[i] {
					t.Fatalf("refs = %+v, want %+v", got, tt.refs)
				}
			}
		})
	}
}

func TestRenderTemplate(t *testing.T) {
	tpl, err := ParseTemplate([]byte("a={{ tresor://global/a }};b={{tresor://global/b#f}};{{ .x }}"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	vals := map[TemplateRef]string{{Ref: "global/a"}: "v{{ tresor://global/b }}\n", {Ref: "global/b", Field: "f"}: ""}
	if err := tpl.Render(&out, vals); err != nil {
		t.Fatal(err)
	}
	// Values are inserted as they are, never parsed again.
	if want := "a=v{{ tresor://global/b }}\n;b=;{{ .x }}"; out.String() != want {
		t.Fatalf("got %q want %q", out.String(), want)
	}
	if err := tpl.Render(&out, map[TemplateRef]string{}); err == nil || !strings.Contains(err.Error(), "line 1: no value for tresor://global/a") {
		t.Fatalf("missing value: %v", err)
	}
}

// FuzzTemplate: parsing never panics; a template renders back to itself
// when each reference's value is its own source text; errors name a line
// within the input and never quote it.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"", "{{ tresor://global/a }}", "x{{tresor://a/b#c}}y\n{{ z }}", "{{ tresor://%", "{{{{ tresor://a }}}}", "{{ tresor://a\n}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := ParseTemplate(data)
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("not a TemplateError: %v", err)
			}
			if te.Line < 1 || te.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("line %d out of range", te.Line)
			}
			return
		}
		vals := map[TemplateRef]string{}
		for _, r := range tpl.Refs() {
			vals[r.TemplateRef] = "<" + r.String() + ">"
		}
		var out bytes.Buffer
		if err := tpl.Render(&out, vals); err != nil {
			t.Fatal(err)
		}
		// Literal text survives: removing the references from both sides
		// leaves the same bytes.
		if len(tpl.Refs()) == 0 && !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("a template without references changed: %q -> %q", data, out.Bytes())
		}
	})
}
