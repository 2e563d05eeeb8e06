package broker

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Marker replaces every form of the secret found in a response.
const Marker = "[REDACTED]"

// minDerived is the shortest encoded form worth matching: shorter fragments
// (of a very short secret's base64 inside other base64) would redact
// innocent text without protecting anything.
const minDerived = 6

// scrubber finds a secret in the forms an upstream may echo it back: raw,
// base64 (standard and URL alphabets, with and without padding, and at each
// of the three byte alignments inside longer base64 such as a Basic
// credential), URL-encoded (query and path escaping, upper and lower hex,
// every byte escaped), hex, and JSON-escaped.
type scrubber struct {
	patterns []string // longest first, so the longest form at a position wins
	byFirst  [256][]int
	maxLen   int
	lower    *scrubber // the same patterns in lower case, for header names
}

func newScrubber(secrets ...[]byte) *scrubber {
	set := map[string]bool{}
	add := func(s string, min int) {
		if len(s) >= min {
			set[s] = true
		}
	}
	for _, sec := range secrets {
		if len(sec) == 0 {
			continue
		}
		s := string(sec)
		add(s, 1)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			add(enc.EncodeToString(sec), minDerived)
			raw := enc.WithPadding(base64.NoPadding)
			add(raw.EncodeToString(sec), minDerived)
			for shift := 0; shift < 3; shift++ {
				add(base64Core(raw, sec, shift), minDerived)
			}
		}
		for _, esc := range []string{url.QueryEscape(s), url.PathEscape(s), escapeAll(sec)} {
			add(esc, minDerived)
			add(lowerEscapes(esc), minDerived)
		}
		add(hex.EncodeToString(sec), minDerived)
		add(strings.ToUpper(hex.EncodeToString(sec)), minDerived)
		if j, err := json.Marshal(s); err == nil {
			add(string(j[1:len(j)-1]), minDerived)
		}
	}
	list := make([]string, 0, len(set))
	for p := range set {
		list = append(list, p)
	}
	return fromPatterns(list)
}

// fromPatterns builds a scrubber that looks for exactly these strings.
func fromPatterns(list []string) *scrubber {
	sc := &scrubber{patterns: list}
	slices.SortFunc(sc.patterns, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	for i, p := range sc.patterns {
		sc.byFirst[p[0]] = append(sc.byFirst[p[0]], i)
		sc.maxLen = max(sc.maxLen, len(p))
	}
	return sc
}

// base64Core returns the characters of the base64 of sec that depend on
// sec's bytes alone when sec starts shift bytes into a longer encoded
// string: what stays the same whatever surrounds it.
func base64Core(enc *base64.Encoding, sec []byte, shift int) string {
	buf := make([]byte, shift+len(sec))
	copy(buf[shift:], sec)
	s := enc.EncodeToString(buf)
	start := (8*shift + 5) / 6
	end := 8 * (shift + len(sec)) / 6
	if end <= start || end > len(s) {
		return ""
	}
	return s[start:end]
}

func escapeAll(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 3*len(b))
	for _, c := range b {
		out = append(out, '%', digits[c>>4], digits[c&15])
	}
	return string(out)
}

// lowerEscapes spells %XX escapes in lower-case hex.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lowerHex(b[i+1])
			b[i+2] = lowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// JSON string escapes. An upstream may spell any character of the secret
// as a JSON escape: PHP's json_encode writes "/" as "\/" by default, others
// write "\u002d" for "-", in upper or lower hex, for any subset of the
// characters. Rather than one more pattern per spelling, matching decodes
// escapes as it goes: a pattern byte is matched by itself or by any escape
// that stands for it, and a match covers the escaped text in the original,
// so the whole spelling is replaced. Every form (raw, base64, URL, hex) is
// matched this way, so "\/" inside base64 and "\u0025" for a URL escape's
// "%" are seen too.

// matchStatus is how far a pattern matched at a position.
type matchStatus int

