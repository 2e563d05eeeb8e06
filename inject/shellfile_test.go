package inject

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseShellValues(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Pair
	}{
		{"export single", "export A='x y'", kv("A", "x y")},
		{"plain", "A=1", kv("A", "1")},
		{"double", `A="x y"`, kv("A", "x y")},
		{"comment", "A=z # note\n# B=2", kv("A", "z")},
		{"hash inside word", "A=z#x", kv("A", "z#x")},
		{"several on one export", "export D=1 E=2", kv("D", "1", "E", "2")},
		{"several plain", "D=1 E=2", kv("D", "1", "E", "2")},
		{"semicolon then export", "F=1; export F", kv("F", "1")},
		{"semicolons", "A=1;B=2 ; C=3", kv("A", "1", "B", "2", "C", "3")},
		{"quote escape", `G='I'\''m'`, kv("G", "I'm")},
		{"joined pieces", `G=a'b c'"d"\ e`, kv("G", "ab cd e")},
		{"sh double escapes", `A="a\nb \$ \" \\ \x"`, kv("A", `a\nb $ " \ \x`)},
		{"unquoted backslash", `A=a\ b\$c`, kv("A", "a b$c")},
		{"continuation", "A=abc\\\ndef\nB=2", kv("A", "abcdef", "B", "2")},
		{"continuation in double", "A=\"abc\\\ndef\"", kv("A", "abcdef")},
		{"multiline single", "A='l1\nl2\n'\nB=2", kv("A", "l1\nl2\n", "B", "2")},
		{"empty forms", "A=\nB=''\nC=\"\"\nexport D=", kv("A", "", "B", "", "C", "", "D", "")},
		{"reference to earlier", "A=1\nB=$A/x\nC=\"${A}y\"", kv("A", "1", "B", "1/x", "C", "1y")},
		{"reference in same assignment list", "A=1 B=$A", kv("A", "1", "B", "1")},
		{"export expands before assigning", "A=0\nexport A=1 B=$A", kv("A", "1", "B", "0")},
		{"default not needed", "A=1\nB=${A:-d}", kv("A", "1", "B", "1")},
		{"dash default defined empty", "A=\nB=${A-d}", kv("A", "", "B", "")},
		{"literal dollars", "A='$x'\nB=\"a$\"\nC=a$ b=1", kv("A", "$x", "B", "a$", "C", "a$", "b", "1")},
		{"crlf", "export A='x'\r\nB=\"y\"\r\n", kv("A", "x", "B", "y")},
		{"tilde inside", "A=a~b", kv("A", "a~b")},
		{"quoted tilde", "A='~/x'", kv("A", "~/x")},
		{"export of existing only", "export A B", nil},
		{"duplicate", "A=1\nA=2", kv("A", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.in), FormatShell, false)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !samePairs(res.Pairs, tt.want) {
				t.Errorf("Parse(%q)\n got %s\nwant %s\nskipped %v", tt.in, fmtPairs(res.Pairs), fmtPairs(tt.want), res.Skipped)
			}
		})
	}
}

