package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tresorBin builds the tresor binary once for the end-to-end tests.
func tresorBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tresor-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tresor")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/tresor-dev/tresor").CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	for _, d := range sharedDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// command is the tresor binary run against the fixture's vault.
func (f *fixture) command(token string, args ...string) *exec.Cmd {
	cmd := exec.Command(tresorBin(f.t), args...)
	home := filepath.Join(filepath.Dir(f.dir), "home")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TRESOR_DIR=" + f.dir,
		"TRESOR_IDENTITY=" + f.idPath,
		"TRESOR_DEVICE=box",
		"TRESOR_TOKEN=" + token,
		"GIT_AUTHOR_NAME=Test User", "GIT_AUTHOR_EMAIL=test@example.test",
		"GIT_COMMITTER_NAME=Test User", "GIT_COMMITTER_EMAIL=test@example.test",
	}
	cmd.Dir = filepath.Dir(f.dir)
	return cmd
}

func (f *fixture) stdioSession(token string, co *mcp.ClientOptions) (*mcp.ClientSession, *exec.Cmd, *syncBuffer) {
	f.t.Helper()
	cmd := f.command(token, "mcp", "serve")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	c := mcp.NewClient(&mcp.Implementation{Name: "stdio-client", Version: "0"}, co)
	cs, err := c.Connect(context.Background(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: f.proto})
	if err != nil {
		f.t.Fatalf("connect: %v; stderr: %s", err, stderr)
	}
	return cs, cmd, stderr
}

func TestStdioBinaryServesAndExitsWhenStdinCloses(t *testing.T) {
	f := newFixture(t)
	seed(f)
	tok := f.client("cli-agent", []string{fakeProject, "global"}, true, true)
	cs, cmd, stderr := f.stdioSession(tok, nil)
	out := ok[ListOut](t, call(t, cs, ToolList, nil))
	if len(out.Credentials) != 3 {
		t.Fatalf("list over stdio: %+v", out)
	}
	if got := ok[GetOut](t, call(t, cs, ToolGet, map[string]any{"credential": "projects/mercury/openai"})); got.Value != fakeOpenAI {
		t.Fatal("get over stdio")
	}
	ok[RememberOut](t, call(t, cs, ToolRemember, map[string]any{"text": "FAKE note", "name": "memory/notes"}))
	if !strings.Contains(f.lastCommit(), "Tresor-Client: cli-agent") {
		t.Fatal("remember over stdio did not commit naming the client")
	}
	refused(t, call(t, cs, ToolGet, map[string]any{"credential": "does/not/exist"}), "no such entry")
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// Closing stdin ends the server by itself (no SIGTERM needed).
	cs.Close()
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Fatalf("server did not exit cleanly when stdin closed: %v; stderr: %s", cmd.ProcessState, stderr)
	}
	if strings.Contains(stderr.String(), "sk-test") {
		t.Fatal("stderr holds a secret")
	}
}

func TestStdioRefusesWithoutValidToken(t *testing.T) {
	f := newFixture(t)
	seed(f)
	for _, tok := range []string{"", "tresor_" + strings.Repeat("b", 52), "nonsense"} {
		cmd := f.command(tok, "mcp", "serve")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Stdin = strings.NewReader("")
		if err := cmd.Run(); err == nil {
			t.Fatalf("token %q: served", tok)
		}
		if stdout.Len() != 0 || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 || !strings.Contains(stderr.String(), "TRESOR_TOKEN") {
			t.Fatalf("token %q: want one line on stderr and nothing on stdout; got %q / %q", tok, stdout.String(), stderr.String())
		}
	}
}

