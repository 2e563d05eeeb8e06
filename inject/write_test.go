package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostileValues are values that break naive writers and parsers.
func hostileValues() []string {
	mib := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	mixed := strings.Repeat("a$b #c'd\"e\\f\ng\rh\ti${X}✓", 1<<15)
	return []string{
		"", "$", "$$", "${X}", "$X", "${X:-d}", "\\$", "#", "#start", " # ", "a #b", "a#b",
		"'", "\"", `'"'"'`, `it's "quoted"`, "\\", `\n`, `\\`, "trailing\\", `"C:\\tools\\"`,
		"\r", "\r\n", "\n", "\n\n", "a\nb\n", "\t", "a\tb\rc",
		"unicode päss wörd ✓ 🔑", "\u2028\u2029", "\x01\x1b[31m\x7f",
		" leading", "trailing ", "  both  ", " ", "=", "a=b==c", "export X=1",
		"`id`", "$(id)", "~", "~/x", "!event", "*", "-dash", "--", "{}",
		"sk-test-FAKE0000", "https://user:pa$$@host.example.test/a?b=c&d#frag",
		"-----BEGIN PRIVATE KEY-----\nMIIEvFAKE\n-----END PRIVATE KEY-----\n",
		mib, mixed,
	}
}

// valuePairs names each value VAL_i.
func valuePairs(values []string) []Pair {
	ps := make([]Pair, len(values))
	for i, v := range values {
		ps[i] = Pair{Key: fmt.Sprintf("VAL_%d", i), Value: v}
	}
	return ps
}

// caseValues collects the values of every dotenv case fixture.
func caseValues(t *testing.T) []string {
	var vals []string
	for _, c := range []string{"H01-dotenv-hash-in-values", "H02-dotenv-multiline-pem-escapes",
		"H03-dotenv-export-empty-duplicates", "H04-dotenv-crlf", "H05-dotenv-dollar-signs"} {
		var m map[string]string
		if err := json.Unmarshal(readCase(t, c, "expected.json"), &m); err != nil {
			t.Fatal(err)
		}
		for _, v := range m {
			vals = append(vals, v)
		}
	}
	return vals
}

func TestWriteDotenvRoundTrip(t *testing.T) {
	pairs := valuePairs(append(caseValues(t), hostileValues()...))
	checkRoundTrip(t, pairs)
	// Each value on its own, too, so a failure names it.
	for _, p := range pairs {
		checkRoundTrip(t, []Pair{p})
	}
}

