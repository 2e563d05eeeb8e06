package mcpconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tailscale/hujson"
)

var tresorEntry = map[string]any{"command": "/usr/bin/tresor", "args": []string{"mcp", "serve"}}

// TestMerge writes tresor's server into real files of every shape an app
// or a person leaves behind, and checks the result byte for byte.
func TestMerge(t *testing.T) {
	tests := []struct {
		name  string
		jsonc bool
		in    string // "" = no file
		path  []string
		want  string
	}{
		{"new file", false, "", []string{"mcpServers", "tresor"}, `{
  "mcpServers": {
    "tresor": {
      "args": [
        "mcp",
        "serve"
      ],
      "command": "/usr/bin/tresor"
    }
  }
}
`},
		{"empty file", false, "\n", []string{"mcpServers", "tresor"}, `{
  "mcpServers": {
    "tresor": {
      "args": [
        "mcp",
        "serve"
      ],
      "command": "/usr/bin/tresor"
    }
  }
}
`},
		{"other servers and keys kept, four-space indent", false, `{
    "z-first": 1,
    "mcpServers": {
        "github": {"command": "npx", "args": ["-y", "gh"]}
    },
    "after": [1, 2.50, "x\u00e9"]
}
`, []string{"mcpServers", "tresor"}, `{
    "z-first": 1,
    "mcpServers": {
        "github": {"command": "npx", "args": ["-y", "gh"]},
        "tresor": {
            "args": [
                "mcp",
                "serve"
            ],
            "command": "/usr/bin/tresor"
        }
    },
    "after": [1, 2.50, "x\u00e9"]
}
`},
		{"tabs", false, "{\n\t\"mcpServers\": {}\n}\n", []string{"mcpServers", "tresor"}, "{\n\t\"mcpServers\": {\n\t\t\"tresor\": {\n\t\t\t\"args\": [\n\t\t\t\t\"mcp\",\n\t\t\t\t\"serve\"\n\t\t\t],\n\t\t\t\"command\": \"/usr/bin/tresor\"\n\t\t}\n\t}\n}\n"},
		{"replace an existing tresor server", false, `{
  "mcpServers": {
    "tresor": {"command": "/old/tresor", "args": ["old"]},
    "b": {"command": "b"}
  }
}
`, []string{"mcpServers", "tresor"}, `{
  "mcpServers": {
    "tresor": {
      "args": [
        "mcp",
        "serve"
      ],
      "command": "/usr/bin/tresor"
    },
    "b": {"command": "b"}
  }
}
`},
		{"compact one line", false, `{"a":1,"mcpServers":{"x":{"command":"x"}}}`, []string{"mcpServers", "tresor"}, `{"a":1,"mcpServers":{"x":{"command":"x"},
    "tresor": {
      "args": [
        "mcp",
        "serve"
      ],
      "command": "/usr/bin/tresor"
    }}}
`},
		{"claude-code local: project path with slashes", false, `{
  "projects": {
    "/home/u/other": {"mcpServers": {}}
  }
}
`, []string{"projects", "/home/u/app", "mcpServers", "tresor"}, `{
  "projects": {
    "/home/u/other": {"mcpServers": {}},
    "/home/u/app": {
      "mcpServers": {
        "tresor": {
          "args": [
            "mcp",
            "serve"
          ],
          "command": "/usr/bin/tresor"
        }
      }
    }
  }
}
`},
		{"vscode jsonc: comments and trailing commas kept", true, `{
  // servers I use
  "servers": {
    /* block */ "a": {"command": "a"}, // after a
  },
}
`, []string{"servers", "tresor"}, `{
  // servers I use
  "servers": {
    /* block */ "a": {"command": "a"}, // after a
    "tresor": {
      "args": [
        "mcp",
        "serve"
      ],
      "command": "/usr/bin/tresor"
    },
  },
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "cfg.json")
			if tt.in != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(tt.in), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Load(path, tt.jsonc)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Set(tt.path, tresorEntry); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if !tt.jsonc && !json.Valid(got) {
				t.Error("result is not valid JSON")
			}
			if _, err := hujson.Parse(got); err != nil {
				t.Error(err)
			}
			st, _ := os.Stat(path)
			wantMode := os.FileMode(0o640)
			if tt.in == "" {
				wantMode = 0o600
				if d, _ := os.Stat(filepath.Dir(path)); d.Mode().Perm() != 0o700 {
					t.Errorf("new directory mode %v", d.Mode().Perm())
				}
			}
			if st.Mode().Perm() != wantMode {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), wantMode)
			}
		})
	}
}

func TestRemoveKeepsStrictJSON(t *testing.T) {
	tests := []struct {
		in, want string
		path     []string
		jsonc    bool
	}{
		{`{"env": {"A": "1", "B": "2"}}`, `{"env": {"A": "1"}}`, []string{"env", "B"}, false},
		{`{"env": {"A": "1" , "B": "2"}}`, `{"env": {"A": "1" }}`, []string{"env", "B"}, false},
		{`{"env": {"A": "1", "B": "2"}}`, `{"env": { "B": "2"}}`, []string{"env", "A"}, false},
		{`{"env": {"A": "1"}}`, `{"env": {}}`, []string{"env", "A"}, false},
		{`{"env": {"A": "1"}}`, `{"env": {"A": "1"}}`, []string{"env", "missing"}, false},
		{`{"env": {"A": "1"}}`, `{"env": {"A": "1"}}`, []string{"nothing", "here"}, false},
		{"{\"env\": {\"A\": \"1\", \"B\": \"2\",}}", "{\"env\": {\"A\": \"1\",}}", []string{"env", "B"}, true},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(path, []byte(tt.in), 0o600)
		f, err := Load(path, tt.jsonc)
		if err != nil {
			t.Fatal(err)
		}
		f.Remove(tt.path)
		got := strings.TrimSuffix(string(f.Bytes()), "\n")
		if got != tt.want {
			t.Errorf("Remove(%v) on %s = %s, want %s", tt.path, tt.in, got, tt.want)
		}
		if !tt.jsonc && !json.Valid([]byte(got)) {
			t.Errorf("Remove(%v) on %s: invalid JSON %s", tt.path, tt.in, got)
		}
	}
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte("{\n  \"inputs\": [\n    {\"id\": \"a\"},\n  ],\n}\n"), 0o600)
	f, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Append([]string{"inputs"}, map[string]string{"id": "b"}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"inputs\": [\n    {\"id\": \"a\"},\n    {\n      \"id\": \"b\"\n    },\n  ],\n}\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := f.Append([]string{"x"}, 1); err != nil {
		t.Fatal(err)
	}
	var doc struct{ X []int }
	if _, err := f.Decode(nil, &doc); err != nil || len(doc.X) != 1 {
		t.Errorf("new array: %v %v", doc, err)
	}
	os.WriteFile(path, []byte(`{"inputs": 3}`), 0o600)
	f, _ = Load(path, false)
	if err := f.Append([]string{"inputs"}, 1); err == nil {
		t.Error("appended to a number")
	}
}

// TestRefusals: a file tresor cannot merge safely is never written.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	tests := []struct {
		name, path, want string
		jsonc            bool
	}{
		{"trailing comma in strict JSON", write("a.json", `{"mcpServers": {"x": 1,}}`), "not valid JSON (line 1", false},
		{"comments in strict JSON", write("b.json", "{\n// hi\n}"), "not valid JSON (line 2", false},
		{"truncated", write("c.json", `{"mcpServers": {"x": `), "not valid JSON", false},
		{"truncated JSONC", write("d.json", `{"servers": {`), "not valid JSON with comments", true},
		{"array at top", write("e.json", `[]`), "top level is not a JSON object", false},
		{"string at top", write("f.json", `"x"`), "top level is not a JSON object", true},
		{"directory", dir, "not a regular file", false},
		{"deep strict", write("i.json", strings.Repeat("[", 100000)), "not valid JSON", false},
		{"deep JSONC", write("j.json", "{\"a\": "+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+"}"), "nested more than 1000 levels", true},
		{"duplicate server map", write("g.json", `{"mcpServers": {}, "mcpServers": {"x": {}}}`), `key "mcpServers" appears twice`, false},
		{"duplicate deep", write("h.json", `{"a": [{"b": 1, "b": 2}]}`), `key "b" appears twice`, true},
	}
	for _, tt := range tests {
		before, _ := os.ReadFile(tt.path)
		_, err := Load(tt.path, tt.jsonc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		after, _ := os.ReadFile(tt.path)
		if string(before) != string(after) {
			t.Errorf("%s: file changed", tt.name)
		}
	}

	// symlink: refused at Load, and at Save if it appears in between
	real := write("real.json", `{}`)
	link := filepath.Join(dir, "link.json")
	os.Symlink(real, link)
	if _, err := Load(link, false); err == nil || !strings.Contains(err.Error(), "is a symlink (to "+real+")") {
		t.Errorf("symlink: %v", err)
	}
	p := write("swap.json", `{}`)
	f, err := Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	os.Symlink(real, p)
	f.Set([]string{"mcpServers", "tresor"}, tresorEntry)
	if err := f.Save(); err == nil || !strings.Contains(err.Error(), "became a symlink") {
		t.Errorf("swapped to symlink: %v", err)
	}
	if b, _ := os.ReadFile(real); string(b) != "{}" {
		t.Error("wrote through the symlink")
	}

	// a file the app rewrote after Load is not clobbered
	p = write("busy.json", `{"a": 1}`)
	f, _ = Load(p, false)
	os.WriteFile(p, []byte(`{"a": 2, "new": true}`), 0o600)
	os.Chtimes(p, time.Now().Add(time.Second), time.Now().Add(time.Second))
	f.Set([]string{"mcpServers", "tresor"}, tresorEntry)
	if err := f.Save(); err == nil || !strings.Contains(err.Error(), "changed while tresor was editing it") {
		t.Errorf("concurrent change: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"a": 2, "new": true}` {
		t.Error("clobbered a concurrent change")
	}

	// the server map must be an object
	p = write("notobj.json", `{"mcpServers": []}`)
	f, _ = Load(p, false)
	if err := f.Set([]string{"mcpServers", "tresor"}, tresorEntry); err == nil || !strings.Contains(err.Error(), "mcpServers is not an object") {
		t.Errorf("array server map: %v", err)
	}
}

func TestLocate(t *testing.T) {
	e := PathEnv{GOOS: "linux", Home: "/home/u", ProjectDir: "/src/app"}
	mac := PathEnv{GOOS: "darwin", Home: "/Users/u", ProjectDir: "/src/app"}
	win := PathEnv{GOOS: "windows", Home: `C:\Users\u`, AppData: `C:\Users\u\AppData\Roaming`, ProjectDir: "/src/app"}
	xdg := PathEnv{GOOS: "linux", Home: "/home/u", XDGConfigHome: "/cfg"}
	tests := []struct {
		app, loc string
		env      PathEnv
		file     string
		base     string
	}{
		{"claude-code", "", e, "/home/u/.claude.json", "mcpServers"},
		{"claude-code", "local", e, "/home/u/.claude.json", "projects|/src/app|mcpServers"},
		{"claude-code", "project", e, "/src/app/.mcp.json", "mcpServers"},
		{"claude-desktop", "", e, "/home/u/.config/Claude/claude_desktop_config.json", "mcpServers"},
		{"claude-desktop", "", xdg, "/cfg/Claude/claude_desktop_config.json", "mcpServers"},
		{"claude-desktop", "", mac, "/Users/u/Library/Application Support/Claude/claude_desktop_config.json", "mcpServers"},
		{"claude-desktop", "", win, filepath.Join(`C:\Users\u\AppData\Roaming`, "Claude", "claude_desktop_config.json"), "mcpServers"},
		{"cursor", "", e, "/home/u/.cursor/mcp.json", "mcpServers"},
		{"cursor", "project", e, "/src/app/.cursor/mcp.json", "mcpServers"},
		{"vscode", "", e, "/home/u/.config/Code/User/mcp.json", "servers"},
		{"vscode", "", mac, "/Users/u/Library/Application Support/Code/User/mcp.json", "servers"},
		{"vscode", "project", e, "/src/app/.vscode/mcp.json", "servers"},
	}
	for _, tt := range tests {
		a, err := Lookup(tt.app)
		if err != nil {
			t.Fatal(err)
		}
		l, err := a.Locate(tt.loc, tt.env, "")
		if err != nil || l.File != tt.file || strings.Join(l.Base, "|") != tt.base {
			t.Errorf("%s %s %s: %+v %v; want %s %s", tt.app, tt.loc, tt.env.GOOS, l, err, tt.file, tt.base)
		}
	}
	a, _ := Lookup("claude-desktop")
	if _, err := a.Locate("project", e, ""); err == nil {
		t.Error("claude-desktop project location accepted")
	}
	if l, err := a.Locate("", e, "/tmp/x.json"); err != nil || l.File != "/tmp/x.json" {
		t.Errorf("override: %v %v", l, err)
	}
	if _, err := Lookup("emacs"); err == nil || !strings.Contains(err.Error(), "claude-code, claude-desktop, cursor, vscode") {
		t.Errorf("unknown app: %v", err)
	}
}

func TestRemoveElement(t *testing.T) {
	tests := []struct {
		in, want string
		jsonc    bool
	}{
		{`{"inputs": [{"id": "a"}, {"id": "t"}]}`, `{"inputs": [{"id": "a"}]}`, false},
		{`{"inputs": [{"id": "t"}, {"id": "a"}]}`, `{"inputs": [ {"id": "a"}]}`, false},
		{`{"inputs": [{"id": "t"}]}`, `{"inputs": []}`, false},
		{"{\"inputs\": [{\"id\": \"a\"}, {\"id\": \"t\"},]}", "{\"inputs\": [{\"id\": \"a\"},]}", true},
		{`{"inputs": [{"id": "a"}, 3]}`, `{"inputs": [{"id": "a"}, 3]}`, false},
		{`{"inputs": 3}`, `{"inputs": 3}`, false},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(path, []byte(tt.in), 0o600)
		f, err := Load(path, tt.jsonc)
		if err != nil {
			t.Fatal(err)
		}
		removed := f.RemoveElement([]string{"inputs"}, func(m map[string]any) bool { return m["id"] == "t" })
		got := strings.TrimSuffix(string(f.Bytes()), "\n")
		if got != tt.want || removed != (tt.in != tt.want) {
			t.Errorf("RemoveElement on %s = %s (%v), want %s", tt.in, got, removed, tt.want)
		}
		if !tt.jsonc && !json.Valid([]byte(got)) {
			t.Errorf("invalid JSON %s", got)
		}
	}
}
