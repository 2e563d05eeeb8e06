package mcpconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/access"
)

func install(t *testing.T, req Request) (*Plan, *Result) {
	t.Helper()
	p, err := NewPlan(req)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	res, err := p.Apply(context.Background(), false)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return p, res
}

func tresorToken(t *testing.T, cfg string) string {
	t.Helper()
	f, err := Load(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	var servers map[string]Server
	f.Decode([]string{"mcpServers"}, &servers)
	return servers["tresor"].Env["TRESOR_TOKEN"]
}

// TestReinstallReplacesServerAndToken: running install again (as its own
// "run again with --yes" hint says) replaces tresor's server and gives the
// app's client a fresh token and the grants asked for now; the old token
// stops working in the same registry write.
func TestReinstallReplacesServerAndToken(t *testing.T) {
	v, _ := newVault(t)
	cfg := filepath.Join(t.TempDir(), "mcp.json")
	os.WriteFile(cfg, []byte(cursorConfig), 0o600)
	reg := access.OpenRegistry(v.StateDir())

	p1, r1 := install(t, request(t, v, "cursor", cfg))
	if p1.Reissues || r1.Reissued {
		t.Fatal("first install called a reissue")
	}
	tok1 := tresorToken(t, cfg)
	req := request(t, v, "cursor", cfg)
	req.Scopes = []string{"project:mercury"}
	p2, r2 := install(t, req)
	if !p2.Replaces || !p2.Reissues || !r2.Reissued {
		t.Fatalf("reinstall: replaces=%v reissues=%v", p2.Replaces, r2.Reissued)
	}
	tok2 := tresorToken(t, cfg)
	if tok2 == "" || tok2 == tok1 {
		t.Fatal("reinstall did not write a new token")
	}
	if _, err := reg.Authenticate(tok1); err == nil {
		t.Fatal("old token still works")
	}
	c, err := reg.Authenticate(tok2)
	if err != nil || !c.Allows(access.PermUse, "project:mercury") || c.Sees("global") {
		t.Fatalf("new token: %v %+v", err, c)
	}
	list, _ := reg.List()
	if len(list) != 1 {
		t.Fatalf("clients = %+v", list)
	}
	data, _ := os.ReadFile(cfg)
	if strings.Count(string(data), `"tresor"`) != 1 || !strings.Contains(string(data), `"github"`) {
		t.Fatalf("config after reinstall:\n%s", data)
	}
}

// TestReinstallFailureKeepsTheOldToken: when the config cannot be written,
// the old config and the old token both still work.
func TestReinstallFailureKeepsTheOldToken(t *testing.T) {
	v, _ := newVault(t)
	cfg := filepath.Join(t.TempDir(), "mcp.json")
	os.WriteFile(cfg, []byte(cursorConfig), 0o600)
	reg := access.OpenRegistry(v.StateDir())
	install(t, request(t, v, "cursor", cfg))
	tok1 := tresorToken(t, cfg)
	p, err := NewPlan(request(t, v, "cursor", cfg))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(data, ' '), 0o600) // the app rewrote it meanwhile
	if _, err := p.Apply(context.Background(), false); err == nil || !strings.Contains(err.Error(), "is as it was") {
		t.Fatalf("err = %v", err)
	}
	if tresorToken(t, cfg) != tok1 {
		t.Fatal("config changed")
	}
	if c, err := reg.Authenticate(tok1); err != nil || !c.Allows(access.PermUse, "global") {
		t.Fatalf("old token broken by a failed reinstall: %v", err)
	}
}

type vsInput struct {
	ID string `json:"id"`
}

func vsState(t *testing.T, cfg string) (inputs []vsInput, hasInputs bool, ref string) {
	t.Helper()
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	hasInputs = strings.Contains(string(data), `"inputs"`)
	f.Decode([]string{"inputs"}, &inputs)
	ref = referencedInput(f, []string{"servers", "tresor"})
	return
}

// TestVSCodeReinstallAndUninstallInputs: VS Code keeps what it prompted for
// under the input's id, so a new token gets a new id and the old input
// goes; uninstall removes the input and an inputs array it emptied, but
// keeps other inputs.
func TestVSCodeReinstallAndUninstallInputs(t *testing.T) {
	v, _ := newVault(t)
	for _, other := range []bool{false, true} {
		cfg := filepath.Join(t.TempDir(), "mcp.json")
		start := "{\n  \"servers\": {}\n}\n"
		if other {
			start = "{\n  \"inputs\": [ { \"type\": \"promptString\", \"id\": \"gh\", \"password\": true } ],\n  \"servers\": {}\n}\n"
		}
		os.WriteFile(cfg, []byte(start), 0o600)
		req := request(t, v, "vscode", cfg)
		req.Client = "vscode"
		install(t, req)
		in1, _, ref1 := vsState(t, cfg)
		req.Now = req.Now.Add(time.Minute)
		install(t, req)
		in2, _, ref2 := vsState(t, cfg)
		if ref1 == "" || ref2 == "" || ref1 == ref2 || !strings.HasPrefix(ref2, "tresor-token-vscode") {
			t.Fatalf("input ids %q then %q", ref1, ref2)
		}
		want := 1
		if other {
			want = 2
		}
		if len(in1) != want || len(in2) != want || in2[len(in2)-1].ID != ref2 {
			t.Fatalf("inputs %+v then %+v", in1, in2)
		}
		rm, err := Uninstall(req)
		if err != nil || !rm.Server || !rm.Input || !rm.Revoked {
			t.Fatalf("uninstall: %+v %v", rm, err)
		}
		in3, has, _ := vsState(t, cfg)
		if other && (len(in3) != 1 || in3[0].ID != "gh") {
			t.Fatalf("other input lost: %+v", in3)
		}
		if !other && has {
			data, _ := os.ReadFile(cfg)
			t.Fatalf("emptied inputs array left behind:\n%s", data)
		}
	}
}

// TestConfigWithBOM: VS Code reads a config that starts with a UTF-8 byte
// order mark; tresor reads it too and writes the mark back.
func TestConfigWithBOM(t *testing.T) {
	v, _ := newVault(t)
	for _, app := range []string{"vscode", "cursor"} {
		cfg := filepath.Join(t.TempDir(), "mcp.json")
		key := "servers"
		if app == "cursor" {
			key = "mcpServers"
		}
		body := "{\n  \"" + key + "\": {\n    \"other\": { \"command\": \"x\" }\n  }\n}\n"
		os.WriteFile(cfg, append([]byte("\xef\xbb\xbf"), body...), 0o600)
		install(t, request(t, v, app, cfg))
		data, _ := os.ReadFile(cfg)
		rest, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf"))
		if !ok || bytes.Contains(rest, []byte("\xef\xbb\xbf")) {
			t.Fatalf("%s: BOM not kept once:\n%q", app, data)
		}
		var doc map[string]json.RawMessage
		var servers map[string]any
		err := json.Unmarshal(rest, &doc)
		if err == nil {
			err = json.Unmarshal(doc[key], &servers)
		}
		if err != nil || servers["tresor"] == nil || servers["other"] == nil {
			t.Fatalf("%s: written config: %v\n%s", app, err, rest)
		}
		if _, err := Uninstall(request(t, v, app, cfg)); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(cfg); !bytes.HasPrefix(data, []byte("\xef\xbb\xbf{")) {
			t.Fatalf("%s: uninstall dropped the BOM: %q", app, data)
		}
	}
}
