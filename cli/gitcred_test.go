package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func credReq(proto, host string, extra ...string) string {
	return "protocol=" + proto + "\nhost=" + host + "\n" + strings.Join(extra, "") + "\n"
}

// readLogRecords returns the read log's records with op git-credential.
func gitCredRecords(t *testing.T, h *home) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.vault(), ".git", "tresor", "access.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("read log line %q: %v", line, err)
		}
		if m["op"] == "git-credential" {
			out = append(out, m)
		}
	}
	return out
}

func TestGitCredentialGet(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("pw-FAKE", "set", "logins/forge", "--type", "password", "--field", "username=alice", "--field", "url=https://forge.example/login")
	h.ok("ghp_FAKE000000000000000000000000000000", "set", "github", "--type", "api_key")
	h.ok("glpat-FAKE00000000000000000000", "set", "gitlab", "--type", "api_key")
	h.ok("tok-FAKE", "set", "ci/token", "--field", "hosts=git.internal.example")
	h.ok("local-FAKE", "set", "ci/local", "--field", "hosts=http://127.0.0.1:9999")
	h.ok("mcp-FAKE", "set", "mcp/only", "--scope", "mcp:github", "--field", "hosts=mcp.example")
	h.ok("app-FAKE", "set", "bitbucket", "--type", "api_key", "--field", "hosts=bitbucket.example", "--field", "username=carol")

	tests := []struct {
		name, in, want string
	}{
		{"password by url", credReq("https", "forge.example"), "username=alice\npassword=pw-FAKE\n"},
		{"username given matches", credReq("https", "forge.example", "username=alice\n"), "username=alice\npassword=pw-FAKE\n"},
		{"username given differs", credReq("https", "forge.example", "username=mallory\n"), ""},
		{"no downgrade to http", credReq("http", "forge.example"), ""},
		{"github token by service", credReq("https", "github.com"), "username=x-access-token\npassword=ghp_FAKE000000000000000000000000000000\n"},
		{"gitlab token by service", credReq("https", "gitlab.com"), "username=oauth2\npassword=glpat-FAKE00000000000000000000\n"},
		{"request username kept for a token", credReq("https", "github.com", "username=octocat\n"), "username=octocat\npassword=ghp_FAKE000000000000000000000000000000\n"},
		{"secret by hosts", credReq("https", "git.internal.example"), "username=x-access-token\npassword=tok-FAKE\n"},
		{"explicit http origin", credReq("http", "127.0.0.1:9999"), "username=x-access-token\npassword=local-FAKE\n"},
		{"other port", credReq("http", "127.0.0.1:9998"), ""},
		{"look-alike host", credReq("https", "github.com.evil.example"), ""},
		{"mcp scope not seen", credReq("https", "mcp.example"), ""},
		{"not http", credReq("smtp", "forge.example"), ""},
		{"token with its username field", credReq("https", "bitbucket.example"), "username=carol\npassword=app-FAKE\n"},
		{"token username differs", credReq("https", "bitbucket.example", "username=dave\n"), ""},
		{"url form", "url=https://forge.example/org/repo.git\n\n", "username=alice\npassword=pw-FAKE\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.ok(tt.in, "git-credential", "get")
			if r.stdout != tt.want {
				t.Errorf("answer %q, want %q (stderr %s)", r.stdout, tt.want, r.stderr)
			}
			if strings.Contains(r.stderr, "FAKE") {
				t.Errorf("stderr shows a value: %s", r.stderr)
			}
		})
	}
	// mcp: entries answer only when that scope is asked for.
	if r := h.ok(credReq("https", "mcp.example"), "git-credential", "--scope", "mcp:github", "get"); r.stdout != "username=x-access-token\npassword=mcp-FAKE\n" {
		t.Errorf("--scope mcp:github: %q", r.stdout)
	}
	// Every answer is one read-log record naming the host; misses are not.
	recs := gitCredRecords(t, h)
	answered := 0
	for _, tt := range tests {
		if tt.want != "" {
			answered++
		}
	}
	if len(recs) != answered+1 {
		t.Fatalf("%d read-log records, want %d", len(recs), answered+1)
	}
	if recs[0]["ref"] != "global/logins/forge" || recs[0]["detail"] != "forge.example" || recs[0]["result"] != "ok" {
		t.Errorf("first record %v", recs[0])
	}
	log, _ := os.ReadFile(filepath.Join(h.vault(), ".git", "tresor", "access.log"))
	if bytes.Contains(log, []byte("FAKE")) {
		t.Error("read log holds a value")
	}
}

