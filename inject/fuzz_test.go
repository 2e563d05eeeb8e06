package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are inputs for FuzzParse besides the case fixtures.
var fuzzSeeds = []string{
	"A=1\nexport B='x'\nC=\"a\\nb\" # c\n",
	"A='I'\"'\"'m'\nB=\"C:\\\\tools\\\\\"\n",
	"A=x\nB=${A:-${C-d}}$A$$${\n",
	"A=\"\r\nb\"\rB=2\r\n",
	"KEY: value\n1A=2\n=3\n",
	"A=\"unterminated\nB=2\n",
	"export A=1 B=$A; C=$(id) `x` ~/y\ncat <<EOF\nX=1\nEOF\nif x; then\n",
	"A=\\\nB=\"\\\n\"\n",
}

// FuzzParse checks that Parse never panics, never lets a CR from a line
// ending into a key or value, and that WriteDotenv of whatever it parsed
// reads back identically.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	files, err := filepath.Glob(filepath.Join(casesDir, "H0[1-5]-*", "input*.env"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no case fixtures under %s (shared/ must sit beside the repository root): %v", casesDir, err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{FormatDotenv, FormatShell} {
			strict, serr := Parse(data, format, false)
			res, err := Parse(data, format, true)
			var ee *EncodingError
			if err != nil {
				if !errors.As(err, &ee) {
					t.Fatalf("%s, skipInvalid: error %v is not an *EncodingError", format, err)
				}
				if !errors.As(serr, &ee) {
					t.Fatalf("%s: strict error %v, skipping error %v", format, serr, err)
				}
				continue
			}
			if serr != nil {
				var le *LineError
				if !errors.As(serr, &le) || strict != nil {
					t.Fatalf("%s, strict: %v, %v", format, strict, serr)
				}
			} else if !samePairs(strict.Pairs, res.Pairs) {
				t.Fatalf("%s: strict and skipping results differ", format)
			}
			if format == FormatDotenv && serr == nil && len(res.Skipped) != 0 {
				t.Fatalf("strict mode succeeded but skipping mode skipped %v", res.Skipped)
			}

			// A CR only comes from a \r escape inside double quotes.
			crAllowed := format == FormatDotenv && bytes.Contains(data, []byte(`\r`))
			seen := map[string]bool{}
			for _, p := range res.Pairs {
				if !IsValidName(p.Key) || seen[p.Key] {
					t.Fatalf("%s: bad or repeated key %q", format, p.Key)
				}
				seen[p.Key] = true
				if format == FormatShell && (!isShName(p.Key) || IsReservedName(p.Key)) {
					t.Fatalf("shell: imported %q", p.Key)
				}
				if strings.IndexByte(p.Value, '\r') >= 0 && !crAllowed {
					t.Fatalf("%s: CR in the value of %s", format, p.Key)
				}
				if !utf8.ValidString(p.Value) || strings.IndexByte(p.Value, 0) >= 0 {
					t.Fatalf("%s: value of %s is not NUL-free UTF-8", format, p.Key)
				}
				if p.Line < 1 {
					t.Fatalf("%s: line %d", format, p.Line)
				}
			}

			var out bytes.Buffer
			if err := WriteDotenv(&out, res.Pairs); err != nil {
				t.Fatalf("%s: WriteDotenv of parsed pairs: %v", format, err)
			}
			back, err := Parse(out.Bytes(), FormatDotenv, false)
			if err != nil {
				t.Fatalf("%s: re-parse of %q: %v", format, out.Bytes(), err)
			}
			if !samePairs(back.Pairs, res.Pairs) || len(back.Warnings) != 0 {
				t.Fatalf("%s: round trip differs:\n got %s\nwant %s\nfile %q", format, fmtPairs(back.Pairs), fmtPairs(res.Pairs), out.Bytes())
			}
			if err := WriteJSON(&out, res.Pairs); err != nil {
				t.Fatalf("%s: WriteJSON: %v", format, err)
			}
		}
	})
}

// FuzzRoundTrip checks that any NUL-free UTF-8 value survives WriteDotenv
// then Parse, WriteJSON then a JSON decoder, and WriteShell then
// Parse(FormatShell) (with line endings normalised to LF).
func FuzzRoundTrip(f *testing.F) {
	for _, v := range hostileValues() {
		if len(v) < 4096 {
			f.Add(v)
		}
	}
	f.Fuzz(func(t *testing.T, value string) {
		if !utf8.ValidString(value) || strings.IndexByte(value, 0) >= 0 {
			var b bytes.Buffer
			if WriteDotenv(&b, []Pair{{Key: "K", Value: value}}) == nil {
				t.Fatal("WriteDotenv accepted a value it cannot represent")
			}
			return
		}
		pairs := []Pair{{Key: "BEFORE", Value: "x"}, {Key: "K", Value: value}, {Key: "AFTER", Value: "y"}}

		var out bytes.Buffer
		if err := WriteDotenv(&out, pairs); err != nil {
			t.Fatal(err)
		}
		res, err := Parse(out.Bytes(), FormatDotenv, false)
		if err != nil {
			t.Fatalf("Parse(%q): %v", out.Bytes(), err)
		}
		if !samePairs(res.Pairs, pairs) || len(res.Warnings) != 0 {
			t.Fatalf("dotenv round trip of %q via %q: got %s", value, out.Bytes(), fmtPairs(res.Pairs))
		}

		out.Reset()
		if err := WriteJSON(&out, pairs); err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["K"] != value {
			t.Fatalf("JSON round trip of %q: %q, %v", value, m["K"], err)
		}

		out.Reset()
		if err := WriteShell(&out, pairs); err != nil {
			t.Fatal(err)
		}
		res, err = Parse(out.Bytes(), FormatShell, false)
		if err != nil {
			t.Fatalf("Parse shell(%q): %v", out.Bytes(), err)
		}
		want := []Pair{pairs[0], {Key: "K", Value: crToLF.Replace(value)}, pairs[2]}
		if !samePairs(res.Pairs, want) || len(res.Skipped) != 0 {
			t.Fatalf("shell round trip of %q via %q: got %s, skipped %v", value, out.Bytes(), fmtPairs(res.Pairs), res.Skipped)
		}
	})
}