func TestParseShellSkips(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	tests := []struct {
		name string
		in   string
		key  string
		msg  string
	}{
		{"command substitution", "A=$(touch " + marker + ")", "A", "runs a command"},
		{"backticks", "A=`touch " + marker + "`", "A", "backticks"},
		{"arithmetic", "A=$((1+2))", "A", "runs a command or computes"},
		{"in double quotes", `A="x$(touch ` + marker + `)"`, "A", "runs a command"},
		{"environment reference", "A=$HOME/x", "A", "environment"},
		{"braced environment reference", `A="${HOME}/x"`, "A", "environment"},
		{"default from environment", "A=${REGION:-eu}", "A", "environment"},
		{"special parameter", "A=$$", "A", "special"},
		{"positional", "A=$1", "A", "special"},
		{"tilde", "A=~/x", "A", "~"},
		{"tilde after colon", "A=/a:~/x", "A", "~"},
		{"ansi c quoting", `A=$'\n'`, "A", "$'"},
		{"unsupported expansion", "A=${B:=x}", "A", "does not evaluate"},
		{"reserved PATH", "export PATH=/tmp/evil-FAKE", "PATH", "reserved"},
		{"reserved HOME", "HOME=/tmp/x", "HOME", "reserved"},
		{"reserved PS1", "PS1='$ '", "PS1", "reserved"},
		{"reserved LD", "export LD_PRELOAD=/tmp/x.so", "LD_PRELOAD", "reserved"},
		{"reserved DYLD", "DYLD_INSERT_LIBRARIES=x", "DYLD_INSERT_LIBRARIES", "reserved"},
		{"command", "echo sk-test-FAKE", "", "not a plain assignment"},
		{"source", "source ~/.profile", "", "not a plain assignment"},
		{"if", "if [ -f x ]; then", "", "not a plain assignment"},
		{"prefix assignment", "A=1 cmd", "A", "only to that command"},
		{"and list", "A=1 && B=2", "A", "&&"},
		{"pipe", "echo x | tee y", "", "&&"},
		{"redirect", "A=1 >/dev/null", "A", "redirection"},
		{"subshell", "(A=1)", "", "( )"},
		{"export option", "export -n A=1", "", "options"},
		{"dotted name", "A.B=1", "", "not a plain assignment"},
		{"spaces around equals", "A = 1", "", "not a plain assignment"},
		{"reference to skipped key", "HOME=/x\nA=$HOME", "A", "environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.in), FormatShell, false)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if len(res.Pairs) != 0 {
				t.Errorf("imported %s", fmtPairs(res.Pairs))
			}
			if len(res.Skipped) == 0 {
				t.Fatalf("nothing reported")
			}
			s := res.Skipped[len(res.Skipped)-1]
			if s.Key != tt.key || !strings.Contains(s.Msg, tt.msg) {
				t.Errorf("skipped %q, want key %q and %q", s.Error(), tt.key, tt.msg)
			}
			checkNoLeak(t, res, "sk-test-FAKE", "/tmp/evil", "/tmp/x")
		})
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command in the input was executed")
	}
}

func TestParseShellFile(t *testing.T) {
	in := `#!/bin/sh
# generated by a tool
export OPENAI_API_KEY='sk-test-FAKE0000'
set -e
if [ -z "$CI" ]; then
  export DEBUG=1
fi
cat > /tmp/x <<'EOF'
NOT_A_KEY=from-heredoc-FAKE
EOF
cat <<-END | wc -l
	ALSO_NOT=1
	END
DB_PASS="p@ss w\"rd"; export DB_PASS
export PATH="$HOME/bin:$PATH"
alias ll='ls -l'
f() { echo hi; }
MULTI='line1
line2'
LAST=ok
`
	res, err := Parse([]byte(in), FormatShell, false)
	if err != nil {
		t.Fatal(err)
	}
	want := kv("OPENAI_API_KEY", "sk-test-FAKE0000", "DEBUG", "1", "DB_PASS", `p@ss w"rd`, "MULTI", "line1\nline2", "LAST", "ok")
	if !samePairs(res.Pairs, want) {
		t.Errorf("got %s\nwant %s", fmtPairs(res.Pairs), fmtPairs(want))
	}
	lines := map[string]int{"OPENAI_API_KEY": 3, "DEBUG": 6, "DB_PASS": 14, "MULTI": 18, "LAST": 20}
	for _, p := range res.Pairs {
		if p.Line != lines[p.Key] {
			t.Errorf("%s on line %d, want %d", p.Key, p.Line, lines[p.Key])
		}
	}
	var got []int
	for _, s := range res.Skipped {
		got = append(got, s.Line)
	}
	if want := []int{4, 5, 7, 8, 11, 15, 16, 17}; !equalInts(got, want) {
		t.Errorf("skipped lines %v, want %v\n%v", got, want, res.Skipped)
	}
	checkNoLeak(t, res, "from-heredoc", "p@ss", "sk-test-FAKE")
}

func equalInts(a, b []int) bool {
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

func TestParseShellErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		key      string
	}{
		{"single", "A=1\nB='sk-test-FAKE\nC=3", 2, "B"},
		{"double", "A=\"x", 1, "A"},
		{"command", "A=$(echo", 1, "A"},
		{"backtick", "echo `x", 1, ""},
		{"brace", "A=${B", 1, "A"},
		{"in command", "echo 'x\nA=1", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.in), FormatShell, false)
			var le *LineError
			if res != nil || !errors.As(err, &le) {
				t.Fatalf("got %v, %v; want a *LineError", res, err)
			}
			if le.Line != tt.line || le.Key != tt.key || !strings.Contains(le.Msg, "unterminated") {
				t.Errorf("got %q, want line %d key %q", le.Error(), tt.line, tt.key)
			}
			if strings.Contains(le.Error(), "FAKE") {
				t.Errorf("error %q shows source text", le.Error())
			}
			res, err = Parse([]byte(tt.in), FormatShell, true)
			if err != nil || len(res.Skipped) == 0 {
				t.Errorf("skipInvalid: %v, %v", res, err)
			}
		})
	}
	res, err := Parse([]byte("A=1\nB='x\nC=3\n"), FormatShell, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := kv("A", "1", "C", "3"); !samePairs(res.Pairs, want) {
		t.Errorf("skipInvalid resumes after the opening line: got %s", fmtPairs(res.Pairs))
	}
}