func TestWriteDotenvSpelling(t *testing.T) {
	tests := []struct{ value, line string }{
		{"abc", "K=abc"},
		{"", "K="},
		{"sk-test-FAKE_0.9/x:y@z%+,=", "K=sk-test-FAKE_0.9/x:y@z%+,="},
		{"a b", `K="a b"`},
		{"a#b", `K="a#b"`},
		{"$x", `K="\$x"`},
		{"a\nb", `K="a\nb"`},
		{"a\r", `K="a\r"`},
		{"\t", `K="\t"`},
		{`C:\x\`, `K="C:\\x\\"`},
		{`say "hi"`, `K="say \"hi\""`},
		{"it's", `K="it's"`},
		{"päss", `K="päss"`},
		{"`id`", "K=\"`id`\""},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteDotenv(&b, []Pair{{Key: "K", Value: tt.value}}); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.line+"\n" {
			t.Errorf("WriteDotenv(%q) = %q, want %q", tt.value, got, tt.line+"\n")
		}
	}
}

func TestWriterErrors(t *testing.T) {
	const secret = "sk-test-FAKE-secret"
	type writer func(*bytes.Buffer, []Pair) error
	dotenv := func(b *bytes.Buffer, p []Pair) error { return WriteDotenv(b, p) }
	shell := func(b *bytes.Buffer, p []Pair) error { return WriteShell(b, p) }
	jsonw := func(b *bytes.Buffer, p []Pair) error { return WriteJSON(b, p) }
	ok := Pair{Key: "OK", Value: "fine"}
	tests := []struct {
		name  string
		w     writer
		pairs []Pair
		key   string
	}{
		{"dotenv nul", dotenv, []Pair{ok, {Key: "BAD", Value: secret + "\x00"}}, "BAD"},
		{"dotenv invalid utf8", dotenv, []Pair{ok, {Key: "BAD", Value: secret + "\xff"}}, "BAD"},
		{"dotenv bad name", dotenv, []Pair{ok, {Key: "1BAD", Value: secret}}, "1BAD"},
		{"dotenv empty name", dotenv, []Pair{ok, {Key: "", Value: secret}}, `""`},
		{"dotenv space name", dotenv, []Pair{ok, {Key: "A B", Value: secret}}, "A B"},
		{"dotenv duplicate", dotenv, []Pair{ok, {Key: "OK", Value: secret}}, "OK"},
		{"shell nul", shell, []Pair{ok, {Key: "BAD", Value: secret + "\x00"}}, "BAD"},
		{"shell dotted name", shell, []Pair{ok, {Key: "A.B", Value: secret}}, "A.B"},
		{"shell dashed name", shell, []Pair{ok, {Key: "A-B", Value: secret}}, "A-B"},
		{"shell duplicate", shell, []Pair{ok, {Key: "OK", Value: secret}}, "OK"},
		{"json invalid utf8", jsonw, []Pair{ok, {Key: "BAD", Value: secret + "\xff"}}, "BAD"},
		{"json empty key", jsonw, []Pair{ok, {Key: "", Value: secret}}, `""`},
		{"json duplicate", jsonw, []Pair{ok, {Key: "OK", Value: secret}}, "OK"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := tt.w(&b, tt.pairs)
		switch {
		case err == nil:
			t.Errorf("%s: no error", tt.name)
		case !strings.Contains(err.Error(), tt.key):
			t.Errorf("%s: error %q does not name %s", tt.name, err, tt.key)
		case strings.Contains(err.Error(), "FAKE"):
			t.Errorf("%s: error %q shows the value", tt.name, err)
		case b.Len() != 0:
			t.Errorf("%s: wrote %d bytes before failing", tt.name, b.Len())
		}
	}
	// Binary values are fine for the shell: single quotes hold any byte.
	if err := WriteShell(&bytes.Buffer{}, []Pair{{Key: "BIN", Value: "\xff\xfe"}}); err != nil {
		t.Errorf("WriteShell binary value: %v", err)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, nil); err != nil || b.String() != "{}\n" {
		t.Errorf("empty: %q, %v", b.String(), err)
	}
	b.Reset()
	pairs := []Pair{{Key: "Z", Value: "a&b<c>"}, {Key: "A", Value: "q\"\\\n\r\t\x01\x7f✓\u2028"}, {Key: "E", Value: ""}}
	if err := WriteJSON(&b, pairs); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"Z\": \"a&b<c>\",\n  \"A\": \"q\\\"\\\\\\n\\r\\t\\u0001\x7f✓\\u2028\",\n  \"E\": \"\"\n}\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	// Every value survives a standard decoder.
	b.Reset()
	all := valuePairs(hostileValues())
	if err := WriteJSON(&b, all); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if m[p.Key] != p.Value {
			t.Errorf("%s did not survive JSON", p.Key)
		}
	}
}

// TestWriteShellEval runs the output through a real /bin/sh: eval, then
// printf each variable followed by a NUL (no value holds one). The script,
// which holds the values, travels on stdin; argv holds only variable names.
func TestWriteShellEval(t *testing.T) {
	sh, err := exec.LookPath("/bin/sh")
	if err != nil {
		t.Fatalf("/bin/sh is needed for this test: %v", err)
	}
	values := append(caseValues(t), hostileValues()...)
	values = append(values, "\xff\xfe binary", "I'm", "''''", `'\''`)
	pairs := valuePairs(values)
	var script bytes.Buffer
	if err := WriteShell(&script, pairs); err != nil {
		t.Fatal(err)
	}
	show := `eval "$(cat)" && printf '%s\0'`
	for _, p := range pairs {
		show += ` "$` + p.Key + `"`
	}
	cmd := exec.Command(sh, "-c", show)
	cmd.Stdin = bytes.NewReader(script.Bytes())
	cmd.Env = []string{"LC_ALL=C"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v: %s", err, stderr.Bytes())
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(pairs) {
		t.Fatalf("sh printed %d values, want %d", len(got), len(pairs))
	}
	for i, p := range pairs {
		if got[i] != p.Value {
			t.Errorf("%s: sh gave %d bytes %.40q, want %d bytes %.40q", p.Key, len(got[i]), got[i], len(p.Value), p.Value)
		}
	}
}

// TestWriteShellParse reads WriteShell output back with Parse(FormatShell):
// identical except that a CR becomes LF like any line ending.
func TestWriteShellParse(t *testing.T) {
	pairs := valuePairs(append(caseValues(t), hostileValues()...))
	var out bytes.Buffer
	if err := WriteShell(&out, pairs); err != nil {
		t.Fatal(err)
	}
	res, err := Parse(out.Bytes(), FormatShell, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 0 || len(res.Warnings) != 0 {
		t.Errorf("skipped %v, warnings %v", res.Skipped, res.Warnings)
	}
	want := make([]Pair, len(pairs))
	for i, p := range pairs {
		want[i] = Pair{Key: p.Key, Value: crToLF.Replace(p.Value)}
	}
	if !samePairs(res.Pairs, want) {
		for i := range min(len(res.Pairs), len(want)) {
			if res.Pairs[i] != want[i] && res.Pairs[i].Value != want[i].Value {
				t.Errorf("%s: got %.40q, want %.40q", want[i].Key, res.Pairs[i].Value, want[i].Value)
			}
		}
		t.Fatalf("got %d pairs, want %d", len(res.Pairs), len(want))
	}
}

var crToLF = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// TestExportedFileImports writes a file with WriteDotenv, as `export` does,
// and imports it from disk.
func TestExportedFileImports(t *testing.T) {
	pairs := valuePairs(hostileValues())
	path := filepath.Join(t.TempDir(), "out.env")
	var b bytes.Buffer
	if err := WriteDotenv(&b, pairs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Parse(data, FormatDotenv, false)
	if err != nil {
		t.Fatal(err)
	}
	if !samePairs(res.Pairs, pairs) {
		t.Error("values changed through a file")
	}
}
