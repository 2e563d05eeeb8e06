package broker

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
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

// scrub replaces every occurrence of a pattern (leftmost, then longest) with
// Marker and returns the result and the number of replacements.
func (sc *scrubber) scrub(s string) (string, int) {
	if sc == nil || len(sc.patterns) == 0 || s == "" {
		return s, 0
	}
	var b strings.Builder
	n, last := 0, 0
	for i := 0; i < len(s); i++ {
		cands := sc.byFirst[s[i]]
		if len(cands) == 0 {
			continue
		}
		for _, pi := range cands {
			p := sc.patterns[pi]
			if strings.HasPrefix(s[i:], p) {
				if n == 0 {
					b.Grow(len(s))
				}
				b.WriteString(s[last:i])
				b.WriteString(Marker)
				n++
				i += len(p) - 1
				last = i + 1
				break
			}
		}
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

// trimPartial removes a tail of s that is the start of a pattern: when a
// body is cut at the cap, the cut must not leave the first half of a secret.
func (sc *scrubber) trimPartial(s string) string {
	for k := min(len(s), sc.maxLen-1); k > 0; k-- {
		tail := s[len(s)-k:]
		for _, pi := range sc.byFirst[tail[0]] {
			if p := sc.patterns[pi]; len(p) > k && strings.HasPrefix(p, tail) {
				return s[:len(s)-k]
			}
		}
	}
	return s
}
