package mcpconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tailscale/hujson"
)

// FuzzMerge feeds arbitrary config files to Load, Set and Remove: whatever
// is accepted must come out parseable (strict JSON staying strict), with
// tresor's server in place and every other top-level key unchanged.
func FuzzMerge(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"mcpServers": {"a": {"command": "a", "env": {"K": "v"}}}}`, "{\n  // c\n  \"servers\": {},\n}",
		`{"a": [1, {"b": null}], "mcpServers": {"x": 1 , "y": 2}}`, "{\"mcpServers\":{/*x*/\"a\":{}} // t\n}",
		`{"mcpServers": []}`, `[]`, `{"mcpServers": {"tresor": 5}}`, `{"mcpServers": {}, "mcpServers": {"a": {}}}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, src string, jsonc bool) {
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, jsonc)
		if err != nil {
			return
		}
		var before map[string]any
		if _, err := cfg.Decode(nil, &before); err != nil {
			return
		}
		if err := cfg.Set([]string{"mcpServers", "tresor"}, tresorEntry); err != nil {
			return
		}
		cfg.Remove([]string{"mcpServers", "a", "env", "K"})
		out := cfg.Bytes()
		if !jsonc && !json.Valid(out) {
			t.Fatalf("strict input %q became invalid JSON %q", src, out)
		}
		v, err := hujson.Parse(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		v.Standardize()
		var after map[string]any
		if err := json.Unmarshal(v.Pack(), &after); err != nil {
			t.Fatalf("output is not an object: %v", err)
		}
		for k, val := range before {
			if k != "mcpServers" && !reflect.DeepEqual(after[k], val) {
				t.Fatalf("key %q changed: %v -> %v", k, val, after[k])
			}
		}
		servers, _ := after["mcpServers"].(map[string]any)
		got, _ := json.Marshal(servers["tresor"])
		want, _ := json.Marshal(tresorEntry)
		if string(got) != string(want) {
			t.Fatalf("tresor server = %s", got)
		}
		if old, ok := before["mcpServers"].(map[string]any); ok {
			for name, s := range old {
				if name != "tresor" && name != "a" && !reflect.DeepEqual(servers[name], s) {
					t.Fatalf("server %q changed", name)
				}
			}
		}
	})
}
