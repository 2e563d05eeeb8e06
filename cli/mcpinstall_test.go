package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestInstalledConfigStartsAWorkingServer installs tresor into a Claude
// Desktop config, then starts the server exactly as the app would (the
// command, args and env written there, nothing else from the install) and
// talks MCP to it: the config works, and revoking the client stops it.
func TestInstalledConfigStartsAWorkingServer(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE0123456789abcdefghij\n", "set", "openai", "--type", "api_key")
	cfg := filepath.Join(h.dir, "claude_desktop_config.json")
	os.WriteFile(cfg, []byte(`{"mcpServers": {"other": {"command": "/bin/true"}}, "globalShortcut": "Ctrl+Space"}`), 0o600)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e, out, errb := h.env("")
	e.Executable = exe
	if code := Main([]string{"tresor", "mcp", "install", "claude-desktop", "--scope", "global", "--config", cfg}, e); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errb)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing (the token is in the file)", out)
	}

	var doc struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
		Shortcut string `json:"globalShortcut"`
	}
	data, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	srv, ok := doc.MCPServers["tresor"]
	if !ok || doc.MCPServers["other"].Command != "/bin/true" || doc.Shortcut != "Ctrl+Space" {
		t.Fatalf("config = %s", data)
	}
	if srv.Command != exe || !filepath.IsAbs(srv.Command) {
		t.Errorf("command = %q", srv.Command)
	}

	// Start it as the app does: command, args and env from the file. The
	// app's own environment has HOME (the identity's default location);
	// the test binary needs selfEnv to act as tresor.
	connect := func() (*mcp.ClientSession, error) {
		cmd := exec.Command(srv.Command, srv.Args...)
		cmd.Dir = "/"
		cmd.Env = []string{selfEnv + "=1", "HOME=" + h.dir, "XDG_CONFIG_HOME=" + h.vars["XDG_CONFIG_HOME"], "PATH=" + os.Getenv("PATH")}
		for k, v := range srv.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		c := mcp.NewClient(&mcp.Implementation{Name: "claude-desktop-test", Version: "0"}, nil)
		return c.Connect(context.Background(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	}
	cs, err := connect()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_credentials", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(res.Content)
	if res.IsError || !strings.Contains(string(text), "global/openai") || strings.Contains(string(text), "sk-test-FAKE") {
		t.Errorf("list_credentials = %s (isError %v)", text, res.IsError)
	}
	cs.Close()

	h.ok("", "client", "revoke", "claude-desktop")
	cs, err = connect()
	if err == nil {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_credentials", Arguments: map[string]any{}})
		if err == nil && !res.IsError {
			t.Error("a revoked client's config still lists credentials")
		}
		cs.Close()
	}
}

// On a terminal, install asks before moving keys; "no" leaves them.
func TestInstallAsksOnATerminal(t *testing.T) {
	for _, answer := range []bool{false, true} {
		h := newHome(t)
		h.ok("", "init")
		cfg := filepath.Join(h.dir, "mcp.json")
		orig := `{"mcpServers": {"gh": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": "ghp_testFAKE0123456789abcdefghijklmnopqrstu"}}}}`
		os.WriteFile(cfg, []byte(orig), 0o600)
		e, _, errb := h.env("")
		e.Executable = "/usr/local/bin/tresor"
		e.StdinTTY = true
		asked := ""
		e.Confirm = func(p string) (bool, error) { asked = p; return answer, nil }
		if code := Main([]string{"tresor", "mcp", "install", "cursor", "--scope", "global", "--config", cfg}, e); code != 0 {
			t.Fatalf("exit %d: %s", code, errb)
		}
		if !strings.Contains(asked, "move 1 key(s) into the vault") {
			t.Errorf("asked %q", asked)
		}
		data, _ := os.ReadFile(cfg)
		kept := strings.Contains(string(data), "ghp_testFAKE")
		if kept == answer {
			t.Errorf("answer %v: key kept in config = %v\n%s", answer, kept, data)
		}
		if strings.Contains(errb.String(), "ghp_testFAKE") {
			t.Error("stderr shows the key")
		}
	}
}
