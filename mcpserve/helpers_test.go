package mcpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fixture is a real vault on disk with a real identity, registry and log.
type fixture struct {
	t      testing.TB
	dir    string
	idPath string
	v      *repo.Vault
	kr     *codec.Keyring
	reg    *access.Registry
	log    *access.Log
	stderr *syncBuffer
	svc    *Service
	proto  string // protocol version the test clients ask for
}

var author = gitdb.Signature{Name: "Test User", Email: "test@example.test"}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := t.TempDir()
	kr, err := codec.GenerateIdentity(filepath.Join(root, "identity"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := repo.Init(filepath.Join(root, "vault"), repo.InitOptions{
		Options:   repo.Options{Device: "box"},
		Recipient: kr.Recipient,
		Member:    "tester",
		Author:    author,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	l, err := access.Open(v.StateDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: v.Dir, idPath: kr.Path, v: v, kr: kr, reg: access.OpenRegistry(v.StateDir()), log: l, stderr: &syncBuffer{}, proto: "2025-11-25"}
}

// put writes one entry as one commit, as `tresor set` would.
func (f *fixture) put(ref, typ string, fields map[string]string, lists map[string][]string) {
	f.t.Helper()
	r, err := repo.ParseRef(ref)
	if err != nil {
		f.t.Fatal(err)
	}
	e := schemas.NewEntry(typ)
	for k, v := range fields {
		e.Set(k, v)
	}
	for k, v := range lists {
		e.SetList(k, v)
	}
	p, err := f.v.Prepare([]repo.Put{{Ref: r, Entry: e}})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.v.Commit(context.Background(), p, repo.Message{Op: "set", Entries: []string{ref}, Type: typ, ValueChanged: true}, author); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) client(name string, scopes []string, reveal, write bool) string {
	f.t.Helper()
	tok, err := f.reg.Add(name, scopes, reveal, write, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// start builds the service over the vault as it is now.
func (f *fixture) start(o Options) *Service {
	f.t.Helper()
	o.Vault, o.Registry, o.Log, o.Stderr = f.v, f.reg, f.log, f.stderr
	if o.Keyring == nil && o.KeyErr == nil {
		o.Keyring = f.kr
	}
	if o.Debounce == 0 {
		o.Debounce = 20 * time.Millisecond
	}
	s, err := New(o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	f.svc = s
	return s
}

// connect opens an SDK client session on the client's server, in memory.
func (f *fixture) connect(token string, co *mcp.ClientOptions) *mcp.ClientSession {
	f.t.Helper()
	srv, err := f.svc.ServerFor(token)
	if err != nil {
		f.t.Fatal(err)
	}
	st, ct := mcp.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { ss.Close() })
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0"}, co)
	// The protocol revision today's clients speak (Claude Code, Cursor,
	// VS Code); TestModernProtocol covers 2026-07-28.
	cs, err := c.Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: f.proto})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { cs.Close() })
	return cs
}

// call invokes a tool; protocol errors fail the test.
func call(t testing.TB, cs *mcp.ClientSession, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	return res
}

// text is the result's text content.
func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// ok checks a tool call succeeded and decodes its structured content.
func ok[T any](t testing.TB, res *mcp.CallToolResult) T {
	t.Helper()
	var out T
	if res.IsError {
		t.Fatalf("tool error: %s", text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	// The text copy says the same.
	var fromText T
	if err := json.Unmarshal([]byte(text(res)), &fromText); err != nil {
		t.Fatalf("text content is not the JSON result: %v", err)
	}
	return out
}

// refused checks a tool call is an isError result with a one-line reason
// that mentions each word.
func refused(t testing.TB, res *mcp.CallToolResult, mentions ...string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want isError, got %s", text(res))
	}
	msg := text(res)
	if strings.Contains(msg, "\n") || msg == "" {
		t.Fatalf("reason should be one line: %q", msg)
	}
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			t.Fatalf("reason %q should mention %q", msg, m)
		}
	}
}

// records returns the read log's records for a client.
func (f *fixture) records(client string) []access.Record {
	f.t.Helper()
	recs, err := f.log.Records(access.Filter{Client: client})
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

// lastCommit returns HEAD's message, through the git CLI.
func (f *fixture) lastCommit() string {
	f.t.Helper()
	out, err := exec.Command("git", "-C", f.dir, "log", "-1", "--format=%B").Output()
	if err != nil {
		f.t.Fatal(err)
	}
	return string(out)
}

// waitFor receives from ch or fails after a generous deadline (the
// deadline only bounds a failing test; nothing is timed).
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

func mustRef(t testing.TB, s string) repo.Ref {
	t.Helper()
	r, err := repo.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
