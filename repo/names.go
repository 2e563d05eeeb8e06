package repo

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxSegmentBytes is the longest encoded path segment (file name) allowed:
// the common limit of ext4, APFS and NTFS.
const MaxSegmentBytes = 255

// Ext is the file extension of entry files.
const Ext = ".age"

// NameError is a refused entry, project, device or server name. Its message
// quotes the name and the rule it breaks.
type NameError struct {
	Name string
	Rule string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid name %s: %s", quoteName(e.Name), e.Rule)
}

// quoteName quotes a name for messages, escaping control characters so an
// error stays one line.
func quoteName(s string) string { return fmt.Sprintf("%q", s) }

// CleanName normalises a user-typed entry name (Unicode NFC) and checks it:
// one or more segments joined by "/"; a segment is not empty, not "." or
// "..", does not start with ".", holds no control characters, and encodes to
// at most MaxSegmentBytes bytes.
func CleanName(name string) (string, error) {
	if name == "" {
		return "", &NameError{Name: name, Rule: "name is empty"}
	}
	if !utf8.ValidString(name) {
		return "", &NameError{Name: name, Rule: "name is not valid UTF-8"}
	}
	n := norm.NFC.String(name)
	if strings.HasPrefix(n, "/") {
		return "", &NameError{Name: name, Rule: "absolute paths are not names (no leading /)"}
	}
	if strings.HasSuffix(n, "/") {
		return "", &NameError{Name: name, Rule: "name ends with / (empty last segment)"}
	}
	segs := strings.Split(n, "/")
	for i, s := range segs {
		pos := segDir
		if i == len(segs)-1 {
			pos = segLeaf
		}
		if err := checkSegment(s, pos); err != nil {
			return "", &NameError{Name: name, Rule: err.Error()}
		}
	}
	return n, nil
}

// CleanSegment checks a single segment: a project, device or server name.
func CleanSegment(kind, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", &NameError{Name: s, Rule: kind + " name is not valid UTF-8"}
	}
	n := norm.NFC.String(s)
	if strings.Contains(n, "/") {
		return "", &NameError{Name: s, Rule: kind + " name cannot contain /"}
	}
	if err := checkSegment(n, segScope); err != nil {
		return "", &NameError{Name: s, Rule: kind + " name: " + err.Error()}
	}
	return n, nil
}

// Where a segment goes on disk, for its encoded length.
const (
	segLeaf  = iota // the last segment of an entry name: NAME.age
	segDir          // an earlier segment: a directory
	segScope        // a project, device or server name: a scope directory
)

func checkSegment(s string, pos int) error {
	switch {
	case s == "":
		return errors.New("empty segment (// or a leading or trailing /)")
	case s == "." || s == "..":
		return fmt.Errorf("%q segments are not allowed (no path traversal)", s)
	case strings.HasPrefix(s, "."):
		return errors.New("a segment cannot start with . (reserved for .git, .tresor and hidden files)")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return errors.New("control characters (NUL, newline, tab, …) are not allowed")
		}
	}
	enc := encodeSegment(s)
	switch pos {
	case segLeaf:
		enc += Ext
	case segDir:
		enc = encodeDirSegment(s)
	}
	if len(enc) > MaxSegmentBytes {
		return fmt.Errorf("segment encodes to %d bytes as a file name, over the %d-byte limit", len(enc), MaxSegmentBytes)
	}
	return nil
}

// FoldName is the case-folded form used to keep names unique ignoring case.
func FoldName(name string) string {
	return cases.Fold().String(norm.NFC.String(name))
}

var windowsDevices = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true,
}

func isDeviceName(s string) bool {
	base := strings.ToUpper(s)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, " ")
	if windowsDevices[base] {
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		c := base[3]
		return c >= '0' && c <= '9'
	}
	// COM¹, LPT² … are device names on Windows too.
	if strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT") {
		switch base[3:] {
		case "¹", "²", "³":
			return true
		}
	}
	return false
}

// encodeSegment maps one name segment to a portable file name: [A-Za-z0-9._-]
// and non-ASCII letters, marks and digits stay; every other byte is %XX; a
// trailing space or dot and Windows device names are escaped too. The result
// is valid on Linux, macOS and Windows, and decodeSegment reverses it.
func encodeSegment(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			b.WriteRune(r)
		case r < utf8.RuneSelf && strings.ContainsRune(" %:*?\"<>|\\", r):
			fmt.Fprintf(&b, "%%%02X", r)
		case r < utf8.RuneSelf:
			// Other ASCII punctuation (@ ( ) ! # & ' + , ; = [ ] ^ ` { } ~ $)
			// is portable and reads better as is.
			b.WriteRune(r)
		case unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			var buf [4]byte
			for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	out := b.String()
	if isDeviceName(out) {
		out = fmt.Sprintf("%%%02X", out[0]) + out[1:]
	}
	if strings.HasSuffix(out, ".") {
		out = out[:len(out)-1] + "%2E"
	}
	return out
}

// encodeDirSegment encodes a segment that is a directory (any but the last
// of an entry name). A directory name never ends in ".age", in any letter
// case: the dot is escaped ("x.age/y" -> "x%2Eage/y.age"), so the directory
// of "x.age/y" can never be the file of "x" (x.age), on a case-sensitive
// file system or not. decodeSegment reverses it like any escape.
func encodeDirSegment(s string) string {
	enc := encodeSegment(s)
	if n := len(enc) - len(Ext); n >= 0 && strings.EqualFold(enc[n:], Ext) {
		enc = enc[:n] + "%2E" + enc[n+1:]
	}
	return enc
}

// decodeSegment reverses encodeSegment. It fails on malformed escapes.
func decodeSegment(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in file name %q", s)
		}
		var v byte
		for _, c := range []byte(s[i+1 : i+3]) {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= c - '0'
			case c >= 'A' && c <= 'F':
				v |= c - 'A' + 10
			case c >= 'a' && c <= 'f':
				v |= c - 'a' + 10
			default:
				return "", fmt.Errorf("bad escape in file name %q", s)
			}
		}
		b = append(b, v)
		i += 2
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("file name %q does not decode to UTF-8", s)
	}
	return string(b), nil
}

// NamePath maps a clean name to its path below a scope directory
// ("Shopping/Papa Johns" -> "Shopping/Papa%20Johns.age").
func NamePath(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		if i < len(segs)-1 {
			segs[i] = encodeDirSegment(s)
		} else {
			segs[i] = encodeSegment(s)
		}
	}
	return strings.Join(segs, "/") + Ext
}

// PathName reverses NamePath. ok is false for files that are not entries,
// and for paths that are not NamePath's encoding of their name (an
// unescaped ".age" directory, "%41" for "A"): each name has one file.
func PathName(p string) (string, bool) {
	if !strings.HasSuffix(p, Ext) {
		return "", false
	}
	segs := strings.Split(strings.TrimSuffix(p, Ext), "/")
	for i, s := range segs {
		d, err := decodeSegment(s)
		if err != nil {
			return "", false
		}
		segs[i] = d
	}
	name := strings.Join(segs, "/")
	if c, err := CleanName(name); err != nil || c != name || NamePath(name) != p {
		return "", false
	}
	return name, true
}
