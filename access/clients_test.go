package access

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

func TestClientAddTokenShownOnceStoredAsHash(t *testing.T) {
	dir := t.TempDir()
	r := OpenRegistry(dir)
	tok, err := r.Add("claude-code", []string{"project:mercury", "global"}, false, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^tresor_[a-z2-7]{52}$`).MatchString(tok) {
		t.Fatalf("token %q does not look like tresor_ + base32", tok)
	}
	data, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), strings.TrimPrefix(tok, TokenPrefix)) {
		t.Fatal("clients.yaml holds the token itself")
	}
	if !strings.Contains(string(data), hashToken(tok)) {
		t.Fatal("clients.yaml does not hold the token's hash")
	}
	fi, _ := os.Stat(r.Path())
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("clients.yaml mode %04o, want 0600", fi.Mode().Perm())
	}
	c, err := r.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "claude-code" || len(c.Grants) != 2 {
		t.Fatalf("got %+v", c)
	}
	// A second registry (another process) sees the same client.
	if c2, err := OpenRegistry(dir).Authenticate(tok); err != nil || c2.Name != "claude-code" {
		t.Fatalf("fresh registry: %v %v", c2, err)
	}
	tok2, err := r.Add("cursor", []string{"global"}, false, false, t0)
	if err != nil || tok2 == tok {
		t.Fatalf("second token: %v (same as first: %v)", err, tok2 == tok)
	}
	if _, err := r.Add("cursor", []string{"global"}, false, false, t0); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate add: %v", err)
	}
}

func TestClientGrants(t *testing.T) {
	r := OpenRegistry(t.TempDir())
	tok, err := r.Add("agent", []string{"project:mercury"}, false, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	tokAll, _ := r.Add("admin", []string{"*"}, true, false, t0)
	all, err := r.Authenticate(tokAll)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c           *Client
		perm, scope string
		want        bool
	}{
		{c, PermList, "project:mercury", true},
		{c, PermUse, "project:mercury", true},
		{c, PermWrite, "project:mercury", true},
		{c, PermReveal, "project:mercury", false},
		{c, PermList, "project:venus", false},
		{c, PermList, "global", false},
		{c, PermList, "project:mercury2", false},
		{c, "delete", "project:mercury", false},
		{c, "", "project:mercury", false},
		{all, PermReveal, "global", true},
		{all, PermList, "mcp:github", true},
		{all, PermWrite, "global", false},
		{nil, PermList, "global", false},
	} {
		if got := tc.c.Allows(tc.perm, tc.scope); got != tc.want {
			name := "<nil>"
			if tc.c != nil {
				name = tc.c.Name
			}
			t.Errorf("%s.Allows(%q, %q) = %v, want %v", name, tc.perm, tc.scope, got, tc.want)
		}
	}
}

func TestClientRevokedTokenRefused(t *testing.T) {
	dir := t.TempDir()
	r := OpenRegistry(dir)
	tok, _ := r.Add("agent", []string{"global"}, true, true, t0)
	if _, err := r.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	// Revoked by another process: this registry must notice without restart.
	if err := OpenRegistry(dir).Revoke("agent", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, err := r.Authenticate(tok)
	if !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token: %v", err)
	}
	if c.Allows(PermList, "global") {
		t.Fatal("revoked client still allowed")
	}
	if err := r.Revoke("agent", t0); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Fatalf("second revoke: %v", err)
	}
	if err := r.Revoke("nobody", t0); !errors.Is(err, ErrNoClient) {
		t.Fatalf("revoke unknown: %v", err)
	}
	// The name can be registered again, with a new token; the old one stays dead.
	tok2, err := r.Add("agent", []string{"global"}, false, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("old token after re-add: %v", err)
	}
	if _, err := r.Authenticate(tok2); err != nil {
		t.Fatal(err)
	}
	list, _ := r.List()
	if len(list) != 1 || list[0].Revoked != nil {
		t.Fatalf("list after re-add: %+v", list)
	}
}

func TestClientBadTokens(t *testing.T) {
	r := OpenRegistry(t.TempDir())
	tok, _ := r.Add("agent", []string{"global"}, false, false, t0)
	for _, bad := range []string{"", "tresor_", tok[:len(tok)-1], tok + "a", strings.ToUpper(tok), "Bearer " + tok,
		strings.TrimPrefix(tok, TokenPrefix), TokenPrefix + strings.Repeat("a", 500), hashToken(tok)} {
		if c, err := r.Authenticate(bad); !errors.Is(err, ErrBadToken) || c != nil {
			t.Errorf("Authenticate(%.20q...) = %v, %v; want ErrBadToken", bad, c, err)
		}
	}
}

func TestClientAddRejects(t *testing.T) {
	r := OpenRegistry(t.TempDir())
	for _, tc := range []struct {
		name   string
		scopes []string
	}{
		{"", []string{"global"}},
		{"../x", []string{"global"}},
		{"a b", []string{"global"}},
		{"a\nb", []string{"global"}},
		{".hidden", []string{"global"}},
		{strings.Repeat("a", 65), []string{"global"}},
		{"ok", nil},
		{"ok", []string{"projects/x"}},
		{"ok", []string{"project:"}},
		{"ok", []string{"project:../x"}},
		{"ok", []string{"project:a/b"}},
		{"ok", []string{"planet:x"}},
		{"ok", []string{"global", "device:a\x00b"}},
	} {
		if _, err := r.Add(tc.name, tc.scopes, false, false, t0); err == nil {
			t.Errorf("Add(%q, %q) succeeded", tc.name, tc.scopes)
		}
	}
	if _, err := os.Stat(r.Path()); !os.IsNotExist(err) {
		t.Fatal("a refused add wrote the registry")
	}
}

// A hostile or damaged clients.yaml lets nobody in, and the error names the
// file without quoting it.
func TestClientHostileRegistry(t *testing.T) {
	good := OpenRegistry(t.TempDir())
	tok, _ := good.Add("agent", []string{"global"}, false, false, t0)
	h := hashToken(tok)
	cases := map[string]string{
		"not yaml":        "version: 1\nclients: [\n",
		"unknown field":   "version: 1\nclients:\n  - name: agent\n    token_hash: " + h + "\n    grants: [{scope: global, list: true}]\n    created: 2026-01-01T00:00:00Z\n    admin: true\n",
		"bad version":     "version: 9\nclients: []\n",
		"plain token":     "version: 1\nclients:\n  - name: agent\n    token_hash: " + tok + "\n    created: 2026-01-01T00:00:00Z\n",
		"bad grant scope": "version: 1\nclients:\n  - name: agent\n    token_hash: " + h + "\n    grants: [{scope: '../../x', list: true}]\n    created: 2026-01-01T00:00:00Z\n",
		"bad name":        "version: 1\nclients:\n  - name: '../x'\n    token_hash: " + h + "\n    created: 2026-01-01T00:00:00Z\n",
		"duplicate name":  "version: 1\nclients:\n  - {name: a, token_hash: '" + h + "', created: 2026-01-01T00:00:00Z}\n  - {name: a, token_hash: 'sha256:" + strings.Repeat("0", 64) + "', created: 2026-01-01T00:00:00Z}\n",
		"shared hash":     "version: 1\nclients:\n  - {name: a, token_hash: '" + h + "', created: 2026-01-01T00:00:00Z}\n  - {name: b, token_hash: '" + h + "', created: 2026-01-01T00:00:00Z}\n",
		"null client":     "version: 1\nclients:\n  - null\n",
		"wrong types":     "version: 1\nclients:\n  - name: agent\n    token_hash: " + h + "\n    grants: [{scope: global, list: 'yes please'}]\n    created: 2026-01-01T00:00:00Z\n",
		"huge":            "version: 1\n#" + strings.Repeat("x", maxClientsFile) + "\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := OpenRegistry(dir)
			if err := os.WriteFile(r.Path(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := r.Authenticate(tok)
			if err == nil || c != nil {
				t.Fatalf("hostile registry let a client in: %+v", c)
			}
			if !strings.Contains(err.Error(), r.Path()) || strings.Contains(err.Error(), tok) {
				t.Fatalf("error should name the file and not quote it: %v", err)
			}
			if _, err := r.Add("other", []string{"global"}, false, false, t0); err == nil {
				t.Fatal("Add over a damaged registry succeeded (it would drop what it cannot read)")
			}
		})
	}
	t.Run("open to others", func(t *testing.T) {
		r := OpenRegistry(t.TempDir())
		data, _ := os.ReadFile(good.Path())
		os.WriteFile(r.Path(), data, 0o644)
		os.Chmod(r.Path(), 0o644)
		if _, err := r.Authenticate(tok); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("world-readable registry: %v", err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		r := OpenRegistry(dir)
		if err := os.Symlink(good.Path(), filepath.Join(dir, "clients.yaml")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Authenticate(tok); err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("symlinked registry: %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		r := OpenRegistry(t.TempDir())
		os.WriteFile(r.Path(), nil, 0o600)
		if _, err := r.Authenticate(tok); !errors.Is(err, ErrBadToken) {
			t.Fatalf("empty registry: %v", err)
		}
	})
}

func TestClientConcurrentAdds(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := OpenRegistry(dir).Add("c"+string(rune('a'+i)), []string{"global"}, false, false, t0)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}()
	}
	wg.Wait()
	r := OpenRegistry(dir)
	for i, tok := range toks {
		c, err := r.Authenticate(tok)
		if err != nil || c.Name != "c"+string(rune('a'+i)) {
			t.Fatalf("client %d lost: %v", i, err)
		}
	}
}

// FuzzRegistry feeds arbitrary clients.yaml bytes to a registry: it must
// never panic, never let a token in from a file it refused, and its errors
// must not quote the file.
func FuzzRegistry(f *testing.F) {
	good := OpenRegistry(f.TempDir())
	tok, _ := good.Add("agent", []string{"global", "project:x"}, true, false, t0)
	data, _ := os.ReadFile(good.Path())
	f.Add(data)
	f.Add([]byte("version: 1\nclients: []\n"))
	f.Add([]byte("version: 1\nclients:\n  - &a {name: a}\n  - *a\n"))
	f.Add([]byte("{version: 1, clients: [{name: x, token_hash: 'sha256:00', grants: [{scope: '*', reveal: true}]}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := OpenRegistry(t.TempDir())
		if err := os.WriteFile(r.Path(), data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := r.Authenticate(tok)
		if err != nil {
			if c != nil && !errors.Is(err, ErrRevoked) {
				t.Fatal("a client came with an error")
			}
			if len(data) > 16 && strings.Contains(err.Error(), string(data)) {
				t.Fatal("error quotes the file")
			}
			return
		}
		if c.Name == "" || c.Revoked != nil {
			t.Fatalf("authenticated an invalid client: %+v", c)
		}
		if _, err := r.List(); err != nil {
			t.Fatalf("List fails where Authenticate succeeded: %v", err)
		}
	})
}

func TestClientSees(t *testing.T) {
	now := time.Now()
	listOnly := &Client{Name: "l", Grants: []Grant{{Scope: "project:mercury", List: true}}}
	all := &Client{Name: "a", Grants: []Grant{{Scope: AllScopes, Use: true}}}
	revoked := &Client{Name: "r", Grants: []Grant{{Scope: "global", Reveal: true}}, Revoked: &now}
	for _, tc := range []struct {
		c     *Client
		scope string
		want  bool
	}{
		{listOnly, "project:mercury", true},
		{listOnly, "global", false},
		{listOnly, "project:mercury2", false},
		{all, "device:box", true},
		{revoked, "global", false},
		{nil, "global", false},
	} {
		if got := tc.c.Sees(tc.scope); got != tc.want {
			t.Errorf("Sees(%q) = %v, want %v", tc.scope, got, tc.want)
		}
	}
}

func TestClientReissue(t *testing.T) {
	dir := t.TempDir()
	r := OpenRegistry(dir)
	old, err := r.Add("cursor", []string{"global"}, false, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Reissue swaps token and grants in one write.
	tok, restore, err := r.Reissue("cursor", []string{"project:mercury"}, true, false, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(old); err == nil {
		t.Fatal("old token still works after reissue")
	}
	c, err := r.Authenticate(tok)
	if err != nil || !c.Allows(PermReveal, "project:mercury") || c.Sees("global") {
		t.Fatalf("new token: %v %+v", err, c)
	}
	// restore brings the old record back, token and grants.
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Authenticate(old); err != nil || !c.Allows(PermList, "global") || c.Sees("project:mercury") {
		t.Fatalf("old token after restore: %v", err)
	}
	if _, err := r.Authenticate(tok); err == nil {
		t.Fatal("new token works after restore")
	}
	// A client that did not exist: restore revokes the new one.
	tok2, restore2, err := r.Reissue("vscode", []string{"global"}, false, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := restore2(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(tok2); !errors.Is(err, ErrRevoked) {
		t.Fatalf("restored new client: %v", err)
	}
	// restore never clobbers a record changed meanwhile.
	_, restore3, _ := r.Reissue("claude", []string{"global"}, false, false, t0)
	tok4, _, _ := r.Reissue("claude", []string{"global"}, false, false, t0)
	if err := restore3(); err == nil {
		t.Fatal("stale restore succeeded")
	}
	if _, err := r.Authenticate(tok4); err != nil {
		t.Fatalf("newer token broken by a stale restore: %v", err)
	}
	// Bad input changes nothing.
	if _, _, err := r.Reissue("../x", []string{"global"}, false, false, t0); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, _, err := r.Reissue("cursor", []string{"bogus"}, false, false, t0); err == nil {
		t.Fatal("bad scope accepted")
	}
	if _, err := r.Authenticate(old); err != nil {
		t.Fatal("refused reissue changed the client")
	}
}
