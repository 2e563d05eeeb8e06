package broker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// origin is where a request may go: scheme, canonical host and port. Two
// origins are the same destination exactly when they are equal.
type origin struct {
	scheme string // "https" or "http"
	host   string // lower-case ASCII name without trailing dot, or canonical IP
	port   int
}

func (o origin) String() string {
	return o.scheme + "://" + o.hostPort()
}

// hostPort is the host with its port when it is not the scheme's default:
// what goes in the request's Host header and in the read log.
func (o origin) hostPort() string {
	h := o.host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if o.port == defaultPort(o.scheme) {
		return h
	}
	return h + ":" + strconv.Itoa(o.port)
}

// dialAddr is the host:port the transport dials.
func (o origin) dialAddr() string { return net.JoinHostPort(o.host, strconv.Itoa(o.port)) }

// ip returns the host as an address when it is an IP literal.
func (o origin) ip() (netip.Addr, bool) {
	a, err := netip.ParseAddr(o.host)
	return a, err == nil
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// parseListed reads one item of an entry's hosts: a host name, host:port, an
// IP address ([v6]:port with a port), or an origin http(s)://host[:port].
// A bare host means https on port 443; plain http is only ever an explicit
// http:// origin.
func parseListed(item string) (origin, error) {
	if item == "" {
		return origin{}, errors.New("empty host")
	}
	if strings.ContainsAny(item, "/?#@\\%") && !strings.Contains(item, "://") {
		return origin{}, fmt.Errorf("host %q has a path, user info or escapes", item)
	}
	o := origin{scheme: "https"}
	rest := item
	if scheme, after, ok := strings.Cut(item, "://"); ok {
		scheme = strings.ToLower(scheme)
		if scheme != "http" && scheme != "https" {
			return origin{}, fmt.Errorf("host %q: scheme must be http or https", item)
		}
		o.scheme, rest = scheme, strings.TrimSuffix(after, "/")
	}
	if strings.ContainsAny(rest, "/?#@\\%") {
		return origin{}, fmt.Errorf("host %q has a path, user info or escapes", item)
	}
	host, port := rest, ""
	if a, err := netip.ParseAddr(rest); err == nil && a.Is6() {
		host = rest // a bare IPv6 address
	} else if strings.HasPrefix(rest, "[") || strings.Contains(rest, ":") {
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			if !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
				return origin{}, fmt.Errorf("host %q: %v", item, oneLine(err))
			}
			h = rest[1 : len(rest)-1]
		} else if strings.HasPrefix(rest, "[") {
			if _, err := netip.ParseAddr(h); err != nil || !strings.Contains(h, ":") {
				return origin{}, fmt.Errorf("host %q: not an IPv6 address inside [ ]", item)
			}
		}
		host, port = h, p
	}
	var err error
	if o.host, err = canonicalHost(host); err != nil {
		return origin{}, fmt.Errorf("host %q: %v", item, err)
	}
	if o.port, err = parsePort(port, o.scheme); err != nil {
		return origin{}, fmt.Errorf("host %q: %v", item, err)
	}
	return o, nil
}

func parsePort(p, scheme string) (int, error) {
	if p == "" {
		return defaultPort(scheme), nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.TrimLeft(p, "0123456789") != "" {
		return 0, errors.New("the port must be a number from 1 to 65535")
	}
	return n, nil
}

// lookup maps a host name to its ASCII (punycode) form, lower case, with the
// lookup-time mappings of UTS #46 (full-width dots and letters become ASCII).
var lookup = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.StrictDomainName(false))

// canonicalHost returns the one spelling of a host that matching compares:
// an IP address in its canonical form (no zone), or a DNS name in lower-case
// ASCII without a trailing dot. Numeric names that some resolvers read as
// IPv4 addresses (127.1, 0x7f.1, 2130706433) are refused: they are not names.
func canonicalHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", errors.New("an IPv6 zone is not allowed")
		}
		return a.String(), nil
	}
	if strings.ContainsAny(h, "[]:%") {
		return "", errors.New("not a host name or IP address")
	}
	name := strings.TrimSuffix(h, ".")
	ascii, err := lookup.ToASCII(name)
	if err != nil {
		return "", errors.New("not a valid host name")
	}
	ascii = strings.ToLower(ascii)
	if ascii == "" || len(ascii) > 253 {
		return "", errors.New("not a valid host name")
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", errors.New("not a valid host name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("not a valid host name")
			}
		}
	}
	if endsInNumber(labels[len(labels)-1]) {
		return "", errors.New("a numeric host that is not a plain IP address (write the address as a.b.c.d)")
	}
	return ascii, nil
}

// endsInNumber says whether the last label is a number (decimal, or 0x hex),
// which the WHATWG URL parser and inet_aton would read as part of an IPv4
// address.
func endsInNumber(label string) bool {
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(label, "0123456789") == ""
}

