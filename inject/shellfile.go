package inject

import (
	"fmt"
	"strings"
)

// The shell grammar is a small POSIX sh lexer: enough to find statement and
// word boundaries (quotes, escapes, $(…), ${…}, backticks, here-documents)
// and to decide whether a word is a literal. Only statements made of plain
// assignments, optionally behind `export`, are imported; everything else is
// reported in Result.Skipped. Unlike the dotenv dialect it follows sh
// semantics: inside double quotes only \$ \` \" \\ and \<newline> are
// escapes, an unquoted backslash quotes the next character, and quoted and
// unquoted pieces join into one word (so `'I'\''m'` is I'm).

// shWord is one word of a shell statement.
type shWord struct {
	pos     int    // offset of its first byte
	end     int    // offset just after it
	name    string // NAME when the word is the assignment NAME=value
	value   string // the word (or, for an assignment, its value) after quote removal
	dynamic string // why the value is not a plain literal; "" when it is
}

// shErr is a lexing error at a byte offset: an unterminated quote or
// substitution.
type shErr struct {
	off  int
	what string
	rest bool // the rest of the input belongs to it: stop reading
}

func isShOperator(c byte) bool { return strings.IndexByte("&|<>()", c) >= 0 }

func isShName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isShNameChar(s[i]) {
			return false
		}
	}
	return true
}

// shSkipBlanks skips blanks and backslash-newline continuations.
func (p *parser) shSkipBlanks(i int) int {
	s := p.src
	for i < len(s) {
		switch {
		case isBlank(s[i]):
			i++
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i += 2
		default:
			return i
		}
	}
	return i
}

// shellStatement reads one statement (up to a newline, ';' or a comment)
// and returns where the next one starts.
func (p *parser) shellStatement(start int) (int, *LineError) {
	s := p.src
	var words []shWord
	overlay := map[string]string{} // assignments earlier in this statement
	i := start
	op := false
loop:
	for {
		i = p.shSkipBlanks(i)
		if i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '\n':
			i++
			break loop
		case c == '#':
			i = p.nextLine(i)
			break loop
		case c == ';' && !strings.HasPrefix(s[i:], ";;"):
			i++
			break loop
		case c == ';' || isShOperator(c):
			op = true
			break loop
		}
		// In `A=1 B=$A` the shell assigns left to right, so B sees A; in
		// `export A=1 B=$A` it expands every argument before export runs.
		if len(words) == 1 && words[0].name == "" {
			overlay = nil
		}
		w, err := p.shWord(i, overlay)
		if err != nil {
			return p.shFail(err, w.name)
		}
		if overlay != nil && w.name != "" && w.dynamic == "" && !IsReservedName(w.name) {
			overlay[w.name] = w.value
		}
		words = append(words, w)
		i = w.end
	}

	line := p.lineAt(i)
	if len(words) > 0 {
		line = p.lineAt(words[0].pos)
	}
	if op {
		end, err := p.shSkipRest(i)
		if err != nil {
			return p.shFail(err, "")
		}
		key := ""
		if len(words) > 0 {
			key = words[0].name
		}
		p.skipStatement(line, key, "not a plain assignment: the statement uses &&, ||, |, &, ;;, ( ), a redirection or a here-document; nothing was run")
		return end, nil
	}
	if len(words) == 0 {
		return i, nil
	}

	first := words[0]
	var assigns []shWord
	switch {
	case first.name == "" && first.dynamic == "" && first.value == "export":
		for _, w := range words[1:] {
			switch {
			case w.name != "":
				assigns = append(assigns, w)
			case w.dynamic == "" && isShName(w.value):
				// `export NAME` only marks a variable; nothing to import.
			default:
				p.skipStatement(line, "", "an export with options or arguments that are not NAME=value; not imported")
				return i, nil
			}
		}
	case first.name != "":
		for _, w := range words {
			if w.name == "" {
				p.skipStatement(line, first.name, "assignments in front of a command apply only to that command; not imported, nothing was run")
				return i, nil
			}
		}
		assigns = words
	default:
		p.skipStatement(line, "", "not a plain assignment (only NAME=value and export NAME=value are imported); nothing was run")
		return i, nil
	}
	for _, w := range assigns {
		wl := p.lineAt(w.pos)
		switch why := ReservedReason(w.name); {
		case why != "":
			p.skipStatement(wl, w.name, "reserved name: "+why+"; not imported")
		case w.dynamic != "":
			p.skipStatement(wl, w.name, "the value "+w.dynamic+"; not imported, nothing was run")
		default:
			p.add(w.name, w.value, wl)
		}
	}
	return i, nil
}

