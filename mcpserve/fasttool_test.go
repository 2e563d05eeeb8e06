package mcpserve

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestOutputsMatchSchemas: every tool's structured result validates
// against the output schema it advertises (list_credentials and recall
// skip the SDK's per-call check, so it is made here), and the text copy is
// the same JSON.
func TestOutputsMatchSchemas(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.put("global/memory/m1", "memory", map[string]string{"text": "FAKE memo"}, map[string][]string{"tags": {"a"}})
	f.put("global/svc", "api_key", map[string]string{"value": fakeStripe, "service": "stripe", "expires": "2020-01-01"}, map[string][]string{"hosts": {"api.stripe.com"}})
	f.start(Options{})
	cs := f.connect(f.client("agent", []string{"*"}, true, true), nil)
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Resolved{}
	for _, tl := range tools.Tools {
		b, _ := json.Marshal(tl.OutputSchema)
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: output schema: %v", tl.Name, err)
		}
		r, err := s.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: %v", tl.Name, err)
		}
		schemas[tl.Name] = r
	}
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{ToolList, nil},
		{ToolList, map[string]any{"scope": "mcp:github"}},
		{ToolList, map[string]any{"type": "api_key"}},
		{ToolRecall, map[string]any{"query": "memo"}},
		{ToolRecall, nil},
		{ToolGet, map[string]any{"credential": "global/svc"}},
		{ToolRemember, map[string]any{"text": "FAKE x"}},
	} {
		res := call(t, cs, c.tool, c.args)
		if res.IsError {
			t.Fatalf("%s: %s", c.tool, text(res))
		}
		var structured any
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &structured)
		if err := schemas[c.tool].Validate(structured); err != nil {
			t.Errorf("%s %v: result does not match its output schema: %v", c.tool, c.args, err)
		}
		var fromText any
		if err := json.Unmarshal([]byte(text(res)), &fromText); err != nil {
			t.Fatalf("%s: text copy is not JSON: %v", c.tool, err)
		}
		tb, _ := json.Marshal(fromText)
		sb, _ := json.Marshal(structured)
		if string(tb) != string(sb) {
			t.Errorf("%s: text copy differs from the structured result", c.tool)
		}
	}
	// Arguments are still checked against the input schema.
	for _, args := range []map[string]any{{"evil": 1}, {"scope": 5}, {"type": []string{"x"}}} {
		for _, tool := range []string{ToolList, ToolRecall} {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
			if err == nil && !res.IsError {
				t.Errorf("%s accepted %v", tool, args)
			}
		}
	}
}
