package schemas

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Never is the rotate_every value that turns rotation off for an entry or type.
const Never = "never"

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName reports whether s can be an environment variable name.
func ValidEnvName(s string) bool { return envNameRe.MatchString(s) }

// Units of ParseDuration. A month is 30 days and a year 365 days: rotation
// periods are policies, not calendar arithmetic.
var durationUnits = map[byte]time.Duration{
	'h': time.Hour,
	'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
	'm': 30 * 24 * time.Hour,
	'y': 365 * 24 * time.Hour,
}

// ParseDuration parses a rotation period: a positive whole number and one
// unit, h (hours), d (days), w (weeks), m (months of 30 days) or y (years of
// 365 days), as in 36h, 90d, 12w, 6m, 1y. It does not accept "never"; callers
// that allow it compare with Never first.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("want a number and a unit, as in 90d, 12w, 6m, 1y or 36h")
	}
	unit, ok := durationUnits[s[len(s)-1]]
	digits := s[:len(s)-1]
	if !ok || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("want a number and a unit (h, d, w, m or y), as in 90d, 12w, 6m, 1y or 36h")
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("too long a period")
	}
	if n == 0 {
		return 0, fmt.Errorf("the period must be longer than zero")
	}
	return time.Duration(n) * unit, nil
}

// checkDuration accepts what a rotate_every field may hold: a period or never.
func checkDuration(s string) error {
	if s == Never {
		return nil
	}
	_, err := ParseDuration(s)
	return err
}

// checkHost accepts a host name, host:port, an IP address ([::1]:8080 with a
// port), or an origin http(s)://host[:port]. Paths, user info, whitespace and
// anything else that could widen where a key is sent are refused.
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	for _, r := range h {
		if r <= ' ' || r >= 0x7f {
			return errors.New("only ASCII without spaces or control characters (use punycode for international names)")
		}
	}
	rest := h
	if scheme, after, ok := strings.Cut(h, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return errors.New("an origin's scheme must be http or https")
		}
		rest = after
	}
	if strings.ContainsAny(rest, "/?#\\") {
		return errors.New("has a path or query; give a host or an origin (https://host:port)")
	}
	if strings.Contains(rest, "@") {
		return errors.New("has user info; give a host or an origin (https://host:port)")
	}
	host, port, bracketed := rest, "", false
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return errors.New("unclosed [ in an IPv6 address")
		}
		host, bracketed = rest[1:end], true
		if after := rest[end+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return errors.New("unexpected text after ]")
			}
			port = p
		}
	case strings.Count(rest, ":") > 1:
		if a, err := netip.ParseAddr(rest); err == nil && a.Zone() == "" && rest == h {
			return nil // a bare IPv6 address
		}
		return errors.New("an IPv6 address with a port or in an origin needs brackets, as in [::1]:8080")
	case strings.Contains(rest, ":"):
		host, port, _ = strings.Cut(rest, ":")
	}
	if port != "" || strings.HasSuffix(rest, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return errors.New("the port must be a number from 1 to 65535")
		}
	}
	a, err := netip.ParseAddr(host)
	switch {
	case bracketed && (err != nil || !a.Is6() || a.Zone() != ""):
		return errors.New("not an IPv6 address inside [ ]")
	case bracketed:
		return nil
	case err == nil && a.Is4():
		return nil
	case !validDNSName(host):
		return errors.New("not a host name, host:port, IP address or origin")
	}
	return nil
}

// validDNSName accepts letters, digits, - and _ in dot-separated labels of
// 1 to 63 characters, at most 253 in all, whose last label is not numeric
// (so a mistyped IPv4 address is not taken for a name).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// checkURL accepts an absolute URL with a scheme and a host. The error never
// quotes the URL, which may hold a password.
func checkURL(s string, https bool) error {
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme == "", u.Host == "":
		msg := "not a URL with a scheme and a host"
		if strings.Contains(s, "@") {
			msg += " (percent-encode characters such as @ # / ? in the user name or password)"
		}
		return errors.New(msg)
	case https && u.Scheme != "https":
		return errors.New("must be an https URL")
	}
	return nil
}

