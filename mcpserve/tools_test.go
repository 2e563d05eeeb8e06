package mcpserve

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
)

const (
	fakeOpenAI  = "sk-test-FAKEopenai000000000000000000000000"
	fakeVenus   = "sk-test-FAKEvenus0000000000000000000000000"
	fakeGlobal  = "ghp_FAKEglobal0000000000000000000000000000"
	fakeGitHub  = "ghp_FAKEmcpgithub000000000000000000000000"
	fakeCanary  = "sk-test-FAKEcanary000000000000000000000000"
	fakeStripe  = "sk-test-FAKEstripe000000000000000000000000"
	fakeProject = "project:mercury"
)

// seed is a small vault: two projects, global, an mcp scope, a canary.
func seed(f *fixture) {
	f.put("projects/mercury/openai", "api_key", map[string]string{"value": fakeOpenAI, "description": "Mercury prod key"}, nil)
	f.put("projects/venus/openai", "api_key", map[string]string{"value": fakeVenus}, nil)
	f.put("global/github", "api_key", map[string]string{"value": fakeGlobal}, nil)
	f.put("mcp/github/token", "secret", map[string]string{"value": fakeGitHub}, nil)
	f.put("projects/mercury/stripe", "api_key", map[string]string{"value": fakeCanary, "service": "stripe", "canary": "true"}, nil)
}

var allSecrets = []string{fakeOpenAI, fakeVenus, fakeGlobal, fakeGitHub, fakeCanary}

func noSecrets(t testing.TB, what string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	for _, s := range allSecrets {
		if strings.Contains(string(b), s) || strings.Contains(string(b), s[8:24]) {
			t.Fatalf("%s leaks a secret value", what)
		}
	}
}