func TestGitCredentialScopesAndAmbiguity(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("global-FAKE", "set", "a", "--field", "hosts=forge.example")
	h.ok("global2-FAKE", "set", "b", "--field", "hosts=forge.example")
	// Two global entries for one host: refused, both named, nothing answered.
	r := h.fails(1, credReq("https", "forge.example"), []string{"git-credential", "get"}, "global/a", "global/b", "forge.example")
	if r.stdout != "" || strings.Contains(r.stderr, "FAKE") {
		t.Fatalf("ambiguous answer: %q %q", r.stdout, r.stderr)
	}
	if n := len(gitCredRecords(t, h)); n != 0 {
		t.Errorf("%d records for a refused request", n)
	}
	// The project's entry wins over both, inside the project.
	proj := filepath.Join(h.dir, "mercury")
	os.MkdirAll(proj, 0o700)
	h.cwd = proj
	h.ok("", "project", "init", "mercury")
	h.ok("proj-FAKE", "set", "forge", "--field", "hosts=forge.example")
	if r := h.ok(credReq("https", "forge.example"), "git-credential", "get"); r.stdout != "username=x-access-token\npassword=proj-FAKE\n" {
		t.Errorf("project scope: %q", r.stdout)
	}
	// Explicit hosts beat a service's default hosts in the same scope.
	h.cwd = h.dir
	h.ok("ghp_FAKE111111111111111111111111111111", "set", "github", "--type", "api_key")
	h.ok("ghp_FAKE222222222222222222222222222222", "set", "work-github", "--type", "api_key", "--field", "service=github", "--field", "hosts=github.com")
	if r := h.ok(credReq("https", "github.com"), "git-credential", "get"); !strings.Contains(r.stdout, "ghp_FAKE2222") {
		t.Errorf("explicit hosts should win: %q", r.stdout)
	}
	// With credential.useHttpPath git sends the path: a password whose url
	// names the repository wins; without the path the two tie.
	h.ok("a-FAKE", "set", "repo-a", "--type", "password", "--field", "username=ci", "--field", "url=https://code.example/org/a.git")
	h.ok("b-FAKE", "set", "repo-b", "--type", "password", "--field", "username=ci", "--field", "url=https://code.example/org/b.git")
	if r := h.ok(credReq("https", "code.example", "path=org/b.git\n"), "git-credential", "get"); r.stdout != "username=ci\npassword=b-FAKE\n" {
		t.Errorf("by path: %q", r.stdout)
	}
	h.fails(1, credReq("https", "code.example"), []string{"git-credential", "get"}, "global/repo-a", "global/repo-b", "useHttpPath")
	// A device entry beats global.
	h.ok("dev-FAKE", "set", "a-dev", "--scope", "device:testbox", "--field", "hosts=forge.example")
	if r := h.ok(credReq("https", "forge.example"), "git-credential", "get"); r.stdout != "username=x-access-token\npassword=dev-FAKE\n" {
		t.Errorf("device scope: %q", r.stdout)
	}
}

func TestGitCredentialStoreEraseChangeNothing(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("pw-FAKE", "set", "forge", "--type", "password", "--field", "username=alice", "--field", "url=https://forge.example")
	snap := snapshot(t, h.vault())
	r := h.ok(credReq("https", "forge.example", "username=alice\npassword=new-FAKE\n"), "git-credential", "store")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("store said %q %q", r.stdout, r.stderr)
	}
	r = h.ok(credReq("https", "forge.example", "username=alice\npassword=pw-FAKE\n"), "git-credential", "erase")
	if r.stdout != "" || !strings.Contains(r.stderr, "global/forge") || !strings.Contains(r.stderr, "nothing was deleted") || strings.Contains(r.stderr, "FAKE") {
		t.Errorf("erase said %q %q", r.stdout, r.stderr)
	}
	if snapshot(t, h.vault()) != snap {
		t.Error("store or erase changed the vault")
	}
	if h.ok("", "get", "forge", "--raw").stdout != "pw-FAKE" {
		t.Error("value changed")
	}
	// Unknown operations are ignored, as the protocol asks; bad input is an error.
	if r := h.ok("x", "git-credential", "frobnicate"); r.stdout != "" {
		t.Errorf("unknown op answered %q", r.stdout)
	}
	h.fails(1, "protocol https\n", []string{"git-credential", "get"}, "line 1")
	h.fails(2, "", []string{"git-credential"}, "get|store|erase")
	// A value git's protocol cannot carry is refused, naming the entry.
	h.ok("two\nlines-FAKE", "set", "multi", "--field", "hosts=multi.example")
	r = h.fails(1, credReq("https", "multi.example"), []string{"git-credential", "get"}, "global/multi", "line break")
	if r.stdout != "" {
		t.Errorf("answered %q", r.stdout)
	}
}

