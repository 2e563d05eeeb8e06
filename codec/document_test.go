package codec

import (
	"errors"
	"strings"
	"testing"

	"github.com/tresor-dev/tresor/schemas"
)

// hostileValues are the values the issue names, plus the shapes that break
// naive YAML emitters.
func hostileValues() []string {
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAFAKEFAKE\nFAKEFAKE==\n-----END OPENSSH PRIVATE KEY-----\n"
	vals := []string{
		"", "0123", "007", "1.10", "1.0", "0x1F", "0o17", "1_000", "+1", "0b101", "1e3",
		"yes", "no", "Yes", "NO", "on", "off", "y", "n", "true", "false", "True",
		"null", "Null", "NULL", "~", ".inf", "-.inf", ".nan", ".NaN",
		" leading", "trailing ", "  both  ", "\ttab", "tab\t", "a\tb",
		"#hash", "a #b", "a#b", "a: b", "key: value", ": x", "- item", "-", "?", "? x", "[a]", "{a: b}",
		"'single'", `"double"`, `mixed 'and" quotes`, `back\slash`, `\n literal`, "%percent", "@at", "`tick`", "!bang", "&amp", "*star", "|pipe", ">gt",
		pem, strings.TrimSuffix(pem, "\n"), pem + "\n", pem + "\n\n\n", "\nleading newline", "a\n b", "line1\n  indented\nline3\n",
		"trailing spaces  \nnext", "a\r\nb", "\r", "a\rb", "nul\x00byte", "\x00", "\x01\x02\x7f", "bell\a",
		"\xff\xfe binary", string([]byte{0x80, 0x81}), "caf\u00e9", "日本語", "emoji 😀", "\u2028sep", "\u0085nel", "\ufeffbom", "nbsp\u00a0x",
		"---", "...", "--- x", "<<", "=", "a b c", strings.Repeat("x", 1<<20), strings.Repeat("ab\n", 1000),
		"sk-test-FAKE0000000000000000", "ghp_FAKE0000000000000000000000000000",
	}
	var all []byte
	for i := 0; i < 256; i++ {
		all = append(all, byte(i))
	}
	vals = append(vals, string(all))
	return vals
}