func TestToolSetIsFixedAndNamesAreValid(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	cs := f.connect(f.client("a", []string{"*"}, true, true), nil)
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`).MatchString(tool.Name) {
			t.Errorf("tool name %q breaks ^[a-zA-Z0-9_-]{1,64}$", tool.Name)
		}
		names = append(names, tool.Name)
		noSecrets(t, "tool description", tool)
	}
	want := []string{ToolForget, ToolGet, ToolHTTP, ToolList, ToolRecall, ToolRemember}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("tools = %v, want %v", names, want)
	}
}

func TestListCredentialsFollowsGrantsAndShowsNoValues(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	merc := f.connect(f.client("merc", []string{fakeProject}, false, false), nil)

	res := call(t, merc, ToolList, nil)
	out := ok[ListOut](t, res)
	noSecrets(t, "list_credentials", res)
	var refs []string
	for _, c := range out.Credentials {
		refs = append(refs, c.Ref)
	}
	if strings.Join(refs, ",") != "projects/mercury/openai,projects/mercury/stripe" {
		t.Fatalf("mercury client sees %v", refs)
	}
	c := out.Credentials[0]
	if c.Type != "api_key" || c.Service != "openai" || c.Env != "OPENAI_API_KEY" || c.Description != "Mercury prod key" ||
		len(c.Hosts) != 1 || c.Hosts[0] != "api.openai.com" || c.LastRotated == "" || c.Status != "ok" {
		t.Fatalf("metadata: %+v", c)
	}

	// Asking for a scope outside the grants is refused and logged.
	refused(t, call(t, merc, ToolList, map[string]any{"scope": "project:venus"}), "no list grant", "project:venus")
	refused(t, call(t, merc, ToolList, map[string]any{"scope": "../../etc"}), "invalid scope")

	// mcp:<server> entries appear only when that scope is asked for by name.
	all := f.connect(f.client("all", []string{"*"}, false, false), nil)
	out = ok[ListOut](t, call(t, all, ToolList, nil))
	for _, c := range out.Credentials {
		if strings.HasPrefix(c.Ref, "mcp/") {
			t.Fatalf("mcp entry listed without asking: %s", c.Ref)
		}
	}
	if len(out.Credentials) != 4 {
		t.Fatalf("all client sees %d entries, want 4", len(out.Credentials))
	}
	out = ok[ListOut](t, call(t, all, ToolList, map[string]any{"scope": "mcp:github"}))
	if len(out.Credentials) != 1 || out.Credentials[0].Ref != "mcp/github/token" {
		t.Fatalf("mcp scope: %+v", out.Credentials)
	}
	out = ok[ListOut](t, call(t, all, ToolList, map[string]any{"type": "secret", "scope": "mcp:github"}))
	if len(out.Credentials) != 1 {
		t.Fatalf("type filter: %+v", out.Credentials)
	}

	var denied int
	for _, r := range f.records("merc") {
		if r.Op == ToolList && r.Result == access.ResultDenied {
			denied++
		}
	}
	if denied != 2 {
		t.Fatalf("denied list attempts logged: %d, want 2", denied)
	}
}

func TestGetCredentialNeedsRevealOnThatScope(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	noReveal := f.connect(f.client("nor", []string{fakeProject}, false, false), nil)
	reveal := f.connect(f.client("rev", []string{fakeProject}, true, false), nil)

	res := call(t, noReveal, ToolGet, map[string]any{"credential": "projects/mercury/openai"})
	refused(t, res, "no reveal grant", "projects/mercury/openai")
	noSecrets(t, "refused get", res)

	got := ok[GetOut](t, call(t, reveal, ToolGet, map[string]any{"credential": "projects/mercury/openai"}))
	if got.Value != fakeOpenAI {
		t.Fatal("reveal client did not get the value")
	}
	// Another project, even by full reference, stays closed: with no grant
	// there at all, it looks absent.
	refused(t, call(t, reveal, ToolGet, map[string]any{"credential": "projects/venus/openai"}), "projects/venus/openai: no such entry")
	// Hostile names: traversal, control characters, huge.
	for _, bad := range []string{"../../x", "projects/mercury/../venus/openai", "a\x00b", strings.Repeat("a", 5000), "global/.git/config", ""} {
		res := call(t, reveal, ToolGet, map[string]any{"credential": bad})
		if !res.IsError {
			t.Fatalf("get_credential(%.30q) succeeded", bad)
		}
		noSecrets(t, "hostile get", res)
	}
	// A field that does not exist; a field that does.
	refused(t, call(t, reveal, ToolGet, map[string]any{"credential": "projects/mercury/openai", "field": "nope"}), "has no field")
	got = ok[GetOut](t, call(t, reveal, ToolGet, map[string]any{"credential": "projects/mercury/openai", "field": "description"}))
	if got.Value != "Mercury prod key" {
		t.Fatalf("field: %q", got.Value)
	}
	// Unknown arguments are refused by the schema.
	if res, err := reveal.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolGet, Arguments: map[string]any{"credential": "openai", "evil": 1}}); err == nil && !res.IsError {
		t.Fatal("unknown argument accepted")
	}

	recs := f.records("rev")
	var okRec *access.Record
	for i := range recs {
		if recs[i].Op == ToolGet && recs[i].Result == access.ResultOK && recs[i].Ref == "projects/mercury/openai" && recs[i].Field == "value" {
			okRec = &recs[i]
		}
	}
	if okRec == nil || okRec.FP == "" {
		t.Fatalf("reveal not logged with a fingerprint: %+v", recs)
	}
	if got := f.records("nor"); len(got) == 0 || got[0].Result != access.ResultDenied {
		t.Fatalf("denied reveal not logged: %+v", got)
	}
	data, _ := os.ReadFile(f.log.Path())
	for _, s := range allSecrets {
		if strings.Contains(string(data), s) {
			t.Fatal("read log holds a secret")
		}
	}
}

func TestBareNamesResolveMostSpecificVisible(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.put("global/openai", "api_key", map[string]string{"value": fakeStripe}, nil)
	f.start(Options{Project: "mercury"})
	merc := f.connect(f.client("merc", []string{fakeProject, "global"}, true, false), nil)
	if got := ok[GetOut](t, call(t, merc, ToolGet, map[string]any{"credential": "openai"})); got.Value != fakeOpenAI {
		t.Fatal("project entry should win over global")
	}
	glob := f.connect(f.client("glob", []string{"global"}, true, false), nil)
	if got := ok[GetOut](t, call(t, glob, ToolGet, map[string]any{"name": "openai"})); got.Value != fakeStripe {
		t.Fatal("a client without the project grant should get the global entry")
	}
	// The project entry exists, but glob holds no grant there: absent to it.
	refused(t, call(t, glob, ToolGet, map[string]any{"credential": "stripe"}), "stripe: no such entry")
	refused(t, call(t, glob, ToolGet, map[string]any{"credential": "does/not/exist"}), "no such entry")
}

func TestCanaryReadIsAnAlert(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	cs := f.connect(f.client("agent", []string{fakeProject}, true, false), nil)
	out := ok[ListOut](t, call(t, cs, ToolList, nil))
	for _, c := range out.Credentials {
		if strings.Contains(strings.ToLower(c.Description+c.Status), "canary") {
			t.Fatal("a canary must look like any other entry")
		}
	}
	if got := ok[GetOut](t, call(t, cs, ToolGet, map[string]any{"credential": "projects/mercury/stripe"})); got.Value != fakeCanary {
		t.Fatal("canary read should succeed as usual")
	}
	var alert bool
	for _, r := range f.records("agent") {
		if r.Ref == "projects/mercury/stripe" && r.Result == access.ResultAlert {
			alert = true
		}
	}
	if !alert {
		t.Fatal("canary read not logged as an alert")
	}
	if !strings.Contains(f.stderr.String(), "canary") {
		t.Fatal("no alert on stderr")
	}
}

func TestRevokedClientRefusedWhileConnected(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	cs := f.connect(f.client("agent", []string{fakeProject}, true, false), nil)
	ok[ListOut](t, call(t, cs, ToolList, nil))
	// Revoked by another process (`tresor client revoke`).
	if err := access.OpenRegistry(f.v.StateDir()).Revoke("agent", time.Now()); err != nil {
		t.Fatal(err)
	}
	for tool, args := range map[string]map[string]any{
		ToolList:     nil,
		ToolGet:      {"credential": "openai"},
		ToolRecall:   nil,
		ToolRemember: {"text": "x"},
		ToolForget:   {"ref": "x"},
		ToolHTTP:     {"credential": "openai", "method": "GET", "url": "https://api.openai.com/v1/models"},
	} {
		refused(t, call(t, cs, tool, args), "revoked")
	}
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatalf("ping after refusals: %v", err)
	}
	var denied int
	for _, r := range f.records("agent") {
		if r.Result == access.ResultDenied {
			denied++
		}
	}
	if denied != 6 {
		t.Fatalf("denied calls logged: %d, want 6", denied)
	}
	if _, err := f.svc.ServerFor("tresor_nope"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestRememberRecallForget(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{Project: "mercury"})
	w := f.connect(f.client("writer", []string{fakeProject}, false, true), nil)
	ro := f.connect(f.client("reader", []string{fakeProject}, false, false), nil)

	got := ok[RememberOut](t, call(t, w, ToolRemember, map[string]any{"text": "FAKE note: user prefers tabs.\nSecond line.", "name": "memory/style", "tags": []string{"style"}}))
	if got.Ref != "projects/mercury/memory/style" {
		t.Fatalf("ref = %s", got.Ref)
	}
	msg := f.lastCommit()
	for _, want := range []string{"Tresor-Op: remember", "Tresor-Entry: projects/mercury/memory/style", "Tresor-Client: writer", "Tresor-Type: memory"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("commit message lacks %q:\n%s", want, msg)
		}
	}
	auto := ok[RememberOut](t, call(t, w, ToolRemember, map[string]any{"text": "second thing"}))
	if !strings.HasPrefix(auto.Ref, "projects/mercury/memory/") {
		t.Fatalf("default name: %s", auto.Ref)
	}

	mem := ok[RecallOut](t, call(t, ro, ToolRecall, map[string]any{"query": "TABS"}))
	if len(mem.Memories) != 1 || mem.Memories[0].Ref != got.Ref || mem.Memories[0].Tags[0] != "style" {
		t.Fatalf("recall: %+v", mem)
	}
	if mem := ok[RecallOut](t, call(t, ro, ToolRecall, map[string]any{"tags": []string{"nope"}})); len(mem.Memories) != 0 {
		t.Fatalf("tag filter: %+v", mem)
	}
	if mem := ok[RecallOut](t, call(t, ro, ToolRecall, map[string]any{"limit": 1})); len(mem.Memories) != 1 {
		t.Fatalf("limit: %+v", mem)
	}

	// No write grant: refused. A memory never overwrites a credential.
	refused(t, call(t, ro, ToolRemember, map[string]any{"text": "x"}), "no write grant")
	refused(t, call(t, w, ToolRemember, map[string]any{"text": "x", "name": "openai"}), "api_key")
	refused(t, call(t, w, ToolRemember, map[string]any{"text": "x", "name": "projects/venus/memory/x"}), "no write grant")
	refused(t, call(t, w, ToolRemember, map[string]any{"text": "  "}), "empty")
	refused(t, call(t, w, ToolRemember, map[string]any{"text": "x", "name": "../../escape"}))
	refused(t, call(t, w, ToolForget, map[string]any{"ref": "projects/mercury/openai"}), "forget only removes memories")
	refused(t, call(t, ro, ToolForget, map[string]any{"ref": got.Ref}), "no write grant")
	if _, err := f.v.Load(mustRef(t, "projects/mercury/openai"), f.kr); err != nil {
		t.Fatalf("credential damaged by refused calls: %v", err)
	}

	ok[ForgetOut](t, call(t, w, ToolForget, map[string]any{"ref": got.Ref}))
	if !strings.Contains(f.lastCommit(), "Tresor-Client: writer") || f.v.Exists(mustRef(t, got.Ref)) {
		t.Fatal("forget did not commit a removal naming the client")
	}
	if mem := ok[RecallOut](t, call(t, ro, ToolRecall, map[string]any{"query": "tabs"})); len(mem.Memories) != 0 {
		t.Fatalf("forgotten memory still recalled: %+v", mem)
	}
}

func TestPromptsAndResources(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.put("global/review", "prompt", map[string]string{"text": "Review {{ pr }} for {{topic}}.", "description": "code review"}, map[string][]string{"arguments": {"pr", "topic"}})
	f.put("projects/mercury/review", "prompt", map[string]string{"text": "Mercury review of {{pr}}."}, map[string][]string{"arguments": {"pr"}})
	f.put("projects/mercury/snippets/q", "snippet", map[string]string{"text": "SELECT 1;", "language": "sql"}, nil)
	f.put("projects/venus/memory/secret-plan", "memory", map[string]string{"text": "venus only"}, nil)
	f.start(Options{Project: "mercury"})
	cs := f.connect(f.client("agent", []string{fakeProject, "global"}, false, false), nil)
	ctx := context.Background()

	var prompts []*mcp.Prompt
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p)
	}
	if len(prompts) != 1 || prompts[0].Name != "review" || prompts[0].Title != "projects/mercury/review" || len(prompts[0].Arguments) != 1 {
		t.Fatalf("prompts: the project prompt should shadow the global one: %+v", prompts)
	}
	gp, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "review", Arguments: map[string]string{"pr": "#42 {{topic}}"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := gp.Messages[0].Content.(*mcp.TextContent).Text; got != "Mercury review of #42 {{topic}}." {
		t.Fatalf("prompt text: %q", got)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "review"}); err == nil {
		t.Fatal("missing argument accepted")
	}

	var uris []string
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, r.URI)
	}
	if strings.Join(uris, ",") != "tresor://projects/mercury/snippets/q" {
		t.Fatalf("resources: %v", uris)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uris[0]})
	if err != nil || rr.Contents[0].Text != "SELECT 1;" {
		t.Fatalf("read resource: %v %+v", err, rr)
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "tresor://projects/venus/memory/secret-plan"}); err == nil {
		t.Fatal("read a resource outside the grants")
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "tresor://projects/venus/memory/secret-plan"}); err == nil {
		t.Fatal("subscribed outside the grants")
	}
}

func TestBrokenEntriesAreSkippedAndReported(t *testing.T) {
	f := newFixture(t)
	seed(f)
	// An entry encrypted to a teammate only, and a truncated one.
	other, _ := age.GenerateX25519Identity()
	var buf strings.Builder
	w, _ := age.Encrypt(&writerFunc{&buf}, other.Recipient())
	w.Write([]byte("tresor: 1\ntype: secret\nvalue: sk-test-FAKEteammate\n"))
	w.Close()
	mustWrite(t, filepath.Join(f.dir, "global", "teammate", "not-for-me.age"), []byte(buf.String()))
	good, _ := os.ReadFile(filepath.Join(f.dir, "global", "github.age"))
	mustWrite(t, filepath.Join(f.dir, "global", "cut.age"), good[:len(good)-20])

	f.start(Options{})
	errs := f.stderr.String()
	if !strings.Contains(errs, "global/teammate/not-for-me") || !strings.Contains(errs, "global/cut") || strings.Contains(errs, "sk-test") {
		t.Fatalf("stderr should report both, without values:\n%s", errs)
	}
	cs := f.connect(f.client("agent", []string{"global"}, true, false), nil)
	refused(t, call(t, cs, ToolGet, map[string]any{"credential": "teammate/not-for-me"}), "not encrypted to your identity")
	refused(t, call(t, cs, ToolGet, map[string]any{"credential": "cut"}), "global/cut")
	if got := ok[GetOut](t, call(t, cs, ToolGet, map[string]any{"credential": "github"})); got.Value != fakeGlobal {
		t.Fatal("the rest should keep serving")
	}
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestLockedIdentityGivesErrorResults(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{Keyring: nil, KeyErr: errors.New("identity cannot be unlocked (the MCP server never prompts; it has no terminal): passphrase-protected")})
	cs := f.connect(f.client("agent", []string{"global"}, true, false), nil)
	refused(t, call(t, cs, ToolGet, map[string]any{"credential": "github"}), "identity cannot be unlocked")
	// Listing tools must not answer "nothing" as if the vault were empty.
	refused(t, call(t, cs, ToolList, nil), "identity cannot be unlocked", "passphrase-protected")
	refused(t, call(t, cs, ToolList, map[string]any{"scope": "global"}), "identity cannot be unlocked")
	refused(t, call(t, cs, ToolRecall, map[string]any{"query": "x"}), "identity cannot be unlocked")
	var errs int
	for _, r := range f.records("agent") {
		if (r.Op == ToolList || r.Op == ToolRecall) && r.Result == access.ResultError {
			errs++
		}
	}
	if errs != 3 {
		t.Fatalf("locked list/recall not logged as errors: %+v", f.records("agent"))
	}
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestReadLogFailureRefusesTheCall(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	cs := f.connect(f.client("agent", []string{"global"}, true, false), nil)
	ok[GetOut](t, call(t, cs, ToolGet, map[string]any{"credential": "github"}))
	// A damaged log: Append refuses, so the read must be refused.
	fh, _ := os.OpenFile(f.log.Path(), os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("garbage-not-a-record\n")
	fh.Close()
	res := call(t, cs, ToolGet, map[string]any{"credential": "github"})
	refused(t, res, "read log")
	noSecrets(t, "refused read", res)
}

type writerFunc struct{ b *strings.Builder }

func (w *writerFunc) Write(p []byte) (int, error) { return w.b.Write(p) }

func mustWrite(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
