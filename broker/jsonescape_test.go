package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonUnescape decodes the text as a JSON string body would be read,
// left to right (invalid escapes are kept as they are): what a client
// parsing the response sees.
func jsonUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		dec, dn, n, ok, _ := escapeAt(s, i)
		if !ok {
			b.WriteByte(s[i])
			continue
		}
		b.Write(dec[:dn])
		i += n - 1
	}
	return b.String()
}

// escapeSome spells each character of s, with probability 1/2, as a JSON
// escape: \uXXXX in upper or lower hex (a surrogate pair beyond the BMP),
// or the short form where one exists ("\/", "\"", "\\", "\n"...). Characters
// JSON requires escaped always are.
func escapeSome(r *rand.Rand, s string) string {
	var b strings.Builder
	for _, c := range s {
		must := c == '"' || c == '\\' || c < 0x20
		if !must && r.IntN(2) == 0 {
			b.WriteRune(c)
			continue
		}
		short := map[rune]string{'/': `\/`, '"': `\"`, '\\': `\\`, '\n': `\n`, '\t': `\t`, '\r': `\r`, '\b': `\b`, '\f': `\f`}[c]
		if short != "" && r.IntN(2) == 0 {
			b.WriteString(short)
			continue
		}
		hex := "%04x"
		if r.IntN(2) == 0 {
			hex = "%04X"
		}
		if c > 0xffff {
			hi, lo := utf16.EncodeRune(c)
			fmt.Fprintf(&b, `\u`+hex+`\u`+hex, hi, lo)
		} else {
			fmt.Fprintf(&b, `\u`+hex, c)
		}
	}
	return b.String()
}

const secretAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/+=.:~!@#$%^&*()\"\\ é€😀\t"

func randomSecret(r *rand.Rand) string {
	alpha := []rune(secretAlphabet)
	n := 8 + r.IntN(40)
	out := make([]rune, n)
	for i := range out {
		out[i] = alpha[r.IntN(len(alpha))]
	}
	return string(out)
}

// TestScrubJSONEscapesProperty: for random secrets (slashes, quotes,
// backslashes, non-ASCII, emoji) and random per-character JSON escaping of
// the secret and of its base64 and URL forms, embedded in JSON-like text,
// no copy survives scrubbing, as read raw or as a JSON parser reads it; and
// a body cut anywhere inside an escaped copy does not end with its start.
func TestScrubJSONEscapesProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		secret := randomSecret(r)
		sec := []byte(secret)
		sc := newScrubber(sec)
		forms := []string{secret, base64.StdEncoding.EncodeToString(sec), base64.RawURLEncoding.EncodeToString(sec), url.QueryEscape(secret), url.PathEscape(secret)}
		form := forms[r.IntN(len(forms))]
		echoed := escapeSome(r, form)
		body := `{"echo":"` + escapeSome(r, "pre ") + echoed + `","n":1}`
		if r.IntN(2) == 0 {
			body = echoed + `\/` + escapeSome(r, secret) // two copies, back to back
		}
		out, n := sc.scrub(body)
		if n == 0 {
			t.Fatalf("secret %q: %q not redacted", secret, body)
		}
		for _, view := range []string{out, jsonUnescape(out)} {
			for _, f := range forms {
				if len(f) >= minDerived && strings.Contains(view, f) {
					t.Fatalf("secret %q: form %q survives in %q (body %q)", secret, f, view, body)
				}
			}
		}
		// Cut inside the escaped copy: the kept text must not end with a
		// part of the copy that says 4 or more bytes of it.
		start := strings.Index(body, echoed)
		cut := start + 1 + r.IntN(len(echoed)-1)
		res, _ := sc.scrub(body[:cut])
		res = sc.trimPartial(res)
		decoded := jsonUnescape(res)
		for _, f := range forms {
			for k := 4; k < len(f); k++ {
				if strings.HasSuffix(decoded, f[:k]) {
					t.Fatalf("secret %q: body cut at %d ends with %q, the start of %q (kept %q)", secret, cut, f[:k], f, res)
				}
			}
		}
	}
}

