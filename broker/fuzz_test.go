package broker

import (
	"encoding/base64"
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

// FuzzScrub: after scrubbing, no raw, base64 or URL-encoded copy of a
// secret remains, read raw or JSON-unescaped, whatever surrounds it (secrets of at least 8 bytes
// without the marker's brackets, so a marker cannot complete a copy); and
// a body cut at any point, scrubbed and trimmed as Do does, does not end
// with the first part of a copy of the secret that the cut split.
func FuzzScrub(f *testing.F) {
	f.Add("sk-test-FAKE0123456789", "x sk-test-FAKE0123456789 y c2stdGVzdC1GQUtFMDEyMzQ1Njc4OQ==", 20)
	f.Add("abcabcab", "abcabcabcabcab", 14)
	f.Add("p@ss w/rd+&=", "p%40ss+w%2Frd%2B%26%3D p%40ss%20w%2Frd+&=", 9)
	f.Add("wJalrXUtnFEMI/K7MDENG/bPx+FAKE", `{"k":"wJalrXUtnFEMI\/K7MDENG\/bPx\u002bFAKE"}`, 30)
	f.Add(`a\b"c/d-e\f`, `"a\\b\"c\/d\u002de\\\\f"`, 12)
	f.Fuzz(func(t *testing.T, secret, body string, cut int) {
		if len(secret) < 8 || strings.ContainsAny(secret, "[]") {
			return
		}
		sc := newScrubber([]byte(secret))
		out, n := sc.scrub(body)
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret)} {
			// as the bytes are, and as a JSON parser reads them
			if strings.Contains(out, form) || strings.Contains(jsonUnescape(out), form) {
				t.Fatalf("%q survives in %q", form, out)
			}
		}
		if n == 0 && out != body {
			t.Fatal("changed without counting")
		}
		if cut < 0 || cut > len(body) {
			return
		}
		res, _ := sc.scrub(body[:cut])
		res = sc.trimPartial(res)
		for i := max(0, cut-len(secret)+1); i < cut; i++ {
			if strings.HasPrefix(body[i:], secret) && cut-i >= 4 && strings.HasSuffix(res, body[i:cut]) {
				t.Fatalf("cut at %d of %q leaves %q at the end: %q", cut, body, body[i:cut], res)
			}
		}
	})
}