// skipStatement reports a statement that is not imported; several
// statements of one line with the same reason (`if …; then`) give one report.
func (p *parser) skipStatement(line int, key, msg string) {
	if n := len(p.res.Skipped); n > 0 && p.res.Skipped[n-1] == (LineError{Line: line, Key: key, Msg: msg}) {
		return
	}
	p.res.Skipped = append(p.res.Skipped, LineError{Line: line, Key: key, Msg: msg})
}

// shFail turns a lexing error into a line error. When skipping, parsing
// resumes on the line after the one where the construct opened; after an
// unclosed $( or ${, which a shell would read to the end of the file, it
// stops (resuming there would rescan the rest of the input for every line).
func (p *parser) shFail(e *shErr, key string) (int, *LineError) {
	l := p.lineAt(e.off)
	msg := fmt.Sprintf("unterminated %s: it opens on line %d and is never closed", e.what, l)
	if e.rest {
		if last := p.lineAt(len(p.src) - 1); last > l {
			msg += fmt.Sprintf("; lines %d to %d were not read", l+1, last)
		}
		return len(p.src), &LineError{Line: l, Key: key, Msg: msg}
	}
	return p.nextLine(e.off), &LineError{Line: l, Key: key, Msg: msg}
}

// shSkipRest skips the remainder of a statement that is not imported, up to
// the end of its line, then the bodies of any here-documents it opened.
func (p *parser) shSkipRest(i int) (int, *shErr) {
	s := p.src
	type heredoc struct {
		delim string
		strip bool
	}
	var docs []heredoc
	for {
		i = p.shSkipBlanks(i)
		if i >= len(s) {
			break
		}
		c := s[i]
		if c == '\n' {
			i++
			break
		}
		if c == '#' {
			i = p.nextLine(i)
			break
		}
		if strings.HasPrefix(s[i:], "<<") && !strings.HasPrefix(s[i:], "<<<") {
			i += 2
			d := heredoc{}
			if i < len(s) && s[i] == '-' {
				d.strip = true
				i++
			}
			i = p.shSkipBlanks(i)
			if i < len(s) && s[i] != '\n' && s[i] != ';' && !isShOperator(s[i]) {
				w, err := p.shWord(i, nil)
				if err != nil {
					return i, err
				}
				d.delim = w.value
				docs = append(docs, d)
				i = w.end
			}
			continue
		}
		if c == ';' || isShOperator(c) {
			i++
			continue
		}
		w, err := p.shWord(i, nil)
		if err != nil {
			return i, err
		}
		i = w.end
	}
	for _, d := range docs {
		for i < len(s) {
			e := p.nextLine(i)
			l := strings.TrimSuffix(s[i:e], "\n")
			if d.strip {
				l = strings.TrimLeft(l, "\t")
			}
			i = e
			if l == d.delim {
				break
			}
		}
	}
	return i, nil
}

