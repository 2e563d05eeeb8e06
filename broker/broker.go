// Package broker makes an authenticated HTTP call on an agent's behalf, so
// the credential never reaches the agent: the rules of http_request in
// SPEC §8.
//
// A Credential goes only to the origins its entry lists (exact match after
// canonicalising the URL; https unless an http:// origin is listed), in one
// fixed header or query parameter the caller cannot set. The address is
// checked when the connection is dialled, after DNS: loopback, private,
// link-local and other special addresses are refused unless the entry lists
// that IP address itself. Redirects are returned, never followed. Every form
// of the secret is scrubbed from the returned status, headers and body, and
// from errors. The package knows nothing of MCP, grants or logging: the
// caller checks grants and logs Response.Host.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/tresor-dev/tresor/schemas"
)

// Defaults for Options.
const (
	DefaultMaxBody        = 1 << 20
	DefaultMaxRequestBody = 1 << 20
	DefaultTimeout        = 30 * time.Second
	maxHeaderBytes        = 64 << 10
	maxHeaders            = 64      // caller headers per request
	maxHeaderValue        = 8 << 10 // bytes per caller header value
)

// Credential is the secret to inject and the rules that come with its entry.
type Credential struct {
	Ref    string       // the entry's reference, for messages
	Secret []byte       // the value to inject
	Hosts  []string     // the entry's hosts: names, host:port, IPs, or http(s) origins
	Auth   schemas.Auth // header (+prefix) or query parameter
}

// Request is what the agent asks for. Headers may not name the credential's
// header, Host, hop-by-hop or encoding headers.
type Request struct {
	Method  string
	URL     string
	Headers map[string]string
	Body    string
}

// Response is what the agent gets back, scrubbed of the secret.
type Response struct {
	Status    int
	Headers   map[string]string // canonical names; several values joined with ", "
	Body      string            // UTF-8 text, or base64 when Encoding is "base64"
	Encoding  string            // "" for text, "base64" when the body is not UTF-8
	Truncated bool              // the body was longer than the cap and was cut
	Redacted  int               // how many forms of the secret were replaced by Marker
	Host      string            // destination host[:port], for the read log
}

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Broker. The zero value is production-ready.
type Options struct {
	MaxBody        int64         // response body cap (default 1 MiB)
	MaxRequestBody int64         // request body cap (default 1 MiB)
	Timeout        time.Duration // whole call, including reading the body (default 30 s)
	Resolver       Resolver      // default net.DefaultResolver
	RootCAs        *x509.CertPool
	Now            func() time.Time // for OAuth expiry (default time.Now)

	// PublicAddrs are addresses treated as public although they are not,
	// so tests can serve a public-looking name from a loopback httptest
	// server. Never set it outside tests.
	PublicAddrs []netip.Prefix
}

// Broker makes brokered calls. It is safe for concurrent use.
type Broker struct {
	opts   Options
	client *http.Client
}

type ctxKey struct{}

// dialPolicy travels in the request context to the dialer: which
// non-public addresses this one request may reach.
type dialPolicy struct {
	explicit netip.Addr // the listed IP literal the URL names, if any
	loopback bool       // the URL names localhost, listed explicitly
}

// New returns a Broker.
func New(opts Options) *Broker {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxRequestBody <= 0 {
		opts.MaxRequestBody = DefaultMaxRequestBody
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Broker{opts: opts}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: b.control}
	tr := &http.Transport{
		Proxy: nil, // never hand the secret to an environment-chosen proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.dial(ctx, dialer, network, addr)
		},
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		MaxIdleConns:           32,
		IdleConnTimeout:        60 * time.Second,
	}
	b.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return b
}

// Close drops idle connections.
func (b *Broker) Close() { b.client.CloseIdleConnections() }