const (
	noMatch      matchStatus = iota
	fullMatch                // the pattern matched, ending at end
	partialMatch             // the input ended while the pattern still matched
)

// maxEscapeLen is the longest input a single pattern byte can take: a
// \uXXXX escape (a surrogate pair is 12 bytes for 4).
const maxEscapeLen = 6

// matchBudget caps the extra steps spent on one position: only a pattern
// with many backslashes met by many backslashes can branch at all.
const matchBudget = 1 << 14

// escapeAt decodes the JSON string escape starting at s[i] (a backslash):
// the UTF-8 bytes it stands for in dec[:dn] and its length n. ok is false
// when it is not a valid escape; partial is set when s ends inside what
// could still become one.
func escapeAt(s string, i int) (dec [4]byte, dn, n int, ok, partial bool) {
	if i+1 >= len(s) {
		return dec, 0, 0, false, true
	}
	switch c := s[i+1]; c {
	case '"', '\\', '/':
		dec[0] = c
		return dec, 1, 2, true, false
	case 'b':
		dec[0] = '\b'
		return dec, 1, 2, true, false
	case 'f':
		dec[0] = '\f'
		return dec, 1, 2, true, false
	case 'n':
		dec[0] = '\n'
		return dec, 1, 2, true, false
	case 'r':
		dec[0] = '\r'
		return dec, 1, 2, true, false
	case 't':
		dec[0] = '\t'
		return dec, 1, 2, true, false
	case 'u':
	default:
		return dec, 0, 0, false, false
	}
	r, complete, valid := hex4(s, i+2)
	if !valid {
		return dec, 0, 0, false, false
	}
	if !complete {
		return dec, 0, 0, false, true
	}
	n = 6
	if utf16.IsSurrogate(r) {
		if r >= 0xdc00 { // a low surrogate alone stands for nothing
			return dec, 0, 0, false, false
		}
		if i+6 >= len(s) || (s[i+6] == '\\' && i+7 >= len(s)) {
			return dec, 0, 0, false, true
		}
		if s[i+6] != '\\' || s[i+7] != 'u' {
			return dec, 0, 0, false, false
		}
		lo, complete, valid := hex4(s, i+8)
		if !valid {
			return dec, 0, 0, false, false
		}
		if !complete {
			return dec, 0, 0, false, true
		}
		if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
			return dec, 0, 0, false, false
		}
		n = 12
	}
	dn = utf8.EncodeRune(dec[:], r)
	return dec, dn, n, true, false
}

// hex4 reads four hex digits at s[i:]; complete is false when s ends first.
func hex4(s string, i int) (r rune, complete, valid bool) {
	for k := 0; k < 4; k++ {
		if i+k >= len(s) {
			return 0, false, true
		}
		c := s[i+k]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false, false
		}
		r = r<<4 | rune(d)
	}
	return r, true, true
}

// matchAt matches pattern p against s from i, each pattern byte by itself
// or by an escape that stands for it (and a backslash in p also by itself).
func matchAt(s string, i int, p string) (int, matchStatus) {
	budget := matchBudget + 4*len(p) // a straight match takes len(p) steps
	return matchFrom(s, i, p, 0, &budget)
}

func matchFrom(s string, i int, p string, j int, budget *int) (int, matchStatus) {
	for j < len(p) {
		if *budget--; *budget < 0 {
			return i, noMatch
		}
		if i >= len(s) {
			return i, partialMatch
		}
		if s[i] != '\\' {
			if s[i] != p[j] {
				return i, noMatch
			}
			i, j = i+1, j+1
			continue
		}
		dec, dn, n, ok, partial := escapeAt(s, i)
		if partial {
			return i, partialMatch
		}
		if ok && dn <= len(p)-j && string(dec[:dn]) == p[j:j+dn] {
			if p[j] != '\\' {
				i, j = i+n, j+dn
				continue
			}
			// "\\" may be an escaped backslash or a literal one: try both.
			if end, st := matchFrom(s, i+n, p, j+dn, budget); st != noMatch {
				return end, st
			}
		}
		if p[j] != '\\' {
			return i, noMatch
		}
		i, j = i+1, j+1
	}
	return i, fullMatch
}

