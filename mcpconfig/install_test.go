package mcpconfig

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

const ghKey = "ghp_testFAKE0123456789abcdefghijklmnopqrstu"

func newVault(t *testing.T) (*repo.Vault, *codec.Keyring) {
	t.Helper()
	dir := t.TempDir()
	kr, err := codec.GenerateIdentity(filepath.Join(dir, "identity"))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC) }
	v, err := repo.Init(filepath.Join(dir, "vault"), repo.InitOptions{
		Options:   repo.Options{Clock: now, Device: "box"},
		Recipient: kr.Recipient, Member: "me",
		Author: gitdb.Signature{Name: "Test", Email: "t@example.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, kr
}

func request(t *testing.T, v *repo.Vault, app string, cfg string) Request {
	a, _ := Lookup(app)
	loc, err := a.Locate("", PathEnv{GOOS: "linux", Home: "/nonexistent"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Request{
		App: a, Location: loc, Scopes: []string{"global"}, Exe: "/opt/tresor/bin/tresor",
		GlobalArgs: []string{"--vault", v.Dir}, Now: time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC),
		Vault: v, Author: gitdb.Signature{Name: "Test", Email: "t@example.test"},
		Registry: access.OpenRegistry(v.StateDir()),
	}
}

const cursorConfig = `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "` + ghKey + `"}
    }
  }
}
`

func TestInstallMovesKeysIntoTheVault(t *testing.T) {
	v, kr := newVault(t)
	cfg := filepath.Join(t.TempDir(), "mcp.json")
	os.WriteFile(cfg, []byte(cursorConfig), 0o600)
	p, err := NewPlan(request(t, v, "cursor", cfg))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Findings) != 1 || p.Movable() != 1 || p.Findings[0].Var != "GITHUB_PERSONAL_ACCESS_TOKEN" || p.Findings[0].Service != "github" {
		t.Fatalf("findings = %+v", p.Findings)
	}
	res, err := p.Apply(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Token != "" || res.TokenMode != TokenInline || len(res.Moved) != 1 || res.Moved[0] != "mcp/github/GITHUB_PERSONAL_ACCESS_TOKEN" {
		t.Errorf("result = %+v", res)
	}
	ref, _ := repo.ParseRef("mcp/github/GITHUB_PERSONAL_ACCESS_TOKEN")
	l, err := v.Load(ref, kr)
	if err != nil {
		t.Fatal(err)
	}
	if l.Entry.Type != "api_key" || l.Entry.Get("value") != ghKey {
		t.Errorf("entry = %s %v", l.Entry.Type, l.Entry.Fields["service"])
	}
	cat := schemas.Builtin()
	if got := cat.EnvName(l.Entry, ref.Name); got != "GITHUB_PERSONAL_ACCESS_TOKEN" {
		t.Errorf("env name = %q", got)
	}
	data, _ := os.ReadFile(cfg)
	if strings.Contains(string(data), ghKey) {
		t.Error("the key is still in the config")
	}
	f, _ := Load(cfg, false)
	var servers map[string]Server
	f.Decode([]string{"mcpServers"}, &servers)
	gh := servers["github"]
	want := []string{"--vault", v.Dir, "exec", "--scope", "mcp:github", "--", "npx", "-y", "@modelcontextprotocol/server-github"}
	if gh.Command != "/opt/tresor/bin/tresor" || strings.Join(gh.Args, "|") != strings.Join(want, "|") || len(gh.Env) != 0 {
		t.Errorf("github server = %+v", gh)
	}
	tok := servers["tresor"].Env["TRESOR_TOKEN"]
	if c, err := access.OpenRegistry(v.StateDir()).Authenticate(tok); err != nil || c.Name != "cursor" || !c.Allows("use", "global") {
		t.Errorf("the token in the config does not authenticate: %v", err)
	}
}

// When the config cannot be written after the client was registered, the
// client is revoked again (put back as it was), so no token that nobody holds stays valid; the
// keys already moved stay in the vault (nothing is lost).
func TestInstallRollsBackTheClient(t *testing.T) {
	v, _ := newVault(t)
	cfg := filepath.Join(t.TempDir(), "mcp.json")
	os.WriteFile(cfg, []byte(cursorConfig), 0o600)
	p, err := NewPlan(request(t, v, "cursor", cfg))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, []byte(cursorConfig+" "), 0o600) // the app rewrote it meanwhile
	_, err = p.Apply(context.Background(), true)
	if err == nil || !strings.Contains(err.Error(), "changed while tresor was editing it") || !strings.Contains(err.Error(), "client cursor is as it was") ||
		!strings.Contains(err.Error(), "1 keys moved into the vault stay there") {
		t.Fatalf("err = %v", err)
	}
	list, _ := access.OpenRegistry(v.StateDir()).List()
	if len(list) != 1 || list[0].Revoked == nil {
		t.Errorf("clients = %+v", list)
	}
	if strings.Contains(err.Error(), ghKey) {
		t.Error("error holds the key")
	}
	// Run again: the entry now exists, so the key is left in place and
	// named, not overwritten.
	p, err = NewPlan(request(t, v, "cursor", cfg))
	if err != nil {
		t.Fatal(err)
	}
	if p.Movable() != 0 || !strings.Contains(p.Findings[0].Reason, "already exists in the vault") {
		t.Errorf("findings = %+v", p.Findings)
	}
}

func TestInstallRefusesBeforeChangingAnything(t *testing.T) {
	v, _ := newVault(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"mcpServers": {"github": {"command": "x", "env": {"GITHUB_TOKEN": "`+ghKey+`"}},}}`), 0o600)
	if _, err := NewPlan(request(t, v, "cursor", bad)); err == nil {
		t.Error("invalid JSON accepted")
	}
	req := request(t, v, "cursor", filepath.Join(dir, "new.json"))
	req.Exe = "tresor"
	if _, err := NewPlan(req); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative exe: %v", err)
	}
	req = request(t, v, "cursor", filepath.Join(dir, "new.json"))
	req.Scopes = []string{"project:../x"}
	if _, err := NewPlan(req); err == nil {
		t.Error("bad scope accepted")
	}
	if list, _ := access.OpenRegistry(v.StateDir()).List(); len(list) != 0 {
		t.Errorf("clients registered: %+v", list)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.json")); err == nil {
		t.Error("a config was written")
	}
}

func TestFindKeys(t *testing.T) {
	cat := schemas.Builtin()
	servers := []Server{
		{Name: "a", Command: "npx", Env: map[string]string{
			"OPENAI_API_KEY":    "sk-proj-testFAKE0123456789abcdefghij", // a service's variable
			"SOME_TOKEN":        "abcdefgh12345678",                     // credential-sounding name
			"DB":                "postgres://u:pw-FAKE@db:5432/x",       // database URL with a password
			"DB_PUBLIC":         "postgres://db:5432/x",                 // no password: not a key
			"REF":               "${env:GITHUB_TOKEN}",                  // a reference
			"ANTHROPIC_API_KEY": "${input:anthropic}",                   // a VS Code input
			"SHORT_KEY":         "abc",                                  // too short to be a key
			"LOG_LEVEL":         "debug",
			"ENABLE_AUTH":       "true",
			"GITHUB":            "ghp_testFAKE0123456789abcdefghijklmnopqrstu", // value has a service prefix
		}},
		{Name: "remote", URL: "https://mcp.example.com", Headers: map[string]string{"Authorization": "Bearer sk-ant-testFAKE0123456789abcdef"}},
		{Name: "tresor", Command: "/usr/bin/tresor", Env: map[string]string{"TRESOR_TOKEN": "tresor_aaaaaaaaaaaaaaaa"}},
		{Name: "wrapped", Command: `C:\bin\tresor.exe`, Env: map[string]string{"X_TOKEN": "abcdefgh12345678"}},
		{Name: "bad/name", Command: "x", Env: map[string]string{"X_TOKEN": "abcdefgh12345678"}},
	}
	got := FindKeys(cat, servers, "tresor", func(name string) error {
		_, err := repo.ParseScope("mcp:" + name)
		return err
	})
	var lines []string
	for _, f := range got {
		lines = append(lines, f.Server+":"+f.Var+":"+f.Type+":"+map[bool]string{true: "move", false: "keep"}[f.Movable])
	}
	want := []string{
		"a:DB:database_url:move", "a:GITHUB:api_key:move", "a:OPENAI_API_KEY:api_key:move", "a:SOME_TOKEN:secret:move",
		"remote:headers.Authorization:api_key:keep",
		"wrapped:X_TOKEN:secret:keep",
		"bad/name:X_TOKEN:secret:keep",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
