package broker

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckURL checks that the host the matcher approves is the host every
// later step sees: Go's own URL parser on the caller's string, and the
// rebuilt URL the transport dials.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/v1", "https://api.example.com@evil.example/", "https://evil.example\\@api.example.com",
		"https://api.example.com./x", "https://API.EXAMPLE.COM:443", "http://127.0.0.1:8787/x", "https://[::1]:9000/",
		"https://%61pi.example.com/", "https://ａｐｉ．ｅｘａｍｐｌｅ．ｃｏｍ/", "https://2130706433/", "https://api.example.com#@evil",
		"https://api.example.com:8443?x=1", "https://[::ffff:127.0.0.1]/", "https:api.example.com",
	} {
		f.Add("api.example.com,http://127.0.0.1:8787,[::1]:9000", s)
	}
	f.Fuzz(func(t *testing.T, hosts, raw string) {
		list := strings.Split(hosts, ",")
		host, err := CheckURL(list, raw)
		if err != nil {
			return
		}
		tg, err := parseTarget(raw)
		if err != nil {
			t.Fatalf("CheckURL accepted %q but parseTarget refuses it: %v", raw, err)
		}
		if tg.origin.hostPort() != host {
			t.Fatalf("host %q != %q", host, tg.origin.hostPort())
		}
		u, err := url.Parse(raw)
		if err != nil || u.User != nil {
			t.Fatalf("accepted %q that Go reads differently: %v", raw, err)
		}
		if c, err := canonicalHost(u.Hostname()); err != nil || c != tg.origin.host {
			t.Fatalf("accepted %q: Go's hostname %q canonicalises to %q (%v), matcher saw %q", raw, u.Hostname(), c, err, tg.origin.host)
		}
		re, err := url.Parse(tg.url.String())
		if err != nil || re.Hostname() != tg.origin.host || re.User != nil || re.Scheme != tg.origin.scheme {
			t.Fatalf("rebuilt URL %q does not go to %v (%v)", tg.url.String(), tg.origin, err)
		}
		allowed, _ := allowedOrigins(list)
		if !match(allowed, tg) {
			t.Fatalf("accepted %q not in %v", raw, allowed)
		}
	})
}