// maxURL caps a request URL (servers commonly stop at 8 KiB).
const maxURL = 16 << 10

// target is a request URL after checking: the origin it goes to and the URL
// rebuilt from canonical parts.
type target struct {
	origin origin
	url    *url.URL
}

// parseTarget checks a caller's URL and rebuilds it from canonical parts, so
// that the host matched is the host dialled. It refuses everything a URL
// parser might read two ways: user info, backslashes, spaces and control
// characters, percent-escapes in the host, opaque URLs, schemes other than
// http(s), IPv6 zones and numeric pseudo-addresses.
func parseTarget(raw string) (target, error) {
	if raw == "" {
		return target{}, errors.New("empty URL")
	}
	if len(raw) > maxURL {
		return target{}, fmt.Errorf("URL is %d bytes, over the limit of %d", len(raw), maxURL)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return target{}, errors.New("URL contains a space, control character or backslash")
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, errors.New("URL must be absolute: https://host/path")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "https" && scheme != "http" {
		return target{}, fmt.Errorf("scheme %q is not allowed (https only)", scheme)
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	switch {
	case strings.Contains(authority, "@"):
		return target{}, errors.New("URL has user info (user@host); it is not allowed")
	case strings.Contains(authority, "%"):
		return target{}, errors.New("URL host contains a percent-escape")
	case authority == "":
		return target{}, errors.New("URL has no host")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, errors.New("URL does not parse")
	}
	if u.Opaque != "" || u.User != nil || u.Host != authority {
		return target{}, errors.New("URL does not parse unambiguously")
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return target{}, errors.New("URL host has an unclosed [")
		}
		host = authority[1:end]
		if after := authority[end+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return target{}, errors.New("URL host has text after ]")
			}
			port = p
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return target{}, errors.New("URL host is not an IPv6 address inside [ ]")
		}
	} else if h, p, ok := strings.Cut(authority, ":"); ok {
		host, port = h, p
		if port == "" {
			return target{}, errors.New("URL has an empty port")
		}
	}
	var o origin
	o.scheme = scheme
	if o.host, err = canonicalHost(host); err != nil {
		return target{}, fmt.Errorf("URL host: %v", err)
	}
	if o.port, err = parsePort(port, scheme); err != nil {
		return target{}, fmt.Errorf("URL: %v", err)
	}
	out := &url.URL{
		Scheme:   scheme,
		Host:     o.hostPort(),
		Path:     u.Path,
		RawPath:  u.RawPath,
		RawQuery: u.RawQuery,
	}
	if out.Path != "" && !strings.HasPrefix(out.Path, "/") {
		return target{}, errors.New("URL path must start with /")
	}
	return target{origin: o, url: out}, nil
}

// allowedOrigins parses an entry's hosts. An item that does not parse is an
// error naming it: an entry with a bad host is refused whole, never served
// with the rest.
func allowedOrigins(hosts []string) ([]origin, error) {
	if len(hosts) == 0 {
		return nil, errors.New("the entry lists no hosts it may be sent to (set its hosts field)")
	}
	out := make([]origin, 0, len(hosts))
	for _, h := range hosts {
		o, err := parseListed(strings.TrimSpace(h))
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// match finds the request's origin among the allowed ones. Nothing is
// matched loosely: no subdomains, no default-port guessing beyond the
// scheme's own, no http for a name listed without http://.
func match(allowed []origin, t target) bool {
	for _, o := range allowed {
		if o == t.origin {
			return true
		}
	}
	return false
}

// CheckURL reports whether rawURL may be sent a credential whose entry lists
// hosts, and returns the destination as it would be logged. It applies the
// same parsing and matching as Do, without any network access.
func CheckURL(hosts []string, rawURL string) (string, error) {
	allowed, err := allowedOrigins(hosts)
	if err != nil {
		return "", err
	}
	t, err := parseTarget(rawURL)
	if err != nil {
		return "", err
	}
	if !match(allowed, t) {
		return "", notAllowed(allowed, t)
	}
	return t.origin.hostPort(), nil
}

func notAllowed(allowed []origin, t target) error {
	names := make([]string, len(allowed))
	for i, o := range allowed {
		names[i] = o.String()
	}
	if t.origin.scheme == "http" {
		for _, o := range allowed {
			if o.host == t.origin.host && o.scheme == "https" {
				return fmt.Errorf("plain http to %s is not allowed: https only, unless the entry lists http://%s explicitly", t.origin.hostPort(), t.origin.hostPort())
			}
		}
	}
	return fmt.Errorf("host %s is not among the entry's hosts (%s)", t.origin.String(), strings.Join(names, ", "))
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.ReplaceAll(err.Error(), "\n", " "), "\r", " ")
}
