package mcpserve

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// listing tools (list_credentials, recall) answer with large structured
// results. The SDK's typed handlers validate every result against the
// output schema at run time, which for 200 credentials costs as much as
// building them. The result is a Go value of the very type the schema is
// derived from, so the check cannot fail at run time; TestOutputsMatch
// Schemas checks it once, in tests, instead. Arguments are still validated
// against the input schema on every call, as the SDK does.

type toolSchemas struct {
	in, out *jsonschema.Schema
	inRes   *jsonschema.Resolved
}

var schemaCache sync.Map // reflect.Type of In/Out pair -> *toolSchemas

func schemasFor[In, Out any]() (*toolSchemas, error) {
	key := reflect.TypeFor[func(In) Out]()
	if v, ok := schemaCache.Load(key); ok {
		return v.(*toolSchemas), nil
	}
	in, err := jsonschema.For[In](&jsonschema.ForOptions{})
	if err != nil {
		return nil, err
	}
	out, err := jsonschema.For[Out](&jsonschema.ForOptions{})
	if err != nil {
		return nil, err
	}
	inRes, err := in.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		return nil, err
	}
	ts := &toolSchemas{in: in, out: out, inRes: inRes}
	schemaCache.Store(key, ts)
	return ts, nil
}

// addListingTool registers a tool whose result is encoded once: the
// structured content and its text copy (for clients that read only text)
// share one encoding.
func addListingTool[In, Out any](s *mcp.Server, t *mcp.Tool, h func(context.Context, *mcp.CallToolRequest, In) (*mcp.CallToolResult, Out, error)) {
	ts, err := schemasFor[In, Out]()
	if err != nil {
		panic(fmt.Sprintf("tool %s: %v", t.Name, err)) // the types are fixed: a bug, caught by every test
	}
	tt := *t
	tt.InputSchema, tt.OutputSchema = ts.in, ts.out
	s.AddTool(&tt, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in In
		if args := req.Params.Arguments; len(args) > 0 && string(args) != "null" {
			var raw map[string]any
			if err := json.Unmarshal(args, &raw); err != nil {
				return errorResult(fmt.Errorf("validating \"arguments\": %v", err)), nil
			}
			if err := ts.inRes.Validate(raw); err != nil {
				return errorResult(fmt.Errorf("validating \"arguments\": %v", err)), nil
			}
			if err := json.Unmarshal(args, &in); err != nil {
				return errorResult(err), nil
			}
		}
		_, out, err := h(ctx, req, in)
		if err != nil {
			return errorResult(err), nil
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("marshaling output: %w", err)
		}
		return &mcp.CallToolResult{
			StructuredContent: json.RawMessage(b),
			Content:           []mcp.Content{&mcp.TextContent{Text: string(b)}},
		}, nil
	})
}

func errorResult(err error) *mcp.CallToolResult {
	var r mcp.CallToolResult
	r.SetError(err)
	return &r
}
