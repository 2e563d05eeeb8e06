package inject

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Input formats accepted by Parse.
const (
	// FormatDotenv is the .env dialect of shared/cases/README.md.
	FormatDotenv = "dotenv"
	// FormatShell is a POSIX shell file of which only the plain
	// `[export] NAME=literal` assignments are imported.
	FormatShell = "shell"
)

// Pair is one imported assignment.
type Pair struct {
	// Key is the variable name.
	Key string
	// Value is the value, byte-exact.
	Value string
	// Line is the 1-based line where the assignment starts. For a key that
	// is defined more than once it is the line of the definition that won.
	Line int
}

// LineError is a problem with one line (or one statement) of the input.
// Its text names the line and, when known, the key; never a value or any
// source text.
type LineError struct {
	// Line is the 1-based line at fault. For an unterminated quote it is the
	// line where the quote opened.
	Line int
	// Key is the name being assigned, or "" when the line has no usable name.
	Key string
	// Msg says what is wrong and, where it helps, what to do.
	Msg string
}

// Error returns "line 7: KEY: msg", or "line 7: msg" when Key is empty.
func (e *LineError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
}

// Warning is something imported that the user should look at (an unresolved
// reference, a duplicate key). It never carries a value.
type Warning struct {
	// Line is the 1-based line of the assignment concerned.
	Line int
	// Key is the name being assigned.
	Key string
	// Msg describes the issue.
	Msg string
}

// String returns "line 7: KEY: msg".
func (w Warning) String() string {
	return (&LineError{Line: w.Line, Key: w.Key, Msg: w.Msg}).Error()
}

// Result is what Parse imported.
type Result struct {
	// Pairs are the assignments in order of first definition, one per key;
	// for a duplicated key the last value wins.
	Pairs []Pair
	// Warnings are issues that did not stop the import.
	Warnings []Warning
	// Skipped lists what was not imported: invalid lines when skipInvalid is
	// set, and in FormatShell the statements that are not plain assignments,
	// dynamic values and reserved names.
	Skipped []LineError
}

// EncodingError reports input that is not UTF-8 text. It is never skippable:
// nothing from such an input is imported.
type EncodingError struct {
	// Line is the 1-based line of the first offending byte, or 0 when the
	// whole input is at fault (a UTF-16 byte order mark).
	Line int
	// Msg says what is wrong and what to do.
	Msg string
}