// TestScrubJSONEscapesExamples: the spellings the fresh-user trial found,
// and escapes that must not be confused for the secret.
func TestScrubJSONEscapesExamples(t *testing.T) {
	const key = "wJalrXUtnFEMI/K7MDENG/bPx+FAKE"
	const dash = "sk-test-FAKE0123456789"
	for _, c := range []struct {
		secret, body string
		want         int
	}{
		{key, `{"key":"wJalrXUtnFEMI\/K7MDENG\/bPx+FAKE"}`, 1},                         // PHP json_encode
		{key, `{"key":"wJalrXUtnFEMI\u002FK7MDENG\u002fbPx\u002BFAKE"}`, 1},            // upper/lower hex
		{dash, `{"k":"sk\u002dtest\u002dFAKE0123456789"}`, 1},                          // \u002d
		{dash, `{"k":"\u0073\u006b\u002D\u0074\u0065\u0073\u0074-FAKE0123456789"}`, 1}, // a prefix escaped
		{`p"a\ss/wörd!`, `{"k":"p\"a\\ss\/w\u00f6rd!"}`, 1},                            // quote, backslash, non-ASCII
		{`p"a\ss/wörd!`, `p"a\ss/wörd!`, 1},                                            // raw, backslash literal
		{"FAKE😀secret12", `"FAKE\ud83d\ude00secret12"`, 1},                             // surrogate pair
		{key, base64.StdEncoding.EncodeToString([]byte(key)), 1},
		{key, strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte("u:"+key)), "/", `\/`), 1}, // Basic in PHP JSON
		{key, strings.ReplaceAll(url.QueryEscape(key), "%", `\u0025`), 1},
		{dash, `sk\u002Dtest\u002dFAKE012345678`, 0},             // one byte short
		{dash, `sk\u002etest-FAKE0123456789`, 0},                 // another character
		{dash, `sk\x2dtest-FAKE0123456789`, 0},                   // not a JSON escape
		{dash, `sk\u002`, 0},                                     // truncated escape
		{dash, `\ud83d sk-test-FAKE0123456789 \ude00 \u12G4`, 1}, // broken escapes around a raw copy
	} {
		out, n := newScrubber([]byte(c.secret)).scrub(c.body)
		if n != c.want {
			t.Errorf("%q in %q: %d redactions, want %d (%q)", c.secret, c.body, n, c.want, out)
		}
		if c.want > 0 && strings.Contains(jsonUnescape(out), c.secret) {
			t.Errorf("%q survives in %q", c.secret, out)
		}
	}
}

// TestScrubsPHPStyleEcho is the trial's repro through Do: an upstream that
// echoes the key as PHP's json_encode writes it.
func TestScrubsPHPStyleEcho(t *testing.T) {
	const key = "wJalrXUtnFEMI/K7MDENG/bPx+FAKE"
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"php":"%s","dash":"%s","u":"%s"}`,
			strings.ReplaceAll(got, "/", `\/`), strings.ReplaceAll(got, "F", `\u0046`), strings.ReplaceAll(got, "K", `\u004b`))
	})
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: []byte(key), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Redacted != 3 || strings.Contains(jsonUnescape(resp.Body), key) || strings.Contains(resp.Body, "K7MDENG") {
		t.Fatalf("redacted %d: %s", resp.Redacted, resp.Body)
	}
	if !utf8.ValidString(resp.Body) {
		t.Fatal("body mangled")
	}
}

// TestScrubLongSecretEscaped: a long secret (a PEM key, newlines and all)
// escaped character by character is still found: the step budget grows
// with the pattern.
func TestScrubLongSecretEscaped(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("-----BEGIN FAKE KEY-----\n")
	for i := 0; i < 300; i++ {
		sb.WriteString("MIIEFAKEpAIBAAKCAQEA0123456789/+abcdefghijklmnopqrstuvwxyzABCDEF\n")
	}
	sb.WriteString("-----END FAKE KEY-----\n")
	secret := sb.String()
	var esc strings.Builder
	for _, c := range secret {
		fmt.Fprintf(&esc, `\u%04x`, c)
	}
	out, n := newScrubber([]byte(secret)).scrub(`{"k":"` + esc.String() + `"}`)
	if n != 1 || out != `{"k":"`+Marker+`"}` {
		t.Fatalf("%d redactions, %d bytes left", n, len(out))
	}
}
