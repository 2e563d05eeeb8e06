package inject

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
)

// kv builds the expected pairs from alternating keys and values.
func kv(s ...string) []Pair {
	var ps []Pair
	for i := 0; i+1 < len(s); i += 2 {
		ps = append(ps, Pair{Key: s[i], Value: s[i+1]})
	}
	return ps
}

func TestParseDotenvValues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Pair
	}{
		// encoding and line endings
		{"bom", "\xEF\xBB\xBFA=1\n", kv("A", "1")},
		{"crlf", "A=1\r\nB=2\r\n", kv("A", "1", "B", "2")},
		{"bare cr", "A=1\rB=2\r", kv("A", "1", "B", "2")},
		{"crlf in quotes", "A=\"x\r\ny\"\r\nB='p\rq'\r\n", kv("A", "x\ny", "B", "p\nq")},
		{"no final newline", "A=1", kv("A", "1")},
		{"empty file", "", nil},
		{"only comments", "# a\n   # b\n\t\n", nil},

		// export prefix and names
		{"export space", "export A=1", kv("A", "1")},
		{"export tab", "export\tA=1", kv("A", "1")},
		{"export spaces", "export   A=1", kv("A", "1")},
		{"exporter key", "exporter_url=x\nexport_x=y", kv("exporter_url", "x", "export_x", "y")},
		{"key named export", "export=1", kv("export", "1")},
		{"key named export spaced", "export = 1", kv("export", "1")},
		{"export export", "export export=1", kv("export", "1")},
		{"one letter", "export A=1\nb=2", kv("A", "1", "b", "2")},
		{"dots and dashes", "my.key-name_1=x", kv("my.key-name_1", "x")},
		{"underscore start", "_X=1", kv("_X", "1")},
		{"spaces around =", "  K \t=\t v  ", kv("K", "v")},

		// unquoted values
		{"hash without space", "A=b#c", kv("A", "b#c")},
		{"hash after space", "A=b #c", kv("A", "b")},
		{"hash after tab", "A=b\t#c", kv("A", "b")},
		{"hash right after =", "A=#c", kv("A", "#c")},
		{"comment only after =", "A= #c", kv("A", "")},
		{"quotes kept", `A=it's "x"`, kv("A", `it's "x"`)},
		{"quote later", `A=a "b c"`, kv("A", `a "b c"`)},
		{"backslashes kept", `A=C:\dir\n\t`, kv("A", `C:\dir\n\t`)},
		{"inner spaces", "A=a  b  ", kv("A", "a  b")},
		{"equals in value", "A=b=c==", kv("A", "b=c==")},
		{"backticks literal", "A=`id`", kv("A", "`id`")},
		{"command substitution literal", "A=$(id)", kv("A", "$(id)")},

		// single quotes
		{"single literal", `A='$B \n "x"'`, kv("A", `$B \n "x"`)},
		{"single multiline", "A='a\nb'\nB=2", kv("A", "a\nb", "B", "2")},
		{"shell joined pieces", `A='I'"'"'m'`, kv("A", "I'm")},
		{"three pieces", `A='a'"b"'c'`, kv("A", "abc")},
		{"single then comment", "A='x' # c", kv("A", "x")},
		{"single hash", "A='a#b # c'", kv("A", "a#b # c")},

		// double quotes
		{"escapes", `A="n\n r\r t\t b\\ q\" d\$"`, kv("A", "n\n r\r t\t b\\ q\" d$")},
		{"other escapes kept", `A="\d \' \a \x41 \u00e9"`, kv("A", `\d \' \a \x41 \u00e9`)},
		{"backslash before closing quote", `A="C:\\tools\\"` + "\nB=ok", kv("A", `C:\tools\`, "B", "ok")},
		{"escaped quote at end", `A="say \"hi\""`, kv("A", `say "hi"`)},
		{"backslash newline kept", "A=\"a\\\nb\"", kv("A", "a\\\nb")},
		{"double multiline", "A=\"a\n\nb\n\"\nB=2", kv("A", "a\n\nb\n", "B", "2")},
		{"double then comment", `A="x" # c`, kv("A", "x")},
		{"double then blanks", "A=\"x\"   \t", kv("A", "x")},
		{"hash inside double", `A="a # b"`, kv("A", "a # b")},

		// empty values
		{"empty forms", "A=\nB=\"\"\nC=''\nD=   \nE=\"\" # c", kv("A", "", "B", "", "C", "", "D", "", "E", "")},

		// references
		{"braced", "A=x\nB=${A}y", kv("A", "x", "B", "xy")},
		{"bare", "A=x\nB=$A/y", kv("A", "x", "B", "x/y")},
		{"in double quotes", "A=x\nB=\"<$A>\"", kv("A", "x", "B", "<x>")},
		{"not in single quotes", "A=x\nB='$A'", kv("A", "x", "B", "$A")},
		{"escaped dollar", "A=x\nB=\"\\$A\"", kv("A", "x", "B", "$A")},
		{"unquoted backslash does not escape", "A=x\nB=\\$A", kv("A", "x", "B", `\x`)},
		{"default colon unset", "B=${A:-d}", kv("B", "d")},
		{"default colon empty", "A=\nB=${A:-d}", kv("A", "", "B", "d")},
		{"default dash empty", "A=\nB=${A-d}", kv("A", "", "B", "")},
		{"default dash unset", "B=${A-d}", kv("B", "d")},
		{"default not used", "A=x\nB=${A:-d}", kv("A", "x", "B", "x")},
		{"default with spaces", `B="${A:-a b}"`, kv("B", "a b")},
		{"empty default", "B=${A:-}", kv("B", "")},
		{"nested default", "C=z\nB=${A:-${C}}", kv("C", "z", "B", "z")},
		{"escape in default", `B="${A:-a\"b}"`, kv("B", `a"b`)},
		{"no re-expansion", "A='$C ${C}'\nC=q\nB=$A", kv("A", "$C ${C}", "C", "q", "B", "$C ${C}")},
		{"forward reference stays", "B=${A}\nA=x", kv("B", "${A}", "A", "x")},
		{"self uses earlier value", "A=x\nA=${A}y", kv("A", "xy")},
		{"bare name stops at dot", "A=x\nB=$A.com", kv("A", "x", "B", "x.com")},
		{"dollar dollar", "B=a$$", kv("B", "a$$")},
		{"dollar digit", "B=$5", kv("B", "$5")},
		{"dollar at end", `B="a$"`, kv("B", "a$")},
		{"dollar space", "B=$ x", kv("B", "$ x")},
		{"dollar in middle of default", "B=${A:-$}", kv("B", "$")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.in), FormatDotenv, false)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !samePairs(res.Pairs, tt.want) {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tt.in, fmtPairs(res.Pairs), fmtPairs(tt.want))
			}
			for _, p := range res.Pairs {
				if strings.ContainsRune(p.Key, '\r') {
					t.Errorf("key %q holds a CR", p.Key)
				}
			}
		})
	}
}

func TestParseDotenvLineErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		key      string
		msg      string // a fragment of the message
	}{
		{"yaml style", "A=1\nKEY: sk-test-FAKE1", 2, "", "found ':'"},
		{"digit start", "1KEY=x", 1, "", "digit"},
		{"space in name", "MY KEY=x", 1, "", "spaces"},
		{"empty name", "=x", 1, "", "empty name"},
		{"no equals", "A=1\n\nKEY", 3, "", "no '='"},
		{"bare token", "sk-test-FAKE-token", 1, "", "no '='"},
		{"bare token comment", "sk-test-FAKE-token # note", 1, "", "no '='"},
		{"invalid name char", "KEY/x=1", 1, "", "invalid character"},
		{"unicode name", "KÉY=1", 1, "", "invalid character"},
		{"junk start", "!x=1", 1, "", "not an assignment"},
		{"export alone", "export ", 1, "", "export"},
		{"export no value", "export KEY", 1, "", "no '='"},
		{"unterminated double", "A=1\nB=\"sk-test-FAKE\nC=2\n", 2, "B", "line 2"},
		{"unterminated single", "A='x", 1, "A", "unterminated single"},
		{"unterminated second piece", "A='x\ny'\"z\n", 2, "A", "opened on line 2"},
		{"junk after quote", `A="sk-test-FAKE"x`, 1, "A", "after the closing quote"},
		{"hash glued to quote", `A="sk-test-FAKE"#x`, 1, "A", "after the closing quote"},
		{"second word after quote", `A="x" "y"`, 1, "A", "after the closing quote"},
		{"unquoted piece after quote", `A='I'\''m'`, 1, "A", "after the closing quote"},
		{"junk after multiline quote", "A=\"x\nB=\"y\"", 1, "A", "closing quote missing on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.in), FormatDotenv, false)
			var le *LineError
			if !errors.As(err, &le) || res != nil {
				t.Fatalf("Parse(%q) = %v, %v; want nil and a *LineError", tt.in, res, err)
			}
			if le.Line != tt.line || le.Key != tt.key || !strings.Contains(le.Msg, tt.msg) {
				t.Errorf("got %+v, want line %d key %q msg containing %q", *le, tt.line, tt.key, tt.msg)
			}
			if strings.Contains(le.Error(), "sk-test-FAKE") {
				t.Errorf("error %q shows source text", le.Error())
			}
			// With skipInvalid the same input is never a failure.
			if _, err := Parse([]byte(tt.in), FormatDotenv, true); err != nil {
				t.Errorf("skipInvalid: %v", err)
			}
		})
	}
}

