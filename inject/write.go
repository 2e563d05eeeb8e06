package inject

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// IsValidName reports whether name is a valid dotenv name:
// [A-Za-z_][A-Za-z0-9_.-]*.
func IsValidName(name string) bool {
	if name == "" || !isNameStart(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return false
		}
	}
	return true
}

// checkPairs validates every pair before anything is written, so a failing
// writer writes nothing. Errors name the key, never the value.
func checkPairs(format string, pairs []Pair, validName func(string) bool, nameRule string, allowBinary bool) error {
	seen := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		if !validName(p.Key) {
			return fmt.Errorf("cannot write %q as %s: not a valid name (%s)", p.Key, format, nameRule)
		}
		if seen[p.Key] {
			return fmt.Errorf("cannot write %s as %s: the name appears twice", p.Key, format)
		}
		seen[p.Key] = true
		if strings.IndexByte(p.Value, 0) >= 0 {
			return fmt.Errorf("cannot write %s as %s: its value contains a NUL byte, which %s cannot hold", p.Key, format, format)
		}
		if !allowBinary && !utf8.ValidString(p.Value) {
			return fmt.Errorf("cannot write %s as %s: its value is not UTF-8 text (binary data), which %s cannot hold", p.Key, format, format)
		}
	}
	return nil
}

// WriteDotenv writes pairs as a .env file that Parse(FormatDotenv) reads
// back to identical bytes for every value, one NAME=value line per pair in
// the given order. Each value gets the simplest spelling that round-trips:
// bare when it only holds letters, digits and _ - . / : @ % + , =, and
// otherwise double quotes with the escapes \n \r \t \\ \" \$. A value with a
// NUL byte or invalid UTF-8, an invalid or repeated name is an error naming
// the key, and then nothing is written.
func WriteDotenv(w io.Writer, pairs []Pair) error {
	if err := checkPairs("a .env file", pairs, IsValidName, "letters, digits, _, . and -, starting with a letter or _", false); err != nil {
		return err
	}
	var b bytes.Buffer
	for _, p := range pairs {
		b.WriteString(p.Key)
		b.WriteByte('=')
		appendDotenvValue(&b, p.Value)
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// isBareByte reports whether c may appear in an unquoted dotenv value that
// is also inert when the file is sourced by a shell.
func isBareByte(c byte) bool {
	return isShNameChar(c) || strings.IndexByte("-./:@%+,=", c) >= 0
}

func appendDotenvValue(b *bytes.Buffer, v string) {
	bare := true
	for i := 0; i < len(v); i++ {
		if !isBareByte(v[i]) {
			bare = false
			break
		}
	}
	if bare {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// WriteShell writes one line per pair that a POSIX shell evaluates back to
// identical bytes:
//
//	export NAME='value'
//	export QUOTE='it'\''s'
//
// Names must be shell variable names ([A-Za-z_][A-Za-z0-9_]*); a value may
// hold any bytes but NUL. Any error names the key, and then nothing is
// written. WriteShell does not filter reserved names; callers decide (see
// IsReservedName).
//
// A value holding a carriage return survives eval, but is read back as a
// line feed by Parse(FormatShell), which normalises line endings.
func WriteShell(w io.Writer, pairs []Pair) error {
	if err := checkPairs("a shell export", pairs, isShName, "letters, digits and _, starting with a letter or _", true); err != nil {
		return err
	}
	var b bytes.Buffer
	for _, p := range pairs {
		b.WriteString("export ")
		b.WriteString(p.Key)
		b.WriteString("='")
		b.WriteString(strings.ReplaceAll(p.Value, "'", `'\''`))
		b.WriteString("'\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes pairs as one JSON object, keys in the given order and
// values as JSON strings, indented by two spaces and ending in a newline
// (the layout of the cases' expected.json files). Keys must be unique and
// non-empty; a key or value that is not valid UTF-8 is an error naming the
// key, and then nothing is written. <, > and & are not escaped.
func WriteJSON(w io.Writer, pairs []Pair) error {
	seen := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		switch {
		case p.Key == "" || !utf8.ValidString(p.Key):
			return fmt.Errorf("cannot write %q as JSON: names must be non-empty UTF-8 text", p.Key)
		case seen[p.Key]:
			return fmt.Errorf("cannot write %s as JSON: the name appears twice", p.Key)
		case !utf8.ValidString(p.Value):
			return fmt.Errorf("cannot write %s as JSON: its value is not UTF-8 text (binary data), which a JSON string cannot hold", p.Key)
		}
		seen[p.Key] = true
	}
	var b bytes.Buffer
	if len(pairs) == 0 {
		b.WriteString("{}\n")
	} else {
		b.WriteString("{\n")
		for i, p := range pairs {
			b.WriteString("  ")
			appendJSONString(&b, p.Key)
			b.WriteString(": ")
			appendJSONString(&b, p.Value)
			if i < len(pairs)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("}\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func appendJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not valid JavaScript
			fmt.Fprintf(b, `\u%04x`, r)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