// forbidden are headers the caller may never set: the transport or the
// broker owns them, or they could carry or redirect a credential.
var forbidden = map[string]bool{
	"Host": true, "Connection": true, "Keep-Alive": true, "Proxy-Authorization": true,
	"Proxy-Authenticate": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Accept-Encoding": true,
	"Expect": true, "Http2-Settings": true,
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Do makes req with c's secret injected and returns the scrubbed response.
// Errors are one line and never contain the secret.
func (b *Broker) Do(ctx context.Context, c Credential, req Request) (*Response, error) {
	resp, err := b.do(ctx, c, req)
	if err != nil {
		msg, _ := newScrubber(c.Secret).scrub(oneLine(err))
		if c.Ref != "" {
			msg = c.Ref + ": " + msg
		}
		return nil, errors.New(msg)
	}
	return resp, nil
}

func (b *Broker) do(ctx context.Context, c Credential, req Request) (*Response, error) {
	if len(c.Secret) == 0 {
		return nil, errors.New("the credential has no value")
	}
	if (c.Auth.Header == "") == (c.Auth.Query == "") {
		return nil, errors.New("the credential's auth must name one header or one query parameter")
	}
	allowed, err := allowedOrigins(c.Hosts)
	if err != nil {
		return nil, err
	}
	t, err := parseTarget(req.URL)
	if err != nil {
		return nil, err
	}
	if !match(allowed, t) {
		return nil, notAllowed(allowed, t)
	}
	method := strings.ToUpper(cmpOr(req.Method, "GET"))
	if !slices.Contains(methods, method) {
		return nil, fmt.Errorf("method %q is not allowed (one of %s)", req.Method, strings.Join(methods, ", "))
	}
	if int64(len(req.Body)) > b.opts.MaxRequestBody {
		return nil, fmt.Errorf("request body is %d bytes, over the limit of %d", len(req.Body), b.opts.MaxRequestBody)
	}
	sc := newScrubber(c.Secret)

	if q := c.Auth.Query; q != "" {
		if err := checkQuery(t.url.RawQuery, q); err != nil {
			return nil, err
		}
		if t.url.RawQuery != "" {
			t.url.RawQuery += "&"
		}
		t.url.RawQuery += url.QueryEscape(q) + "=" + url.QueryEscape(string(c.Secret))
	}

	policy := dialPolicy{}
	if ip, ok := t.origin.ip(); ok {
		policy.explicit = ip
	} else if isLocalhost(t.origin.host) {
		policy.loopback = true
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, ctxKey{}, policy), b.opts.Timeout)
	defer cancel()

	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, t.url.String(), body)
	if err != nil {
		return nil, errors.New("cannot build the request")
	}
	if len(req.Headers) > maxHeaders {
		return nil, fmt.Errorf("%d request headers, over the limit of %d", len(req.Headers), maxHeaders)
	}
	for k, v := range req.Headers {
		if len(v) > maxHeaderValue {
			return nil, fmt.Errorf("a request header value is over %d bytes", maxHeaderValue)
		}
		name := http.CanonicalHeaderKey(strings.TrimSpace(k))
		if err := checkHeader(name, v, c.Auth); err != nil {
			return nil, err
		}
		hreq.Header.Set(name, v)
	}
	if h := c.Auth.Header; h != "" {
		hreq.Header.Set(h, c.Auth.Prefix+string(c.Secret))
	}

	hresp, err := b.client.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may carry the secret
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s did not answer within %s", t.origin.hostPort(), b.opts.Timeout)
		}
		return nil, fmt.Errorf("request to %s failed: %v", t.origin.hostPort(), err)
	}
	defer hresp.Body.Close()

	out := &Response{Status: hresp.StatusCode, Headers: map[string]string{}, Host: t.origin.hostPort()}
	for k, vs := range hresp.Header {
		name, n1 := sc.scrubName(k)
		val, n2 := sc.scrub(strings.Join(vs, ", "))
		out.Headers[name] = val
		out.Redacted += n1 + n2
	}
	if ce := hresp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// Go decodes gzip it asked for and drops the header; anything
		// left is an encoding the scrubber cannot see through.
		return nil, fmt.Errorf("%s answered with Content-Encoding %q, which cannot be checked for the secret", t.origin.hostPort(), ce)
	}
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, b.opts.MaxBody+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s did not send the whole body within %s", t.origin.hostPort(), b.opts.Timeout)
		}
		return nil, fmt.Errorf("reading the body from %s: %v", t.origin.hostPort(), err)
	}
	text := string(raw)
	if int64(len(raw)) > b.opts.MaxBody {
		out.Truncated, text = true, text[:b.opts.MaxBody]
	}
	text, n := sc.scrub(text)
	out.Redacted += n
	if out.Truncated {
		// after scrubbing, so a whole copy just before the cut is
		// replaced rather than half-trimmed
		text = sc.trimPartial(text)
	}
	if utf8.ValidString(text) {
		out.Body = text
	} else {
		out.Body, out.Encoding = encodeBase64([]byte(text)), "base64"
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func isLocalhost(h string) bool { return h == "localhost" || strings.HasSuffix(h, ".localhost") }

// checkHeader refuses a caller header that is malformed, owned by the
// transport, or the one that carries the credential.
func checkHeader(name, value string, a schemas.Auth) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r)
	}) {
		return fmt.Errorf("header name %q is not valid", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %s has a line break or NUL in its value", name)
	}
	if a.Header != "" && strings.EqualFold(name, a.Header) {
		return fmt.Errorf("header %s carries the credential and cannot be set by the caller", name)
	}
	if forbidden[name] || strings.HasPrefix(name, "Proxy-") {
		return fmt.Errorf("header %s cannot be set by the caller", name)
	}
	return nil
}

// checkQuery refuses a query that already names the credential's parameter,
// spelled in any case or escaping a server might decode to it.
func checkQuery(raw, param string) error {
	for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		if strings.EqualFold(strings.TrimSpace(dk), param) || strings.EqualFold(k, param) {
			return fmt.Errorf("query parameter %s carries the credential and cannot be set by the caller", param)
		}
	}
	return nil
}

// dial resolves the host itself, checks every address against the request's
// policy, and connects to a checked address by IP, so DNS cannot answer
// differently between the check and the connection (rebinding).
func (b *Broker) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	policy, _ := ctx.Value(ctxKey{}).(dialPolicy)
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if isLocalhost(host) {
		addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	} else {
		addrs, err = b.opts.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve %s", host)
		}
	}
	var refused netip.Addr
	var lastErr error
	for _, a := range addrs {
		if !b.allowedAddr(a, policy) {
			refused = a
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if refused.IsValid() {
		return nil, fmt.Errorf("%s resolves to %s, a private, loopback or reserved address; list that address in the entry's hosts to allow it", host, refused)
	}
	return nil, fmt.Errorf("%s has no address", host)
}

// control re-checks the address the socket is about to connect to.
func (b *Broker) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %s", address)
	}
	policy, _ := ctx.Value(ctxKey{}).(dialPolicy)
	if !b.allowedAddr(ap.Addr(), policy) {
		return fmt.Errorf("refusing to connect to %s: not a public address", ap.Addr())
	}
	return nil
}

func (b *Broker) allowedAddr(a netip.Addr, p dialPolicy) bool {
	a = a.Unmap()
	if isPublic(a) {
		return true
	}
	if p.explicit.IsValid() && a == p.explicit.Unmap() {
		return true
	}
	if p.loopback && a.IsLoopback() {
		return true
	}
	for _, pre := range b.opts.PublicAddrs {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