func TestParseSkipInvalid(t *testing.T) {
	in := "A=1\nnot a line\nC=3\nD: x\nE='ok'\nF=\"x\" junk\nG=7\nB=\"sk-test-FAKE-open\nH=8\n"
	res, err := Parse([]byte(in), FormatDotenv, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := kv("A", "1", "C", "3", "E", "ok", "G", "7", "H", "8"); !samePairs(res.Pairs, want) {
		t.Errorf("pairs %s, want %s", fmtPairs(res.Pairs), fmtPairs(want))
	}
	var lines []int
	for _, s := range res.Skipped {
		lines = append(lines, s.Line)
	}
	if fmt.Sprint(lines) != "[2 4 6 8]" {
		t.Errorf("skipped lines %v, want [2 4 6 8]: %v", lines, res.Skipped)
	}
	checkNoLeak(t, res, "sk-test-FAKE", "junk", "not a line")

	// Strict mode stops at the first error and returns no result.
	res, err = Parse([]byte(in), FormatDotenv, false)
	var le *LineError
	if res != nil || !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("strict: %v, %v; want nil and line 2", res, err)
	}

	// A quote left open on line 2 closes at the next quote (line 5): the
	// whole stretch is one skipped statement naming both lines, and parsing
	// resumes after line 5. No line inside it becomes a key.
	in = "A=1\nB=\"open\nAAAAFAKE==\nC=3\nD=\"x\"\nE=5\n"
	res, err = Parse([]byte(in), FormatDotenv, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := kv("A", "1", "E", "5"); !samePairs(res.Pairs, want) {
		t.Errorf("pairs %s, want %s", fmtPairs(res.Pairs), fmtPairs(want))
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Line != 2 || res.Skipped[0].Key != "B" || !strings.Contains(res.Skipped[0].Msg, "line 5") {
		t.Errorf("skipped %v, want one entry for B on line 2 naming line 5", res.Skipped)
	}
}

func TestParseWarnings(t *testing.T) {
	in := "A=1\nA=2\nB=$X ${Y}\nA=3\nC=${Y:-$Z}\nD=${A:-$Z}\nE=${X:=d}\nF='$X'\n"
	res, err := Parse([]byte(in), FormatDotenv, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		"line 2: A: duplicate key: set on line 1 and again on line 2",
		"line 3: B: 2 references",
		"line 4: A: duplicate key: set on line 2 and again on line 4",
		"line 5: C: a reference",
		"line 7: E: a '${' that is not",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	// Last value wins, in the position of the first definition, with the
	// winning line.
	if p := res.Pairs[0]; p.Key != "A" || p.Value != "3" || p.Line != 4 {
		t.Errorf("A = %+v, want value 3 from line 4 in first position", p)
	}
	if want := kv("A", "3", "B", "$X ${Y}", "C", "$Z", "D", "3", "E", "${X:=d}", "F", "$X"); !samePairs(res.Pairs, want) {
		t.Errorf("pairs %s, want %s", fmtPairs(res.Pairs), fmtPairs(want))
	}
}

func TestParseNeverReadsEnvironment(t *testing.T) {
	t.Setenv("TRESOR_TEST_FAKE_VAR", "sk-test-FAKE-from-env")
	res, err := Parse([]byte("A=$TRESOR_TEST_FAKE_VAR\nB=\"${TRESOR_TEST_FAKE_VAR:-d}\"\n"), FormatDotenv, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := kv("A", "$TRESOR_TEST_FAKE_VAR", "B", "d"); !samePairs(res.Pairs, want) {
		t.Errorf("pairs %s, want %s", fmtPairs(res.Pairs), fmtPairs(want))
	}
}

func TestParseEncodingErrors(t *testing.T) {
	utf16le := func(s string, bom bool) []byte {
		var b []byte
		if bom {
			b = append(b, 0xFF, 0xFE)
		}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	utf16be := []byte{0xFE, 0xFF, 0, 'A', 0, '=', 0, '1'}
	tests := []struct {
		name string
		in   []byte
		line int
		msg  string
	}{
		{"utf16le bom", utf16le("A=sk-test-FAKE\n", true), 0, "UTF-16"},
		{"utf16be bom", utf16be, 0, "UTF-16"},
		{"utf16 no bom", utf16le("A=sk-test-FAKE\nB=2\n", false), 0, "UTF-16"},
		{"nul byte", []byte("A=1\nB=sk-test-FAKE\x00xx\nC=3\n"), 2, "NUL"},
		{"latin1", []byte("A=1\r\nB=p\xe4ss-FAKE\r\n"), 2, "not valid UTF-8"},
		{"truncated utf8", []byte("A=\xe2\x9c"), 1, "not valid UTF-8"},
		{"bom then latin1", []byte("\xEF\xBB\xBFA=\xff"), 1, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, format := range []string{FormatDotenv, FormatShell} {
				for _, skip := range []bool{false, true} {
					res, err := Parse(tt.in, format, skip)
					var ee *EncodingError
					if res != nil || !errors.As(err, &ee) {
						t.Fatalf("%s skip=%v: got %v, %v; want an *EncodingError", format, skip, res, err)
					}
					if ee.Line != tt.line || !strings.Contains(ee.Msg, tt.msg) || !strings.Contains(ee.Msg, "nothing was imported") {
						t.Errorf("got %+v, want line %d and %q", *ee, tt.line, tt.msg)
					}
					if strings.Contains(err.Error(), "FAKE") {
						t.Errorf("error %q shows source text", err)
					}
				}
			}
		})
	}
}

func TestParseUnknownFormat(t *testing.T) {
	for _, f := range []string{"", "json", "Dotenv"} {
		if _, err := Parse([]byte("A=1"), f, false); err == nil {
			t.Errorf("format %q accepted", f)
		}
	}
}

func TestErrorStrings(t *testing.T) {
	if got := (&LineError{Line: 7, Key: "KEY", Msg: "msg"}).Error(); got != "line 7: KEY: msg" {
		t.Errorf("got %q", got)
	}
	if got := (&LineError{Line: 7, Msg: "msg"}).Error(); got != "line 7: msg" {
		t.Errorf("got %q", got)
	}
	if got := (Warning{Line: 3, Key: "K", Msg: "m"}).String(); got != "line 3: K: m" {
		t.Errorf("got %q", got)
	}
	if got := (&EncodingError{Msg: "m"}).Error(); got != "m" {
		t.Errorf("got %q", got)
	}
}

// TestParsePathological feeds inputs that made earlier versions rescan the
// rest of the input again and again. There is no timing assertion: a
// quadratic regression turns this test from milliseconds into minutes.
func TestParsePathological(t *testing.T) {
	const n = 50000 // lines or repetitions, about 250 KiB
	tests := []struct {
		in    string
		pairs int // -1: any
	}{
		{"A=" + strings.Repeat("${A:-", n), 1},
		{"A=\"" + strings.Repeat("${A:-", n) + "\"", 1},
		{"A=" + strings.Repeat("${A:-", 50) + "x" + strings.Repeat("}", 50), 1},
		{"A=" + strings.Repeat("${A:-${B}", n/2) + "}", 1},
		{"A=" + strings.Repeat("${", n) + strings.Repeat("}", n), 1},
		{strings.Repeat("A=$(\n", n), -1},
		{strings.Repeat("A=${\n", n), -1},
		{strings.Repeat("A=`\n", n), -1},
		{strings.Repeat("A='\n", n), -1},
		{strings.Repeat("A=\"\n", n), -1},
		{strings.Repeat("A=\"\\\n", n), -1},
		{strings.Repeat("echo $( $( ${ '\n", n), -1},
		{strings.Repeat("cat <<EOF\n", n), -1},
	}
	for _, tt := range tests {
		for _, format := range []string{FormatDotenv, FormatShell} {
			res, err := Parse([]byte(tt.in), format, true)
			if err != nil {
				t.Fatalf("%s %.20q: %v", format, tt.in, err)
			}
			if format == FormatDotenv && tt.pairs >= 0 && len(res.Pairs) != tt.pairs {
				t.Errorf("%.20q: got %d pairs, want %d", tt.in, len(res.Pairs), tt.pairs)
			}
		}
	}
}

// benchInput is a 1,000-line .env file mixing every construct.
func benchInput() []byte {
	var b strings.Builder
	for i := 0; len(strings.Split(b.String(), "\n")) <= 1000; i++ {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "# section %d\n", i)
		case 1:
			fmt.Fprintf(&b, "export KEY_%d=sk-test-FAKE%08d\n", i, i)
		case 2:
			fmt.Fprintf(&b, "URL_%d=\"postgres://app:${KEY_%d}@db.internal:5432/app?x=\\$y\"\n", i, i-1)
		case 3:
			fmt.Fprintf(&b, "SINGLE_%d='literal $NOT ${EXPANDED} \\n'\n", i)
		case 4:
			fmt.Fprintf(&b, "SPACED_%d = padded value   # comment\n", i)
		case 5:
			fmt.Fprintf(&b, "PEM_%d=\"-----BEGIN PRIVATE KEY-----\nMIIEvFAKEFAKEFAKE\n-----END PRIVATE KEY-----\n\"\n", i)
		case 6:
			fmt.Fprintf(&b, "DEFAULT_%d=${MISSING_%d:-fallback-%d}\n", i, i, i)
		case 7:
			b.WriteString("\n")
		case 8:
			fmt.Fprintf(&b, "HASH_%d=Tr0ub4dor#FAKE&%d\n", i, i)
		case 9:
			fmt.Fprintf(&b, "ESC_%d=\"a\\tb\\rc\\\\d\\\"e\"\n", i)
		}
	}
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	data := benchInput()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, FormatDotenv, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteDotenv(b *testing.B) {
	res, err := Parse(benchInput(), FormatDotenv, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var sb strings.Builder
		if err := WriteDotenv(&sb, res.Pairs); err != nil {
			b.Fatal(err)
		}
	}
}