// Error returns the message, prefixed with the line when known.
func (e *EncodingError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Parse parses data in the given format (FormatDotenv or FormatShell).
//
// The input must be UTF-8 (a leading byte order mark is dropped); UTF-16,
// NUL bytes or invalid UTF-8 give an *EncodingError. LF, CRLF and bare CR
// all end a line, and line breaks inside quoted values become LF.
//
// In strict mode (skipInvalid=false) the first line error is returned as
// *LineError and Result is nil. With skipInvalid the invalid lines are
// reported in Result.Skipped and the rest is imported. Nothing is ever
// executed and the process environment is never read.
//
// FormatDotenv imports every valid assignment, reserved names included
// (whether they are injected is exec's decision). FormatShell quotes like
// sh (inside double quotes only \$ \` \" \\ and \<newline> are escapes) and
// imports only plain assignments whose value is a literal or refers to keys
// imported earlier; commands, values that would come from the environment
// or from running something, and reserved names (IsReservedName) are
// reported in Result.Skipped, in both modes. Only an unterminated quote or
// substitution is a line error there.
func Parse(data []byte, format string, skipInvalid bool) (*Result, error) {
	if format != FormatDotenv && format != FormatShell {
		return nil, fmt.Errorf("unknown import format %q (want %q or %q)", format, FormatDotenv, FormatShell)
	}
	src, err := decodeInput(data)
	if err != nil {
		return nil, err
	}
	p := newParser(src)
	step := p.dotenvStatement
	if format == FormatShell {
		step = p.shellStatement
	}
	for p.pos < len(p.src) {
		next, lerr := step(p.pos)
		if lerr != nil {
			if !skipInvalid {
				return nil, lerr
			}
			p.res.Skipped = append(p.res.Skipped, *lerr)
		}
		if next <= p.pos { // cannot happen; guards against an endless loop
			next = p.pos + 1
		}
		p.pos = next
	}
	return &p.res, nil
}

// decodeInput checks the encoding, drops a UTF-8 BOM and turns CRLF and
// bare CR into LF.
func decodeInput(data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if len(data) >= 2 && (data[0] == 0xFF && data[1] == 0xFE || data[0] == 0xFE && data[1] == 0xFF) {
		return "", &EncodingError{Msg: "input is UTF-16 (it starts with a UTF-16 byte order mark), not UTF-8; nothing was imported: save the file as UTF-8 and import again"}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		if n := bytes.Count(data, []byte{0}); n*4 >= len(data) {
			return "", &EncodingError{Msg: fmt.Sprintf("input looks like UTF-16 without a byte order mark (%d of its %d bytes are NUL), not UTF-8; nothing was imported: save the file as UTF-8 and import again", n, len(data))}
		}
		return "", &EncodingError{Line: rawLineAt(data, i), Msg: fmt.Sprintf("input contains a NUL byte (byte offset %d); a .env file must be UTF-8 text and no variable can hold NUL; nothing was imported", i)}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return "", &EncodingError{Line: rawLineAt(data, off), Msg: fmt.Sprintf("input is not valid UTF-8 (byte offset %d); nothing was imported: convert the file to UTF-8 (it may be Latin-1 or Windows-1252)", off)}
	}
	if bytes.IndexByte(data, '\r') < 0 {
		return string(data), nil
	}
	var b strings.Builder
	b.Grow(len(data))
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\r' {
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			c = '\n'
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// rawLineAt is the 1-based line of data[off] before line endings are
// normalised (CRLF, CR and LF each end one line).
func rawLineAt(data []byte, off int) int {
	line := 1
	for i := 0; i < off && i < len(data); i++ {
		switch data[i] {
		case '\n':
			line++
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				line++
			}
		}
	}
	return line
}

// parser holds the state shared by the dotenv and shell grammars.
type parser struct {
	src        string
	pos        int
	lineStarts []int
	res        Result
	index      map[string]int // key -> position in res.Pairs
	braces     map[int]int    // see braceMatches; reused between values
}

func newParser(src string) *parser {
	p := &parser{src: src, index: map[string]int{}, lineStarts: []int{0}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	return p
}

// lineAt is the 1-based line of offset off.
func (p *parser) lineAt(off int) int {
	return sort.Search(len(p.lineStarts), func(i int) bool { return p.lineStarts[i] > off })
}

// nextLine returns the offset just after the end of the line holding off.
func (p *parser) nextLine(off int) int {
	if off >= len(p.src) {
		return len(p.src)
	}
	if i := strings.IndexByte(p.src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(p.src)
}

// lookup returns the value of a key defined earlier in the file.
func (p *parser) lookup(name string) (string, bool) {
	if i, ok := p.index[name]; ok {
		return p.res.Pairs[i].Value, true
	}
	return "", false
}

// add records an assignment; a later definition replaces the value of an
// earlier one (keeping its position) and is reported with both lines.
func (p *parser) add(key, value string, line int) {
	if i, ok := p.index[key]; ok {
		prev := p.res.Pairs[i].Line
		p.res.Warnings = append(p.res.Warnings, Warning{Line: line, Key: key,
			Msg: fmt.Sprintf("duplicate key: set on line %d and again on line %d; the value from line %d is used", prev, line, line)})
		p.res.Pairs[i].Value = value
		p.res.Pairs[i].Line = line
		return
	}
	p.index[key] = len(p.res.Pairs)
	p.res.Pairs = append(p.res.Pairs, Pair{Key: key, Value: value, Line: line})
}

func isBlank(c byte) bool            { return c == ' ' || c == '\t' }
func isDigit(c byte) bool            { return '0' <= c && c <= '9' }
func isNameStart(c byte) bool        { return c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func isShNameChar(c byte) bool       { return isNameStart(c) || isDigit(c) }
func isNameChar(c byte) bool         { return isShNameChar(c) || c == '.' || c == '-' }
func isLineEnd(s string, i int) bool { return i >= len(s) || s[i] == '\n' }

func skipBlanks(s string, i int) int {
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return i
}

// dotenvStatement parses the line starting at start and returns where the
// next one begins. On a line error, next is where parsing resumes when
// invalid lines are skipped.
func (p *parser) dotenvStatement(start int) (next int, lerr *LineError) {
	s := p.src
	i := skipBlanks(s, start)
	if isLineEnd(s, i) || s[i] == '#' {
		return p.nextLine(i), nil
	}
	line := p.lineAt(start)
	fail := func(key, msg string) (int, *LineError) {
		return p.nextLine(start), &LineError{Line: line, Key: key, Msg: msg}
	}

	// "export" followed by blanks is a prefix, unless '=' comes next: then
	// the key itself is called export.
	if strings.HasPrefix(s[i:], "export") && i+6 < len(s) && isBlank(s[i+6]) {
		j := skipBlanks(s, i+6)
		switch {
		case isLineEnd(s, j) || s[j] == '#':
			return fail("", "'export' must be followed by NAME=value")
		case s[j] != '=':
			i = j
		}
	}

	j := i
	if isNameStart(s[j]) {
		for j++; j < len(s) && isNameChar(s[j]); j++ {
		}
	}
	if j == i {
		switch {
		case s[i] == '=':
			return fail("", "empty name before '='")
		case isDigit(s[i]):
			return fail("", "a name cannot start with a digit (names are letters, digits, _, . and -, starting with a letter or _)")
		default:
			return fail("", "not an assignment: a line must be NAME=value, a # comment or blank (names are letters, digits, _, . and -, starting with a letter or _)")
		}
	}
	k := skipBlanks(s, j)
	if isLineEnd(s, k) || s[k] != '=' {
		switch {
		case isLineEnd(s, k) || s[k] == '#' && k > j:
			return fail("", "a name with no '=': write NAME=value (NAME= for an empty value)")
		case s[k] == ':':
			return fail("", "expected '=' after the name, found ':'; write NAME=value")
		case k > j:
			return fail("", "a name cannot contain spaces, and must be followed by '='")
		default:
			return fail("", "invalid character in the name (names are letters, digits, _, . and -, starting with a letter or _)")
		}
	}
	key := s[i:j]

	v := skipBlanks(s, k+1)
	var st refStats
	var value string
	switch {
	case isLineEnd(s, v) || s[v] == '#' && v > k+1:
		next = p.nextLine(v)
	case s[v] == '\'' || s[v] == '"':
		var b strings.Builder
		q := v
		for q < len(s) && (s[q] == '\'' || s[q] == '"') {
			if s[q] == '\'' {
				e := strings.IndexByte(s[q+1:], '\'')
				if e < 0 {
					return p.unterminated(key, q, "single")
				}
				b.WriteString(s[q+1 : q+1+e])
				q += e + 2
				continue
			}
			e := closingDoubleQuote(s, q+1)
			if e < 0 {
				return p.unterminated(key, q, "double")
			}
			p.expandValue(&b, s[q+1:e], true, &st)
			q = e + 1
		}
		r := skipBlanks(s, q)
		if !isLineEnd(s, r) && !(s[r] == '#' && r > q) {
			msg := "unexpected text after the closing quote (only a ' # comment' may follow it)"
			if cl := p.lineAt(q - 1); cl != line {
				msg = fmt.Sprintf("unexpected text after the closing quote on line %d (only a ' # comment' may follow it); the quoted value runs from line %d to line %d: is a closing quote missing on line %d?", cl, line, cl, line)
			}
			return p.nextLine(r), &LineError{Line: line, Key: key, Msg: msg}
		}
		value = b.String()
		next = p.nextLine(r)
	default:
		e := strings.IndexByte(s[v:], '\n')
		if e < 0 {
			e = len(s) - v
		}
		raw := s[v : v+e]
		next = v + e + 1
		// '#' starts a comment only after whitespace.
		for c := 1; c < len(raw); c++ {
			if raw[c] == '#' && isBlank(raw[c-1]) {
				raw = raw[:c]
				break
			}
		}
		raw = strings.TrimRight(raw, " \t")
		var b strings.Builder
		p.expandValue(&b, raw, false, &st)
		value = b.String()
	}
	p.referenceWarnings(key, line, st)
	p.add(key, value, line)
	return min(next, len(s)), nil
}

// unterminated reports a quote at offset q that never closes. Parsing
// resumes on the line after the one where the quote opened.
func (p *parser) unterminated(key string, q int, kind string) (int, *LineError) {
	ql := p.lineAt(q)
	return p.nextLine(q), &LineError{Line: ql, Key: key,
		Msg: fmt.Sprintf("unterminated %s-quoted value: the quote opened on line %d is never closed", kind, ql)}
}

// closingDoubleQuote returns the offset of the '"' that ends a
// double-quoted value whose content starts at i, or -1. A backslash always
// takes the next byte with it, so `\"` never closes and `\\"` does.
func closingDoubleQuote(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
		case '"':
			return i
		default:
			i++
		}
	}
	return -1
}

// refStats counts references that were kept as written.
type refStats struct {
	unresolved int // $NAME or ${NAME} with no earlier key and no default
	malformed  int // ${ not followed by a supported form
}

func (p *parser) referenceWarnings(key string, line int, st refStats) {
	if st.unresolved > 0 {
		what := "a reference"
		if st.unresolved > 1 {
			what = fmt.Sprintf("%d references", st.unresolved)
		}
		p.res.Warnings = append(p.res.Warnings, Warning{Line: line, Key: key,
			Msg: what + " ($NAME or ${NAME}) kept as written: no key of that name is defined earlier in this file (for a literal $, write \\$ inside double quotes or use single quotes)"})
	}
	if st.malformed > 0 {
		p.res.Warnings = append(p.res.Warnings, Warning{Line: line, Key: key,
			Msg: "a '${' that is not ${NAME}, ${NAME:-default} or ${NAME-default} was kept as written"})
	}
}

// expandValue appends the expansion of one unquoted or double-quoted piece.
func (p *parser) expandValue(b *strings.Builder, s string, dq bool, st *refStats) {
	p.braces = braceMatches(s, dq, p.braces)
	p.expand(b, s, 0, len(s), dq, 0, st)
}

// braceMatches maps the offset of every '$' that opens "${" in s to the
// offset of the '}' that closes it, pairing them like brackets. It skips
// escapes exactly as expand does, so both agree on where a default ends.
func braceMatches(s string, dq bool, m map[int]int) map[int]int {
	clear(m)
	if !strings.Contains(s, "${") {
		return m
	}
	if m == nil {
		m = map[int]int{}
	}
	var open []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if dq && i+1 < len(s) && strings.IndexByte(`nrt\"$`, s[i+1]) >= 0 {
				i++
			}
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				open = append(open, i)
				i++
			}
		case '}':
			if n := len(open); n > 0 {
				m[open[n-1]] = i
				open = open[:n-1]
			}
		}
	}
	return m
}

