package broker

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/schemas"
)

const secret = "sk-test-FAKE0123456789abcdefghij"

var bearer = schemas.Auth{Header: "Authorization", Prefix: "Bearer "}

// fakeResolver answers from a map; every other name fails.
type fakeResolver struct {
	mu    sync.Mutex
	addrs map[string][]string
	calls int
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _ string, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	list, ok := f.addrs[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range list {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// upstream is an httptest server that records every request it gets,
// whole, as bytes on the wire would show it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	dump []string
}

func newUpstream(t testing.TB, tls bool, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := httputil.DumpRequest(r, true)
		u.mu.Lock()
		u.reqs = append(u.reqs, r)
		u.dump = append(u.dump, string(d))
		u.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	})
	if tls {
		u.Server = httptest.NewTLSServer(wrapped)
	} else {
		u.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) port() string {
	_, p, _ := net.SplitHostPort(u.Listener.Addr().String())
	return p
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(u.Certificate())
	return p
}

// testBroker trusts u's certificate, resolves names through res, and treats
// loopback as public when public is set (so a name can be served by u).
func testBroker(u *upstream, res *fakeResolver, public bool, mod ...func(*Options)) *Broker {
	o := Options{Resolver: res}
	if u != nil && u.Certificate() != nil {
		o.RootCAs = u.pool()
	}
	if public {
		o.PublicAddrs = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
	for _, m := range mod {
		m(&o)
	}
	b := New(o)
	return b
}

func loopbackName(names ...string) *fakeResolver {
	r := &fakeResolver{addrs: map[string][]string{}}
	for _, n := range names {
		r.addrs[n] = []string{"127.0.0.1"}
	}
	return r
}

func noSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret)} {
		if strings.Contains(s, form) {
			t.Fatalf("%s contains the secret: %q", what, s)
		}
	}
}