// TestStdioCaseH13 replays shared case H13 against the binary: every
// stdout line is one JSON-RPC message, decrypt failures and missing entries
// are tool errors, an unknown tool is a JSON-RPC error, ping still answers,
// and the server exits when stdin closes.
func TestStdioCaseH13(t *testing.T) {
	caseDir := filepath.Join("..", "..", "shared", "cases", "H13-mcp-stdout-clean")
	session, err := os.ReadFile(filepath.Join(caseDir, "session.jsonl"))
	if err != nil {
		t.Fatalf("case H13: %v", err)
	}
	f := newFixture(t)
	f.put("global/certs/multiline-pem", "secret", map[string]string{"value": "-----BEGIN CERTIFICATE-----\nMIIBFAKE\n-----END CERTIFICATE-----\n"}, nil)
	other, _ := age.GenerateX25519Identity()
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, other.Recipient())
	w.Write([]byte("tresor: 1\ntype: secret\nvalue: FAKE\n"))
	w.Close()
	mustWrite(t, filepath.Join(f.dir, "global", "teammate", "not-for-me.age"), buf.Bytes())
	tok := f.client("h13", []string{"global"}, true, true)

	text := string(session)
	for k, v := range map[string]string{"@WRITE_TEXT_ENTRY": ToolRemember, "@READ_ENTRY": ToolGet, "@NAME_ARG": "name", "@VALUE_ARG": "text"} {
		text = strings.ReplaceAll(text, k, v)
	}
	cmd := f.command(tok, "mcp", "serve")
	stdin, _ := cmd.StdinPipe()
	stdoutPipe, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []byte, 100)
	go func() {
		sc := bufio.NewScanner(stdoutPipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
	}()
	responses := map[float64]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var msg map[string]any
		json.Unmarshal([]byte(l), &msg)
		stdin.Write([]byte(l + "\n"))
		id, hasID := msg["id"].(float64)
		for hasID && responses[id] == nil {
			line := waitFor(t, lines, "response to "+l[:40])
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil || m["jsonrpc"] != "2.0" {
				t.Fatalf("stdout line is not a JSON-RPC message: %.80q", line)
			}
			if rid, ok := m["id"].(float64); ok {
				responses[rid] = m
			}
		}
	}
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := waitFor(t, done, "exit after stdin closed"); err != nil {
		t.Fatalf("exit: %v (stderr %s)", err, stderr)
	}
	for l := range lines {
		// Notifications may still come (list_changed after the remember);
		// they too must be JSON-RPC messages.
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("stdout line is not a JSON-RPC message: %.80q", l)
		}
	}
	res := func(id float64) map[string]any { r, _ := responses[id]["result"].(map[string]any); return r }
	for _, tl := range res(2)["tools"].([]any) {
		if n := tl.(map[string]any)["name"].(string); !regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`).MatchString(n) {
			t.Fatalf("tool name %q", n)
		}
	}
	for _, id := range []float64{3, 4} {
		if res(id) == nil || res(id)["isError"] == true {
			t.Fatalf("id %v should succeed: %v", id, responses[id])
		}
	}
	if !strings.Contains(res(4)["content"].([]any)[0].(map[string]any)["text"].(string), "MIIBFAKE") {
		t.Fatal("id 4: PEM not returned")
	}
	for id, want := range map[float64]string{5: "not encrypted to your identity", 6: "no such entry"} {
		r := res(id)
		if r == nil || r["isError"] != true || !strings.Contains(r["content"].([]any)[0].(map[string]any)["text"].(string), want) {
			t.Fatalf("id %v should be a tool error saying %q: %v", id, want, responses[id])
		}
	}
	if _, isErr := responses[7]["error"]; !isErr {
		t.Fatalf("unknown tool should be a JSON-RPC error: %v", responses[7])
	}
	if responses[8] == nil {
		t.Fatal("ping unanswered")
	}
	if !strings.Contains(f.lastCommit(), "Tresor-Op: remember") {
		t.Fatal("id 3 not committed")
	}
}

// An identity that needs a passphrase, with no terminal: calls that need a
// value are tool errors at once; the server never waits on a prompt.
func TestStdioLockedIdentityNeverPrompts(t *testing.T) {
	f := newFixture(t)
	seed(f)
	tok := f.client("agent", []string{"global"}, true, false)
	plain, err := os.ReadFile(f.idPath)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := age.NewScryptRecipient("FAKE passphrase")
	if err != nil {
		t.Fatal(err)
	}
	sr.SetWorkFactor(10)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, sr)
	w.Write(plain)
	w.Close()
	locked := filepath.Join(filepath.Dir(f.idPath), "identity.age")
	if err := os.WriteFile(locked, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f.idPath = locked
	cs, _, stderr := f.stdioSession(tok, nil)
	defer cs.Close()
	refused(t, call(t, cs, ToolGet, map[string]any{"credential": "github"}), "identity cannot be unlocked")
	refused(t, call(t, cs, ToolList, nil), "identity cannot be unlocked", "never prompts")
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "never prompts") {
		t.Fatalf("stderr should say why: %s", stderr)
	}
}

// `tresor mcp serve --http` end to end: loopback only, bearer token,
// stops on SIGTERM.
func TestHTTPBinary(t *testing.T) {
	f := newFixture(t)
	seed(f)
	tok := f.client("http-agent", []string{"global"}, false, false)
	for _, bad := range []string{"0.0.0.0:0", "192.0.2.1:80", "example.com:80"} {
		cmd := f.command("", "mcp", "serve", "--http", bad)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "loopback") {
			t.Fatalf("--http %s: %v %s", bad, err, out)
		}
	}
	cmd := f.command("", "mcp", "serve", "--http", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`serving (http://127\.0\.0\.1:\d+/mcp)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	url := waitFor(t, addr, "serving line on stderr")
	if _, err := httpConnect(t, url, "tresor_"+strings.Repeat("c", 52)); err == nil {
		t.Fatal("unknown token connected")
	}
	cs, err := httpConnect(t, url, tok)
	if err != nil {
		t.Fatal(err)
	}
	out := ok[ListOut](t, call(t, cs, ToolList, nil))
	if len(out.Credentials) != 1 || out.Credentials[0].Ref != "global/github" {
		t.Fatalf("list over http: %+v", out)
	}
	cs.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := waitFor(t, done, "exit after SIGTERM"); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// A client that writes its requests and closes stdin at once (a script
// piping into tresor mcp serve) still gets every answer before the exit.
func TestStdioAnswersWhatWasReadBeforeEOF(t *testing.T) {
	f := newFixture(t)
	seed(f)
	tok := f.client("script", []string{"global"}, true, false)
	cmd := f.command(tok, "mcp", "serve")
	cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"s","version":"0"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_credentials","arguments":{}}}
{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_credential","arguments":{"credential":"github"}}}
`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	ids := map[float64]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %.60q", l)
		}
		if id, ok := m["id"].(float64); ok {
			ids[id] = true
		}
	}
	if !ids[1] || !ids[2] || !ids[3] {
		t.Fatalf("answers for %v, want 1, 2 and 3", ids)
	}
}