// maxRefDepth bounds nesting of ${A:-${B:-…}} defaults; deeper ones are
// kept as written.
const maxRefDepth = 32

// expand appends s[i:hi] to b, resolving references and, when dq is set,
// the double-quote escapes. Every byte is visited once: a default is only
// expanded when it is used, and its end comes from p.braces.
func (p *parser) expand(b *strings.Builder, s string, i, hi int, dq bool, depth int, st *refStats) {
	for i < hi {
		j := i
		for j < hi && s[j] != '$' && !(dq && s[j] == '\\') {
			j++
		}
		b.WriteString(s[i:j])
		if i = j; i >= hi {
			return
		}
		if s[i] == '$' {
			i = p.reference(b, s, i, hi, dq, depth, st)
			continue
		}
		if i+1 >= hi {
			b.WriteByte('\\')
			return
		}
		switch s[i+1] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', '"', '$':
			b.WriteByte(s[i+1])
		default: // any other sequence is kept as written
			b.WriteByte('\\')
			i++
			continue
		}
		i += 2
	}
}

// reference handles the '$' at s[i] and returns the offset after it.
func (p *parser) reference(b *strings.Builder, s string, i, hi int, dq bool, depth int, st *refStats) int {
	if i+1 >= hi {
		b.WriteByte('$')
		return i + 1
	}
	if isNameStart(s[i+1]) { // $NAME
		j := i + 2
		for j < hi && isShNameChar(s[j]) {
			j++
		}
		if v, ok := p.lookup(s[i+1 : j]); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i:j])
			st.unresolved++
		}
		return j
	}
	if s[i+1] != '{' { // $$, $5, $@, $(, "$ " …: a literal $
		b.WriteByte('$')
		return i + 1
	}
	j := i + 2
	if j < hi && isNameStart(s[j]) {
		for j++; j < hi && isShNameChar(s[j]); j++ {
		}
		name := s[i+2 : j]
		switch {
		case j < hi && s[j] == '}': // ${NAME}
			if v, ok := p.lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : j+1])
				st.unresolved++
			}
			return j + 1
		case j < hi && (s[j] == '-' || strings.HasPrefix(s[j:hi], ":-")):
			end, ok := p.braces[i]
			if !ok || end >= hi || depth >= maxRefDepth {
				break
			}
			colon := s[j] == ':'
			v, defined := p.lookup(name)
			if !defined || colon && v == "" {
				d := j + 1
				if colon {
					d++
				}
				p.expand(b, s, d, end, dq, depth+1, st)
			} else {
				b.WriteString(v)
			}
			return end + 1
		}
	}
	st.malformed++
	b.WriteByte('$')
	return i + 1
}