func TestInjectsHeader(t *testing.T) {
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.URL.RequestURI())
		fmt.Fprint(w, `{"ok":true}`)
	})
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Ref: "global/openai", Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	resp, err := b.Do(context.Background(), c, Request{
		Method: "post", URL: "https://API.example.com:" + u.port() + "/v1/chat?x=1&y=%2F",
		Headers: map[string]string{"Content-Type": "application/json", "x-trace": "abc"}, Body: `{"q":1}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := u.last()
	if got := r.Header.Get("Authorization"); got != "Bearer "+secret {
		t.Errorf("Authorization = %q", got)
	}
	if r.Method != "POST" || r.URL.RequestURI() != "/v1/chat?x=1&y=%2F" || r.Host != "api.example.com:"+u.port() || r.Header.Get("X-Trace") != "abc" {
		t.Errorf("upstream saw %s %s Host %s", r.Method, r.URL.RequestURI(), r.Host)
	}
	if resp.Status != 200 || resp.Body != `{"ok":true}` || resp.Redacted != 0 || resp.Host != "api.example.com:"+u.port() || resp.Truncated {
		t.Errorf("response = %+v", resp)
	}
	if resp.Headers["X-Seen"] != "/v1/chat?x=1&y=%2F" {
		t.Errorf("headers = %v", resp.Headers)
	}
}

func TestInjectsHeaderWithCustomName(t *testing.T) {
	u := newUpstream(t, true, nil)
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: schemas.Auth{Header: "x-api-key"}}
	if _, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"}); err != nil {
		t.Fatal(err)
	}
	if got := u.last().Header.Get("X-Api-Key"); got != secret {
		t.Errorf("x-api-key = %q", got)
	}
	if got := u.last().Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
}

func TestInjectsQueryParameter(t *testing.T) {
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "you sent ", r.URL.RawQuery) // an upstream that echoes the key
	})
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: []byte(secret + "+/="), Hosts: []string{"api.example.com:" + u.port()}, Auth: schemas.Auth{Query: "key"}}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/v1?model=x#frag"})
	if err != nil {
		t.Fatal(err)
	}
	q := u.last().URL.Query()
	if q.Get("key") != secret+"+/=" || q.Get("model") != "x" || len(q["key"]) != 1 {
		t.Errorf("upstream query = %v", q)
	}
	if resp.Body != "you sent model=x&key="+Marker || resp.Redacted != 1 {
		t.Errorf("body = %q, redacted %d", resp.Body, resp.Redacted)
	}
	for _, trick := range []string{"?key=x", "?KEY=x", "?k%65y=x", "?a=1&key", "?a=1;key=2", "?%20key=1"} {
		_, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/v1" + trick})
		if err == nil || !strings.Contains(err.Error(), "carries the credential") {
			t.Errorf("query %s: err = %v", trick, err)
		}
	}
}

func TestCallerCannotSetOwnedHeaders(t *testing.T) {
	u := newUpstream(t, true, nil)
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	for _, h := range []string{"Authorization", "authorization", " AUTHORIZATION ", "Host", "Connection", "Transfer-Encoding",
		"Content-Length", "Accept-Encoding", "Proxy-Authorization", "Proxy-Anything", "Upgrade", "TE", "Keep-Alive", "Bad Header", "X:y", ""} {
		_, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/", Headers: map[string]string{h: "evil.example.org"}})
		if err == nil {
			t.Errorf("header %q was accepted", h)
		}
	}
	_, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/", Headers: map[string]string{"X-A": "a\r\nAuthorization: x"}})
	if err == nil {
		t.Error("header value with CRLF was accepted")
	}
	q := Credential{Secret: []byte(secret), Hosts: c.Hosts, Auth: schemas.Auth{Query: "key"}}
	if _, err := b.Do(context.Background(), q, Request{URL: "https://api.example.com:" + u.port() + "/", Headers: map[string]string{"Authorization": "Bearer mine"}}); err != nil {
		t.Errorf("Authorization for a query-param credential: %v", err)
	}
	if u.count() != 1 {
		t.Errorf("upstream got %d requests, want only the allowed one", u.count())
	}
	if _, err := b.Do(context.Background(), c, Request{Method: "CONNECT", URL: "https://api.example.com:" + u.port() + "/"}); err == nil {
		t.Error("CONNECT was accepted")
	}
	if _, err := b.Do(context.Background(), c, Request{Method: "TRACE", URL: "https://api.example.com:" + u.port() + "/"}); err == nil {
		t.Error("TRACE was accepted")
	}
}

func TestHTTPSOnlyUnlessOriginListed(t *testing.T) {
	u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "dev") })
	addr := "127.0.0.1:" + u.port()
	c := Credential{Secret: []byte(secret), Auth: bearer}
	b := testBroker(nil, loopbackName(), false)

	c.Hosts = []string{"http://" + addr}
	resp, err := b.Do(context.Background(), c, Request{URL: "http://" + addr + "/x"})
	if err != nil || resp.Body != "dev" {
		t.Fatalf("listed http origin: %v, %+v", err, resp)
	}
	for _, hosts := range [][]string{{addr}, {"https://" + addr}, {"127.0.0.1"}} {
		c.Hosts = hosts
		_, err := b.Do(context.Background(), c, Request{URL: "http://" + addr + "/x"})
		if err == nil {
			t.Errorf("hosts %v: plain http was allowed", hosts)
		}
	}
	if u.count() != 1 {
		t.Errorf("upstream got %d requests, want 1", u.count())
	}
}

func TestPrivateAddressesRefusedUnlessListed(t *testing.T) {
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "inside") })
	p := u.port()
	res := &fakeResolver{addrs: map[string][]string{
		"api.example.com":      {"127.0.0.1"},           // DNS rebinding: a public name pointing inside
		"mapped.example.com":   {"::ffff:127.0.0.1"},    // the same, IPv4-mapped
		"metadata.example.com": {"169.254.169.254"},     // cloud metadata
		"lan.example.com":      {"10.0.0.7", "fd00::7"}, // private ranges
		"zero.example.com":     {"0.0.0.0"},
		"v6.example.com":       {"::1"},
		"localhost.example":    {"127.0.0.1"},
	}}
	b := testBroker(u, res, false)
	for name := range res.addrs {
		c := Credential{Secret: []byte(secret), Hosts: []string{name + ":" + p}, Auth: bearer}
		_, err := b.Do(context.Background(), c, Request{URL: "https://" + name + ":" + p + "/"})
		if err == nil || !strings.Contains(err.Error(), "private, loopback or reserved") {
			t.Errorf("%s: err = %v", name, err)
		}
		if err != nil {
			noSecret(t, "error", err.Error())
		}
	}
	// The IP literal listed explicitly is allowed; a name is not, even
	// when the IP literal is listed too.
	c := Credential{Secret: []byte(secret), Hosts: []string{"https://127.0.0.1:" + p, "api.example.com:" + p}, Auth: bearer}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://127.0.0.1:" + p + "/"})
	if err != nil || resp.Body != "inside" {
		t.Fatalf("listed loopback address: %v", err)
	}
	if _, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + p + "/"}); err == nil {
		t.Error("a name resolving to a listed private IP was allowed")
	}
	if u.count() != 1 {
		t.Errorf("upstream got %d requests, want 1", u.count())
	}
	// localhost listed by name reaches loopback without asking DNS.
	dev := newUpstream(t, false, nil)
	before := res.calls
	c.Hosts = []string{"http://localhost:" + dev.port()}
	if _, err := b.Do(context.Background(), c, Request{URL: "http://localhost:" + dev.port() + "/"}); err != nil {
		t.Errorf("listed localhost: %v", err)
	}
	if res.calls != before {
		t.Error("localhost was looked up in DNS")
	}
	if dev.count() != 1 {
		t.Errorf("dev server got %d requests, want 1", dev.count())
	}
}

// Only an address that passed the check is dialled: a resolver answering a
// private address next to an allowed one never gets the private one used.
func TestDialsOnlyCheckedAddresses(t *testing.T) {
	u := newUpstream(t, true, nil)
	res := &fakeResolver{addrs: map[string][]string{"api.example.com": {"127.0.0.1", "127.0.0.2"}}}
	b := testBroker(u, res, false, func(o *Options) {
		o.PublicAddrs = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")} // "public", nothing listens there
	})
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	_, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v, want connection refused at 127.0.0.2", err)
	}
	if u.count() != 0 {
		t.Error("the private address was dialled")
	}
}

func TestControlRechecksAddress(t *testing.T) {
	b := New(Options{})
	ctx := context.WithValue(context.Background(), ctxKey{}, dialPolicy{})
	for _, a := range []string{"127.0.0.1:443", "[::ffff:10.0.0.1]:443", "[fe80::1]:80", "bogus"} {
		if err := b.control(ctx, "tcp", a, nil); err == nil {
			t.Errorf("control(%s) allowed", a)
		}
	}
	if err := b.control(ctx, "tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("control(public) = %v", err)
	}
	ctx = context.WithValue(context.Background(), ctxKey{}, dialPolicy{explicit: netip.MustParseAddr("10.0.0.1")})
	if err := b.control(ctx, "tcp", "10.0.0.1:443", nil); err != nil {
		t.Errorf("control(listed) = %v", err)
	}
}

func TestRedirectsReturnedNotFollowed(t *testing.T) {
	other := newUpstream(t, true, nil)
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		// A hostile or confused upstream bounces the caller, key and all.
		w.Header().Set("Location", "https://evil.example.org:"+other.port()+"/steal?k="+url.QueryEscape(r.Header.Get("Authorization")))
		w.WriteHeader(http.StatusFound)
	})
	b := testBroker(u, loopbackName("api.example.com", "evil.example.org"), true)
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 302 || !strings.HasPrefix(resp.Headers["Location"], "https://evil.example.org:") || resp.Redacted != 1 {
		t.Errorf("response = %+v", resp)
	}
	noSecret(t, "Location", resp.Headers["Location"])
	if other.count() != 0 {
		t.Error("the redirect was followed")
	}
}

func TestScrubsEchoedSecret(t *testing.T) {
	sec := []byte(secret)
	forms := []string{
		secret,
		base64.StdEncoding.EncodeToString(sec),
		base64.URLEncoding.EncodeToString(sec),
		base64.RawStdEncoding.EncodeToString(sec),
		base64.RawURLEncoding.EncodeToString(sec),
		base64.StdEncoding.EncodeToString([]byte("user:" + secret)), // a Basic credential
		base64.StdEncoding.EncodeToString([]byte("ab" + secret + "cd")),
		url.QueryEscape(secret + " /"),
		strings.ToLower(escapeAll(sec)),
		fmt.Sprintf("%x", sec),
	}
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.Header().Set("X-"+secret, "name")
		w.Header().Add("Set-Cookie", "a="+base64.RawURLEncoding.EncodeToString(sec))
		w.WriteHeader(201)
		fmt.Fprintln(w, strings.Join(forms, "\n"))
	})
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: sec, Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	all := resp.Body
	for k, v := range resp.Headers {
		all += k + ": " + v + "\n"
	}
	for _, f := range forms[:5] {
		if strings.Contains(all, f) {
			t.Errorf("form %q survived", f)
		}
	}
	// the shifted base64 forms: no 12-char run of the secret's encoding
	// may survive at any alignment
	for shift := 0; shift < 3; shift++ {
		core := base64Core(base64.RawStdEncoding, sec, shift)
		if strings.Contains(all, core) {
			t.Errorf("base64 at shift %d survived", shift)
		}
	}
	noSecret(t, "response", all)
	if strings.Contains(all, strings.ToLower(escapeAll(sec))) || strings.Contains(all, fmt.Sprintf("%x", sec)) {
		t.Error("escaped or hex form survived")
	}
	if want := len(forms) + 3; resp.Redacted != want {
		t.Errorf("Redacted = %d, want %d; body:\n%s", resp.Redacted, want, resp.Body)
	}
	if resp.Status != 201 {
		t.Errorf("status %d", resp.Status)
	}
}

func TestBodyCapDoesNotLeaveHalfASecret(t *testing.T) {
	const cap = 1000
	for cut := 1; cut < len(secret); cut += 7 {
		body := strings.Repeat("a", cap-cut) + secret + strings.Repeat("b", 3000)
		u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
		b := testBroker(u, loopbackName("api.example.com"), true, func(o *Options) { o.MaxBody = cap })
		c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
		resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Truncated || len(resp.Body) > cap {
			t.Errorf("cut %d: truncated %v, %d bytes", cut, resp.Truncated, len(resp.Body))
		}
		if strings.Contains(resp.Body, secret[:cut]) {
			t.Errorf("cut %d: the first %d bytes of the secret are in the body", cut, cut)
		}
	}
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", cap)) })
	b := testBroker(u, loopbackName("api.example.com"), true, func(o *Options) { o.MaxBody = cap })
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err != nil || resp.Truncated || len(resp.Body) != cap {
		t.Errorf("exactly at the cap: %v truncated=%v len=%d", err, resp.Truncated, len(resp.Body))
	}
}

func TestRequestBodyCapAndBinary(t *testing.T) {
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0xff, 0xfe, 0, 1}) })
	b := testBroker(u, loopbackName("api.example.com"), true, func(o *Options) { o.MaxRequestBody = 10 })
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	_, err := b.Do(context.Background(), c, Request{Method: "POST", URL: "https://api.example.com:" + u.port() + "/", Body: "12345678901"})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("err = %v", err)
	}
	if u.count() != 0 {
		t.Error("an oversized body was sent")
	}
	resp, err := b.Do(context.Background(), c, Request{Method: "POST", URL: "https://api.example.com:" + u.port() + "/", Body: "1234567890"})
	if err != nil || resp.Encoding != "base64" || resp.Body != "//4AAQ==" {
		t.Errorf("binary body: %v %+v", err, resp)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { <-release }) // never answers in time
	t.Cleanup(func() { close(release) })                                                  // runs before the server closes
	b := testBroker(u, loopbackName("api.example.com"), true, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	_, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorsNeverCarryTheSecret(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	b := New(Options{})
	c := Credential{Ref: "global/gemini", Secret: []byte(secret), Hosts: []string{"http://" + addr}, Auth: schemas.Auth{Query: "key"}}
	_, err = b.Do(context.Background(), c, Request{URL: "http://" + addr + "/v1"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	noSecret(t, "error", msg)
	if strings.ContainsAny(msg, "\r\n") || !strings.HasPrefix(msg, "global/gemini: ") {
		t.Errorf("error = %q", msg)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Error("the url.Error (with the keyed URL) is still wrapped")
	}
	for _, bad := range []Credential{
		{Secret: nil, Hosts: []string{"h.example"}, Auth: bearer},
		{Secret: []byte(secret), Hosts: []string{"h.example"}},
		{Secret: []byte(secret), Hosts: []string{"h.example"}, Auth: schemas.Auth{Header: "A", Query: "b"}},
		{Secret: []byte(secret), Auth: bearer},
	} {
		if _, err := b.Do(context.Background(), bad, Request{URL: "https://h.example/"}); err == nil {
			t.Errorf("credential %+v accepted", bad.Auth)
		}
	}
}

func TestUnscrubbableEncodingRefused(t *testing.T) {
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		w.Write([]byte{1, 2, 3})
	})
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	_, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
	if err == nil || !strings.Contains(err.Error(), "Content-Encoding") {
		t.Errorf("err = %v", err)
	}
	// gzip that Go asked for is decoded, then scrubbed.
	g := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Error("transport did not ask for gzip")
		}
		io.WriteString(w, secret)
	})
	b = testBroker(g, loopbackName("api.example.com"), true)
	c.Hosts = []string{"api.example.com:" + g.port()}
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + g.port() + "/"})
	if err != nil || resp.Body != Marker {
		t.Errorf("%v %+v", err, resp)
	}
}

func TestHeaderLimitsAndConcurrency(t *testing.T) {
	u := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Header.Get("Authorization")) })
	b := testBroker(u, loopbackName("api.example.com"), true)
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
	many := map[string]string{}
	for i := 0; i <= maxHeaders; i++ {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	if _, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/", Headers: many}); err == nil {
		t.Error("too many headers accepted")
	}
	if _, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/", Headers: map[string]string{"X": strings.Repeat("a", maxHeaderValue+1)}}); err == nil {
		t.Error("huge header accepted")
	}
	// many calls at once, with different credentials on one Broker: each
	// gets its own key and its own scrubbing
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec := fmt.Sprintf("sk-test-FAKE-%02d-0123456789abcdef", i)
			c := Credential{Secret: []byte(sec), Hosts: []string{"api.example.com:" + u.port()}, Auth: bearer}
			resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + u.port() + "/"})
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Body != "Bearer "+Marker || resp.Redacted != 1 {
				t.Errorf("call %d: body %q", i, resp.Body)
			}
		}()
	}
	wg.Wait()
}