// candidates are the patterns that may start at s[i], longest first: by
// the byte there, or by the first byte of the escape there.
func (sc *scrubber) candidates(s string, i int) (first, second []int) {
	first = sc.byFirst[s[i]]
	if s[i] == '\\' {
		if dec, dn, _, ok, _ := escapeAt(s, i); ok && dn > 0 && dec[0] != '\\' {
			second = sc.byFirst[dec[0]]
		}
	}
	return first, second
}

// longestAt returns the end of the longest pattern that matches at i; nb
// is the index of the first backslash at or after i (len(s) if none).
func (sc *scrubber) longestAt(s string, i, nb int) (int, bool) {
	first, second := sc.candidates(s, i)
	best, end := -1, 0
	for _, list := range [][]int{first, second} {
		for _, pi := range list {
			if best >= 0 && pi > best {
				break // patterns are longest first: nothing longer follows
			}
			p := sc.patterns[pi]
			// Fast path: byte for byte up to the first difference; only a
			// backslash at or before it can make an escaped spelling match.
			m := commonPrefix(s[i:], p)
			if m == len(p) {
				best, end = pi, i+m
				break
			}
			if nb > i+m {
				continue
			}
			if e, st := matchAt(s, i, p); st == fullMatch {
				best, end = pi, e
				break
			}
		}
	}
	return end, best >= 0
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for k := 0; k < n; k++ {
		if a[k] != b[k] {
			return k
		}
	}
	return n
}

// scrub replaces every occurrence of a pattern, in any JSON-escaped
// spelling (leftmost, then longest), with Marker and returns the result
// and the number of replacements.
func (sc *scrubber) scrub(s string) (string, int) {
	if sc == nil || len(sc.patterns) == 0 || s == "" {
		return s, 0
	}
	var b strings.Builder
	n, last, nb := 0, 0, -1
	for i := 0; i < len(s); i++ {
		if len(sc.byFirst[s[i]]) == 0 && s[i] != '\\' {
			continue
		}
		if nb < i {
			if k := strings.IndexByte(s[i:], '\\'); k >= 0 {
				nb = i + k
			} else {
				nb = len(s)
			}
		}
		end, ok := sc.longestAt(s, i, nb)
		if !ok {
			continue
		}
		if n == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(Marker)
		n++
		i = end - 1
		last = end
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// scrubName scrubs a header name (not safe for concurrent use). Go rewrites names to canonical case
// (X-Sk-Test-...), so names are compared without regard to case.
func (sc *scrubber) scrubName(name string) (string, int) {
	if sc == nil || len(sc.patterns) == 0 {
		return name, 0
	}
	if sc.lower == nil {
		seen := map[string]bool{}
		var lower []string
		for _, p := range sc.patterns {
			if l := strings.ToLower(p); !seen[l] {
				seen[l] = true
				lower = append(lower, l)
			}
		}
		sc.lower = fromPatterns(lower)
	}
	out, n := sc.lower.scrub(strings.ToLower(name))
	if n == 0 {
		return name, 0
	}
	return out, n
}

// trimPartial removes a tail of s that is the start of a pattern, in any
// spelling (an escape cut in the middle included): when a body is cut at
// the cap, the cut must not leave the first part of a secret.
func (sc *scrubber) trimPartial(s string) string {
	if sc == nil || len(sc.patterns) == 0 {
		return s
	}
	for k := max(0, len(s)-maxEscapeLen*sc.maxLen); k < len(s); k++ {
		first, second := sc.candidates(s, k)
		for _, list := range [][]int{first, second} {
			for _, pi := range list {
				if _, st := matchAt(s, k, sc.patterns[pi]); st == partialMatch {
					return s[:k]
				}
			}
		}
	}
	return s
}