// TestParseShellMatchesSh is a differential test: for snippets made only of
// assignments (nothing else runs), every value Parse(FormatShell) imports
// must be exactly what a real shell assigns. It runs /bin/sh and, when
// present, bash, with an empty environment and the script on stdin.
func TestParseShellMatchesSh(t *testing.T) {
	snippets := []string{
		"export A='x y'", `A="a\nb \$ \" \\ \x \` + "`" + `"`, `A=a\ b\$c\\`, "A=abc\\\ndef",
		"A=\"abc\\\ndef\"", `G='I'\''m'`, `G=a'b c'"d"\ e`, "C=a$ b=1", "A=a~b", "A='~/x'",
		"A=1 B=$A", "A=0\nexport A=1 B=$A", "A=1\nB=${A:-d}", "A=\nB=${A-d}", "A=\nB=${A:-d}",
		"A=z#x", "A=z # c", "F=1; export F", `A="x$"`, `A="$"`, "A=$", "A='l1\nl2\n'",
		"A=1;B=2 ; C=3", `A="\\\""`, `A=\\\\`, `A=\"`, `A="it's"`, `A='"'`, "A='päss ✓ 🔑'",
		"A=1 B=2 C=$A$B", "A=x\nA=\"$A y\"", "A=x\nB=\"${A}\"'${A}'$A", "A=x B=y\nexport A B",
		"A='#' B=\"#\" C=\\#", "A=a=b=c", "A= B=", `A=""''""`, "A=$ B=\"$ \"", "A=\"$/\"",
		"A=x\nB=${A-${C}}", "A=\nB=${A:-x}", "A='$(id)' B=\"\\$(id)\" C=\\`id\\`",
		"A=x\nB=\"${A:-\"y z\"}\"", "A=x\nB=${A:-'}'}", `A="a"'b'c\ d"e"`, "A=\\\nB=2",
		"A=1 # it's a comment", "A='x'#y", "A=x\tB=y", "A=x\n\nB=\"multi\nline\"",
		"A='a\\\nb'", "A=x  # c\nB=y", `A="a\\\\\"b"`, "A=x\nB=$A$A${A}",
	}
	// WriteShell output too, minus CRs (import turns them into LF, by the
	// dialect) and the 1 MiB values (TestWriteShellEval has those).
	var values []string
	for _, v := range hostileValues() {
		if !strings.Contains(v, "\r") && len(v) < 1<<16 {
			values = append(values, v)
		}
	}
	var script bytes.Buffer
	if err := WriteShell(&script, valuePairs(values)); err != nil {
		t.Fatal(err)
	}
	snippets = append(snippets, script.String())

	shells := []string{"/bin/sh"}
	if bash, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, bash)
	}
	for _, snippet := range snippets {
		res, err := Parse([]byte(snippet), FormatShell, false)
		if err != nil {
			t.Fatalf("%.60q: %v", snippet, err)
		}
		if len(res.Pairs) == 0 {
			continue
		}
		show := "\nprintf '%s\\0'"
		for _, p := range res.Pairs {
			show += ` "$` + p.Key + `"`
		}
		for _, sh := range shells {
			cmd := exec.Command(sh, "-s")
			cmd.Stdin = strings.NewReader(snippet + show + "\n")
			cmd.Env = []string{"LC_ALL=C"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s on %.60q: %v: %s", sh, snippet, err, stderr.Bytes())
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if len(got) != len(res.Pairs) {
				t.Fatalf("%s on %.60q: %d values, want %d", sh, snippet, len(got), len(res.Pairs))
			}
			for i, p := range res.Pairs {
				if got[i] != p.Value {
					t.Errorf("%s on %.60q: %s = %.40q, Parse gave %.40q", sh, snippet, p.Key, got[i], p.Value)
				}
			}
		}
	}
}