// gitServer serves the bare repositories under root over git's smart HTTP
// protocol (git http-backend as CGI) on loopback, demanding basic auth.
func gitServer(t *testing.T, root, user, pass string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	var denied atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			denied.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="tresor test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &denied
}

// TestGitCredentialRealClone: the real git binary, configured with
// credential.helper "<tresor> git-credential", clones from a loopback HTTP
// server that demands basic auth: with the vault's entry it succeeds, and
// without it (or with a wrong one) it fails.
func TestGitCredentialRealClone(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	root := t.TempDir()
	work := filepath.Join(t.TempDir(), "work")
	for _, args := range [][]string{
		{"init", "-q", "--bare", filepath.Join(root, "repo.git")},
		{"init", "-q", work},
		{"-C", work, "-c", "user.name=T", "-c", "user.email=t@example.test", "commit", "-q", "--allow-empty", "-m", "hello from the server"},
		{"-C", work, "push", "-q", filepath.Join(root, "repo.git"), "HEAD:refs/heads/main"},
		{"-C", filepath.Join(root, "repo.git"), "symbolic-ref", "HEAD", "refs/heads/main"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	srv, denied := gitServer(t, root, "alice", "s3cret-FAKE")
	repoURL := srv.URL + "/repo.git"

	// The helper is this test binary acting as tresor (see TestMain).
	clone := func(dest string) (string, error) {
		cmd := exec.Command("git", "-c", "credential.helper=", "-c", "credential.helper="+os.Args[0]+" git-credential",
			"clone", "-q", repoURL, filepath.Join(h.dir, dest))
		cmd.Env = []string{selfEnv + "=1", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_ASKPASS=", "SSH_ASKPASS="}
		for k, v := range h.vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Dir = h.dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// No entry: git gets no answer and cannot prompt.
	if out, err := clone("c0"); err == nil {
		t.Fatalf("clone without a credential succeeded:\n%s", out)
	}
	if denied.Load() == 0 {
		t.Fatal("the server never refused")
	}

	// A wrong password: git fails, calls erase, and the entry stays.
	h.ok("wrong-FAKE", "set", "git/local", "--type", "password", "--field", "username=alice", "--field", "url="+srv.URL)
	out, err := clone("c1")
	if err == nil {
		t.Fatalf("clone with a wrong password succeeded:\n%s", out)
	}
	if !strings.Contains(out, "nothing was deleted") || strings.Contains(out, "FAKE") {
		t.Errorf("git output after a rejected credential:\n%s", out)
	}
	if h.ok("", "get", "git/local", "--raw").stdout != "wrong-FAKE" {
		t.Fatal("erase changed the entry")
	}

	// The right password: the clone works and the read is logged.
	h.ok("s3cret-FAKE", "rotate", "git/local")
	before := len(gitCredRecords(t, h))
	if out, err := clone("c2"); err != nil {
		t.Fatalf("clone with the vault's credential: %v\n%s", err, out)
	}
	log, err := exec.Command("git", "-C", filepath.Join(h.dir, "c2"), "log", "-1", "--format=%s").Output()
	if err != nil || strings.TrimSpace(string(log)) != "hello from the server" {
		t.Fatalf("cloned repo: %v %q", err, log)
	}
	recs := gitCredRecords(t, h)
	if len(recs) <= before {
		t.Fatal("no read-log record for the answered get")
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, r := range recs[before:] {
		if r["ref"] != "global/git/local" || r["detail"] != host {
			t.Errorf("record %v, want ref global/git/local detail %s", r, host)
		}
	}
	// git stored nothing in the vault and the tree is clean.
	gitClean(t, h.vault())
}

// A canary answers like any entry but is logged as an alert and warned
// about; a read log that cannot be written refuses the answer.
func TestGitCredentialCanaryAndLogFailure(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("decoy-FAKE", "set", "decoy", "--field", "hosts=decoy.example", "--field", "canary=true")
	r := h.ok(credReq("https", "decoy.example"), "git-credential", "get")
	if r.stdout != "username=x-access-token\npassword=decoy-FAKE\n" || !strings.Contains(r.stderr, "canary") {
		t.Fatalf("canary: %q %q", r.stdout, r.stderr)
	}
	if recs := gitCredRecords(t, h); len(recs) != 1 || recs[0]["result"] != "alert" {
		t.Fatalf("records %v", recs)
	}
	logPath := filepath.Join(h.vault(), ".git", "tresor", "access.log")
	must(t, os.Rename(logPath, logPath+".bak"))
	must(t, os.Mkdir(logPath, 0o700)) // cannot be appended to, even by root
	r = h.fails(1, credReq("https", "decoy.example"), []string{"git-credential", "get"}, "global/decoy", "read refused")
	if r.stdout != "" {
		t.Fatalf("answered without a log record: %q", r.stdout)
	}
}