// shWord lexes the word starting at i.
func (p *parser) shWord(i int, overlay map[string]string) (shWord, *shErr) {
	s := p.src
	w := shWord{pos: i}
	if isNameStart(s[i]) {
		j := i + 1
		for j < len(s) && isShNameChar(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '=' {
			w.name = s[i:j]
			i = j + 1
		}
	}
	valStart := i
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		if isBlank(c) || c == '\n' || c == ';' || isShOperator(c) {
			break
		}
		var err *shErr
		switch c {
		case '\\':
			switch {
			case i+1 >= len(s):
				b.WriteByte('\\')
				i++
			case s[i+1] == '\n':
				i += 2
			default:
				b.WriteByte(s[i+1])
				i += 2
			}
		case '\'':
			e := strings.IndexByte(s[i+1:], '\'')
			if e < 0 {
				return w, &shErr{off: i, what: "single quote"}
			}
			b.WriteString(s[i+1 : i+1+e])
			i += e + 2
		case '"':
			i, err = p.shDouble(&b, i, overlay, &w)
		case '$':
			i, err = p.shDollar(&b, i, false, overlay, &w)
		case '`':
			e := findBacktick(s, i+1)
			if e < 0 {
				return w, &shErr{off: i, what: "backtick command substitution"}
			}
			w.setDynamic("runs a command (backticks)")
			i = e + 1
		case '~':
			if w.name != "" && (i == valStart || s[i-1] == ':') {
				w.setDynamic("uses ~, which the shell expands to a home directory")
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
		if err != nil {
			return w, err
		}
	}
	w.end = i
	w.value = b.String()
	return w, nil
}

func (w *shWord) setDynamic(why string) {
	if w.dynamic == "" {
		w.dynamic = why
	}
}

// shDouble lexes the double-quoted string whose opening quote is at s[i].
func (p *parser) shDouble(b *strings.Builder, i int, overlay map[string]string, w *shWord) (int, *shErr) {
	s := p.src
	open := i
	for i++; i < len(s); {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) {
				switch s[i+1] {
				case '$', '`', '"', '\\':
					b.WriteByte(s[i+1])
					i += 2
					continue
				case '\n':
					i += 2
					continue
				}
			}
			b.WriteByte('\\')
			i++
		case '$':
			var err *shErr
			if i, err = p.shDollar(b, i, true, overlay, w); err != nil {
				return i, err
			}
		case '`':
			e := findBacktick(s, i+1)
			if e < 0 {
				return i, &shErr{off: i, what: "backtick command substitution"}
			}
			w.setDynamic("runs a command (backticks)")
			i = e + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return i, &shErr{off: open, what: "double quote"}
}

// shLookup resolves a reference against assignments earlier in the same
// statement, then against keys imported earlier from the file.
func (p *parser) shLookup(name string, overlay map[string]string) (string, bool) {
	if v, ok := overlay[name]; ok {
		return v, true
	}
	return p.lookup(name)
}

// shDollar handles the '$' at s[i].
func (p *parser) shDollar(b *strings.Builder, i int, inDQ bool, overlay map[string]string, w *shWord) (int, *shErr) {
	s := p.src
	if i+1 >= len(s) {
		b.WriteByte('$')
		return i + 1, nil
	}
	const fromEnv = "refers to a variable that this file does not set earlier, so its value would come from the environment"
	switch n := s[i+1]; {
	case n == '(':
		e := findClosing(s, i+2, '(', ')')
		if e < 0 {
			return i, &shErr{i, "$( … ) substitution", true}
		}
		w.setDynamic("runs a command or computes a value ($(…) or $((…)))")
		return e + 1, nil
	case n == '{':
		e := findClosing(s, i+2, '{', '}')
		if e < 0 {
			return i, &shErr{i, "${ … } expansion", true}
		}
		inner := s[i+2 : e]
		k := 0
		for k < len(inner) && isShNameChar(inner[k]) {
			k++
		}
		name, rest := inner[:k], inner[k:]
		switch {
		case !isShName(name) || rest != "" && rest[0] != '-' && !strings.HasPrefix(rest, ":-"):
			w.setDynamic("uses a shell parameter expansion that tresor does not evaluate")
		default:
			v, ok := p.shLookup(name, overlay)
			if ok && (rest == "" || rest[0] == '-' || v != "") {
				b.WriteString(v)
			} else {
				w.setDynamic(fromEnv)
			}
		}
		return e + 1, nil
	case isNameStart(n):
		j := i + 2
		for j < len(s) && isShNameChar(s[j]) {
			j++
		}
		if v, ok := p.shLookup(s[i+1:j], overlay); ok {
			b.WriteString(v)
		} else {
			w.setDynamic(fromEnv)
		}
		return j, nil
	case isDigit(n) || strings.IndexByte("@*#?-$!", n) >= 0:
		w.setDynamic("uses a special shell parameter ($$, $?, $1 …)")
		return i + 2, nil
	case n == '\'' && !inDQ:
		w.setDynamic("uses $'…' quoting, which POSIX sh does not have")
		return i + 1, nil
	case n == '"' && !inDQ:
		w.setDynamic("uses $\"…\" quoting, which POSIX sh does not have")
		return i + 1, nil
	}
	b.WriteByte('$') // "$ ", "$/", "$" at the end … are literal
	return i + 1, nil
}

// findBacktick returns the offset of the backtick closing a substitution
// whose body starts at i, or -1.
func findBacktick(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
		case '`':
			return i
		default:
			i++
		}
	}
	return -1
}

// findClosing returns the offset of the close byte matching an open byte
// just before i, skipping quoted text, or -1.
func findClosing(s string, i int, open, close byte) int {
	depth := 1
	for i < len(s) {
		switch c := s[i]; c {
		case '\\':
			i += 2
			continue
		case '\'':
			e := strings.IndexByte(s[i+1:], '\'')
			if e < 0 {
				return -1
			}
			i += e + 2
			continue
		case '"':
			e := closingDoubleQuote(s, i+1)
			if e < 0 {
				return -1
			}
			i = e + 1
			continue
		case '`':
			e := findBacktick(s, i+1)
			if e < 0 {
				return -1
			}
			i = e + 1
			continue
		case open:
			depth++
		case close:
			if depth--; depth == 0 {
				return i
			}
		}
		i++
	}
	return -1
}
