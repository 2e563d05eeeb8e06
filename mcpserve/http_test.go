package mcpserve

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds a token to every request, as an MCP client's config would.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func httpFixture(t *testing.T) (*fixture, *httptest.Server) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	srv.Config.Handler = f.svc.HTTPHandler(port)
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv
}

func httpConnect(t *testing.T, url, token string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "http-client", Version: "0"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}}, MaxRetries: -1}
	return c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
}

func TestHTTPServesEachClientItsOwnView(t *testing.T) {
	f, srv := httpFixture(t)
	merc, err := httpConnect(t, srv.URL+HTTPPath, f.client("merc", []string{fakeProject}, true, false))
	if err != nil {
		t.Fatal(err)
	}
	defer merc.Close()
	glob, err := httpConnect(t, srv.URL+HTTPPath, f.client("glob", []string{"global"}, false, false))
	if err != nil {
		t.Fatal(err)
	}
	defer glob.Close()
	out := ok[ListOut](t, call(t, merc, ToolList, nil))
	if len(out.Credentials) != 2 || !strings.HasPrefix(out.Credentials[0].Ref, "projects/mercury/") {
		t.Fatalf("merc over http: %+v", out)
	}
	out = ok[ListOut](t, call(t, glob, ToolList, nil))
	if len(out.Credentials) != 1 || out.Credentials[0].Ref != "global/github" {
		t.Fatalf("glob over http: %+v", out)
	}
	if got := ok[GetOut](t, call(t, merc, ToolGet, map[string]any{"credential": "projects/mercury/openai"})); got.Value != fakeOpenAI {
		t.Fatal("reveal over http")
	}
	refused(t, call(t, glob, ToolGet, map[string]any{"credential": "github"}), "no reveal grant")

	// Revoked while connected: the next request's token is refused (401),
	// so the call fails; nothing is served.
	if err := f.reg.Revoke("glob", f.svc.opt.Clock()); err != nil {
		t.Fatal(err)
	}
	if res, err := glob.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolList}); err == nil && !res.IsError {
		t.Fatalf("revoked client served over http: %s", text(res))
	}
}

// raw posts one JSON-RPC initialize with the given headers.
func raw(t *testing.T, url string, hdr map[string]string) (int, string) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPAuthOriginAndHost(t *testing.T) {
	f, srv := httpFixture(t)
	tok := f.client("agent", []string{"global"}, false, false)
	revoked := f.client("gone", []string{"global"}, false, false)
	f.reg.Revoke("gone", f.svc.opt.Clock())
	url := srv.URL + HTTPPath
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"valid token", map[string]string{"Authorization": "Bearer " + tok}, 200},
		{"no token", nil, 401},
		{"unknown token", map[string]string{"Authorization": "Bearer tresor_" + strings.Repeat("a", 52)}, 401},
		{"revoked token", map[string]string{"Authorization": "Bearer " + revoked}, 401},
		{"basic auth is not a bearer token", map[string]string{"Authorization": "Basic " + tok}, 401},
		{"foreign origin", map[string]string{"Authorization": "Bearer " + tok, "Origin": "http://evil.example"}, 403},
		{"https origin of loopback", map[string]string{"Authorization": "Bearer " + tok, "Origin": "https://127.0.0.1:" + port}, 403},
		{"other port origin", map[string]string{"Authorization": "Bearer " + tok, "Origin": "http://127.0.0.1:1"}, 403},
		{"same origin", map[string]string{"Authorization": "Bearer " + tok, "Origin": "http://127.0.0.1:" + port}, 200},
		{"localhost origin", map[string]string{"Authorization": "Bearer " + tok, "Origin": "http://localhost:" + port}, 200},
		{"null origin", map[string]string{"Authorization": "Bearer " + tok, "Origin": "null"}, 403},
		{"cross-site fetch", map[string]string{"Authorization": "Bearer " + tok, "Sec-Fetch-Site": "cross-site"}, 403},
		{"rebinding host", map[string]string{"Authorization": "Bearer " + tok, "Host": "evil.example:" + port}, 403},
		{"host without port", map[string]string{"Authorization": "Bearer " + tok, "Host": "127.0.0.1"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(t, url, tc.hdr)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%s)", code, tc.want, body)
			}
			if strings.Contains(body, tok) {
				t.Fatal("response echoes the token")
			}
		})
	}
	if code, _ := raw(t, srv.URL+"/other", map[string]string{"Authorization": "Bearer " + tok}); code != 404 {
		t.Fatalf("only /mcp is served: %d", code)
	}
}

// A session started by one client cannot be used with another client's
// token: the SDK binds it to TokenInfo.UserID.
func TestHTTPSessionBoundToClient(t *testing.T) {
	f, srv := httpFixture(t)
	a := f.client("a", []string{"global"}, true, false)
	b := f.client("b", []string{"global"}, false, false)
	url := srv.URL + HTTPPath
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+a)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("no session id")
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_credential","arguments":{"credential":"github"}}}`
	req, _ = http.NewRequest("POST", url, strings.NewReader(call))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+b)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(got), fakeGlobal) {
		t.Fatalf("session of a used with b's token: %d %s", resp.StatusCode, got)
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, good := range map[string]bool{
		"127.0.0.1:8765": true, "[::1]:8765": true, "localhost:0": true, "127.1.2.3:80": true,
		"0.0.0.0:8765": false, ":8765": false, "192.168.1.2:80": false, "example.com:80": false, "127.0.0.1": false, "": false,
	} {
		if err := CheckLoopback(addr); (err == nil) != good {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
}