// checkLine accepts one line of valid UTF-8 without control characters other
// than tab.
func checkLine(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < ' ' && r != '\t' || r == 0x7f {
			return errors.New("must be one line without control characters")
		}
	}
	return nil
}

// checkText accepts valid UTF-8 text without NUL bytes.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8 text (store binary data in a bytes field, such as a file entry's content)")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("text must not contain NUL bytes")
	}
	return nil
}

// ParseAuth parses an auth field: "bearer" (Authorization: Bearer KEY),
// "header NAME" (NAME: KEY), "header NAME PREFIX" (NAME: PREFIX KEY) or
// "query NAME" (?NAME=KEY).
func ParseAuth(s string) (Auth, error) {
	words := strings.Fields(s)
	var a Auth
	switch {
	case len(words) == 1 && words[0] == "bearer":
		a = Auth{Header: "Authorization", Prefix: "Bearer "}
	case len(words) == 2 && words[0] == "header":
		a = Auth{Header: words[1]}
	case len(words) == 3 && words[0] == "header":
		a = Auth{Header: words[1], Prefix: words[2] + " "}
	case len(words) == 2 && words[0] == "query":
		a = Auth{Query: words[1]}
	default:
		return Auth{}, errors.New(`want "bearer", "header NAME", "header NAME PREFIX" or "query NAME"`)
	}
	if err := a.check(); err != nil {
		return Auth{}, err
	}
	return a, nil
}

// String spells a in the form ParseAuth reads; "" for the zero Auth.
func (a Auth) String() string {
	switch {
	case a.Query != "":
		return "query " + a.Query
	case a.Header == "Authorization" && a.Prefix == "Bearer ":
		return "bearer"
	case a.Header != "" && a.Prefix != "":
		return "header " + a.Header + " " + strings.TrimSuffix(a.Prefix, " ")
	case a.Header != "":
		return "header " + a.Header
	}
	return ""
}

var (
	headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	queryNameRe  = regexp.MustCompile(`^[A-Za-z0-9_.~-]+$`)
)

// check accepts a header (a valid header name and an optional printable
// prefix), a query parameter, or nothing.
func (a Auth) check() error {
	switch {
	case a.Header != "" && a.Query != "":
		return errors.New("a key goes in a header or a query parameter, not both")
	case a.Header != "" && !headerNameRe.MatchString(a.Header):
		return errors.New("not a valid HTTP header name")
	case a.Query != "" && !queryNameRe.MatchString(a.Query):
		return errors.New("not a valid query parameter name")
	case a.Prefix != "" && a.Header == "":
		return errors.New("a prefix needs a header")
	case checkLine(a.Prefix) != nil || strings.ContainsRune(a.Prefix, '\t'):
		return errors.New("the prefix must be printable text")
	}
	return nil
}

// literalPrefixes returns strings such that every match of the anchored
// pattern starts with one of them ("" among them when some match may start
// with anything). They let a value be matched to the most specific service.
func literalPrefixes(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return []string{""}
	}
	p, _ := prefixesOf(re.Simplify())
	return p
}

// prefixesOf returns the prefixes of re's matches, and whether each prefix is
// the whole match (so what follows re can extend it).
func prefixesOf(re *syntax.Regexp) (prefixes []string, complete bool) {
	const maxSet = 64
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return []string{""}, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpBeginText, syntax.OpBeginLine, syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCapture:
		return prefixesOf(re.Sub[0])
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) == 8 {
					return []string{""}, false
				}
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpAlternate:
		complete = true
		for _, sub := range re.Sub {
			p, c := prefixesOf(sub)
			prefixes = append(prefixes, p...)
			complete = complete && c
		}
		if len(prefixes) > maxSet {
			return []string{""}, false
		}
		return prefixes, complete
	case syntax.OpConcat:
		prefixes = []string{""}
		for _, sub := range re.Sub {
			p, c := prefixesOf(sub)
			if len(prefixes)*len(p) > maxSet {
				return prefixes, false
			}
			var next []string
			for _, a := range prefixes {
				for _, b := range p {
					next = append(next, a+b)
				}
			}
			prefixes = next
			if !c {
				return prefixes, false
			}
		}
		return prefixes, true
	}
	return []string{""}, false
}