func roundTrip(t testing.TB, v string) {
	t.Helper()
	e := schemas.NewEntry("secret")
	e.Set("value", v)
	e.Set("description", "d")
	e.SetList("tags", []string{"prod", "a b", "0123"})
	doc, err := Marshal(e, nil)
	if err != nil {
		t.Fatalf("Marshal(%q...): %v", trunc(v), err)
	}
	back, err := Unmarshal(doc)
	if err != nil {
		t.Fatalf("Unmarshal of Marshal(%q...): %v\n%s", trunc(v), err, trunc(string(doc)))
	}
	if back.Fields["value"] != v {
		t.Fatalf("value %q... came back as %q...\ndoc:\n%s", trunc(v), trunc(back.Fields["value"]), trunc(string(doc)))
	}
	if back.Type != "secret" || back.Fields["description"] != "d" || strings.Join(back.Lists["tags"], "|") != "prod|a b|0123" {
		t.Fatalf("other fields changed: %+v", back)
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

func TestRoundTripHostileValues(t *testing.T) {
	for _, v := range hostileValues() {
		roundTrip(t, v)
	}
}

func TestMarshalSpelling(t *testing.T) {
	cases := map[string]string{
		"sk-test-FAKE1": "value: sk-test-FAKE1\n",
		"0123":          "value: \"0123\"\n",
		"yes":           "value: \"yes\"\n",
		"":              "value: \"\"\n",
		"a\nb\n":        "value: |\n  a\n  b\n",
		"a\nb":          "value: |-\n  a\n  b\n",
		"\xff":          "value: !!binary /w==\n",
		"p@ss word#1":   "value: \"p@ss word#1\"\n",
		"tab\there\r\n": "value: \"tab\\there\\r\\n\"\n",
	}
	for v, want := range cases {
		e := schemas.NewEntry("secret")
		e.Set("value", v)
		doc, err := Marshal(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), want) {
			t.Errorf("Marshal(%q) =\n%s\nwant it to contain %q", v, doc, want)
		}
	}
}

func TestUnmarshalVerbatimScalars(t *testing.T) {
	// Hand-written documents: scalars are taken as typed, never coerced.
	for in, want := range map[string]string{
		"0123": "0123", "0777": "0777", "1.10": "1.10", "0x1F": "0x1F", "0o17": "0o17", "1_000": "1_000",
		"+1": "+1", ".inf": ".inf", ".nan": ".nan", "yes": "yes", "true": "true", "null": "null", "~": "~",
		"074763617300": "074763617300", "1e10": "1e10", `"quoted 0123"`: "quoted 0123", `'it''s'`: "it's",
		"plain words here": "plain words here", "": "",
	} {
		e, err := Unmarshal([]byte("tresor: 1\ntype: secret\nvalue: " + in + "\n"))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := e.Fields["value"]; got != want {
			t.Errorf("value: %s decoded as %q, want %q", in, got, want)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	cases := map[string]string{
		"anchor":         "value: &a x\nother: *a\n",
		"alias":          "a: &x 1\nvalue: *x\n",
		"tag":            "value: !foo x\n",
		"nested map":     "value:\n  a: b\n",
		"flow map":       "value: {a: b}\n",
		"nested list":    "tags: [[a]]\n",
		"two docs":       "value: a\n---\nvalue: b\n",
		"not a map":      "- a\n- b\n",
		"scalar doc":     "sk-test-FAKE-raw\n",
		"bad key":        "Value: x\n",
		"dup key":        "value: a\nvalue: b\n",
		"version":        "tresor: 2\nvalue: a\n",
		"bad base64":     "value: !!binary not*base64\n",
		"malformed":      "value: \"unterminated\n",
		"empty type":     "type: \"\"\n",
		"invalid utf8":   "value: \xff\n",
		"key as list":    "? [a]\n: b\n",
		"billion laughs": "a: &a [x, x]\nb: &b [*a, *a]\nvalue: *b\n",
	}
	for name, doc := range cases {
		if _, err := Unmarshal([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %q", name, doc)
		} else {
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Errorf("%s: error %v is not a DocumentError", name, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error is not one line: %q", name, err)
			}
		}
	}
}

func TestUnmarshalLimits(t *testing.T) {
	big := "value: " + strings.Repeat("x", MaxDocument) + "\n"
	if _, err := Unmarshal([]byte(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized document: %v", err)
	}
	var b strings.Builder
	for i := 0; i < maxNodes+10; i++ {
		b.WriteString("k")
		b.WriteString(strings.Repeat("a", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(": x\n")
	}
	if _, err := Unmarshal([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("too many keys: %v", err)
	}
}

func TestUnmarshalErrorHasNoValue(t *testing.T) {
	secret := "sk-test-FAKE-should-not-leak"
	for _, doc := range []string{
		"value: " + secret + "\nvalue: " + secret + "\n",
		"value: !weird " + secret + "\n",
		"value: \"" + secret + "\n",
		"value:\n  " + secret + ": 1\n",
	} {
		_, err := Unmarshal([]byte(doc))
		if err == nil {
			t.Fatalf("accepted %q", doc)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the value: %v", err)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, v := range hostileValues() {
		if len(v) < 4096 {
			f.Add(v)
		}
	}
	f.Fuzz(func(t *testing.T, v string) {
		roundTrip(t, v)
	})
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte("tresor: 1\ntype: api_key\nvalue: sk-test-FAKE\nhosts: [api.openai.com]\n"))
	f.Add([]byte("value: |+\n  a\n\n"))
	f.Add([]byte("value: !!binary AAEC\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		e, err := Unmarshal(doc)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same entry.
		out, err := Marshal(e, nil)
		if err != nil {
			t.Fatalf("Marshal after Unmarshal: %v", err)
		}
		back, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		for k, v := range e.Fields {
			if back.Fields[k] != v {
				t.Fatalf("field %s changed: %q -> %q", k, v, back.Fields[k])
			}
		}
	})
}
