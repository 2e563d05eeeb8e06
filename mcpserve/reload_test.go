package mcpserve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/codec"
)

// notes collects a client's notifications on channels.
type notes struct {
	resList, promptList chan struct{}
	updated             chan string
}

func newNotes() (*notes, *mcp.ClientOptions) {
	n := &notes{resList: make(chan struct{}, 100), promptList: make(chan struct{}, 100), updated: make(chan string, 100)}
	return n, &mcp.ClientOptions{
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { n.resList <- struct{}{} },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { n.promptList <- struct{}{} },
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			n.updated <- r.Params.URI
		},
	}
}

// watching starts the service with its watcher and a reload signal.
func (f *fixture) watching(o Options) chan struct{} {
	f.t.Helper()
	s := f.start(o)
	reloaded := make(chan struct{}, 100)
	s.reloaded = func() { reloaded <- struct{}{} }
	if err := s.Watch(); err != nil {
		f.t.Fatal(err)
	}
	return reloaded
}

func resourceURIs(t testing.TB, cs *mcp.ClientSession) []string {
	t.Helper()
	var out []string
	for r, err := range cs.Resources(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.URI)
	}
	return out
}

// handEdit encrypts a document straight into the work tree, as a user
// with age and an editor would, without tresor and without a commit.
func (f *fixture) handEdit(ref, doc string) {
	f.t.Helper()
	r := mustRef(f.t, ref)
	rs, err := f.v.Recipients(r.Scope)
	if err != nil {
		f.t.Fatal(err)
	}
	ct, err := codec.Encrypt([]byte(doc), rs, false)
	if err != nil {
		f.t.Fatal(err)
	}
	p := filepath.Join(f.dir, filepath.FromSlash(r.Path()))
	tmp := filepath.Join(filepath.Dir(p), "edit-tmp")
	mustWrite(f.t, tmp, ct)
	if err := os.Rename(tmp, p); err != nil {
		f.t.Fatal(err)
	}
}

func TestHotReloadAfterTresorSetAndHandEdit(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.put("global/memory/style", "memory", map[string]string{"text": "tabs"}, nil)
	f.watching(Options{})
	n, co := newNotes()
	tok := f.client("agent", []string{"global"}, true, false)
	cs := f.connect(tok, co)
	ctx := context.Background()
	if got := resourceURIs(t, cs); strings.Join(got, ",") != "tresor://global/memory/style" {
		t.Fatalf("resources: %v", got)
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "tresor://global/memory/style"}); err != nil {
		t.Fatal(err)
	}

	// `tresor set` in another process adds a prompt: prompts/list_changed.
	set := f.command("", "set", "review", "--type", "prompt", "--field", "arguments=pr")
	set.Stdin = strings.NewReader("Review {{pr}} carefully.")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("tresor set: %v %s", err, out)
	}
	waitFor(t, n.promptList, "prompts/list_changed after tresor set")
	gp, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "review", Arguments: map[string]string{"pr": "#7"}})
	if err != nil || gp.Messages[0].Content.(*mcp.TextContent).Text != "Review #7 carefully." {
		t.Fatalf("new prompt: %v %+v", err, gp)
	}

	// A hand edit of the subscribed memory: resources/updated, new text.
	f.handEdit("global/memory/style", "tresor: 1\ntype: memory\ntext: spaces, four of them\n")
	if uri := waitFor(t, n.updated, "resources/updated after a hand edit"); uri != "tresor://global/memory/style" {
		t.Fatalf("updated %s", uri)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "tresor://global/memory/style"})
	if err != nil || rr.Contents[0].Text != "spaces, four of them" {
		t.Fatalf("after hand edit: %v %+v", err, rr)
	}

	// A new credential value set by hand is served at once.
	f.handEdit("global/github", "tresor: 1\ntype: api_key\nvalue: ghp_FAKErotated000000000000000000000000000\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ok[GetOut](t, call(t, cs, ToolGet, map[string]any{"credential": "github"}))
		if got.Value == "ghp_FAKErotated000000000000000000000000000" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("edited credential never served")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A new memory file: resources/list_changed and it is listed.
	drain(n.resList)
	f.put("global/memory/new", "memory", map[string]string{"text": "fresh"}, nil)
	waitFor(t, n.resList, "resources/list_changed after a new memory")
	if got := resourceURIs(t, cs); len(got) != 2 {
		t.Fatalf("resources after add: %v", got)
	}

	// A broken file is skipped and reported; the rest keep serving.
	mustWrite(t, filepath.Join(f.dir, "global", "memory", "new.age"), []byte("age-encryption.org/v1\ngarbage"))
	waitFor(t, n.resList, "resources/list_changed after an entry broke")
	if got := resourceURIs(t, cs); strings.Join(got, ",") != "tresor://global/memory/style" {
		t.Fatalf("broken entry still listed: %v", got)
	}
	if !strings.Contains(f.stderr.String(), "global/memory/new") {
		t.Fatalf("broken entry not reported: %s", f.stderr)
	}
	refused(t, call(t, cs, ToolGet, map[string]any{"credential": "memory/new"}), "global/memory/new")

	// A removed entry disappears.
	os.Remove(filepath.Join(f.dir, "global", "memory", "style.age"))
	waitFor(t, n.resList, "resources/list_changed after rm")
	if got := resourceURIs(t, cs); len(got) != 0 {
		t.Fatalf("removed entry still listed: %v", got)
	}
}

func drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// Revoking a client makes the running server drop what it lists, with no
// restart, and refuse its calls.
func TestHotReloadRevocationDropsFeatures(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.put("global/memory/style", "memory", map[string]string{"text": "tabs"}, nil)
	reloaded := f.watching(Options{})
	n, co := newNotes()
	tok := f.client("agent", []string{"global"}, false, false)
	cs := f.connect(tok, co)
	if len(resourceURIs(t, cs)) != 1 {
		t.Fatal("memory not listed")
	}
	drain(reloaded)
	cmd := f.command("", "client", "revoke", "agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tresor client revoke: %v %s", err, out)
	}
	waitFor(t, n.resList, "resources/list_changed after revoke")
	if got := resourceURIs(t, cs); len(got) != 0 {
		t.Fatalf("revoked client still lists %v", got)
	}
	refused(t, call(t, cs, ToolList, nil), "revoked")
}

// A client on the 2026-07-28 revision (no initialize handshake) is served
// the same tools and sees a remembered memory as a resource.
func TestModernProtocol(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.proto = ""
	f.watching(Options{})
	cs := f.connect(f.client("agent", []string{"global"}, false, true), nil)
	ok[ListOut](t, call(t, cs, ToolList, nil))
	ok[RememberOut](t, call(t, cs, ToolRemember, map[string]any{"text": "modern", "name": "memory/m"}))
	if got := resourceURIs(t, cs); strings.Join(got, ",") != "tresor://global/memory/m" {
		t.Fatalf("resources: %v", got)
	}
}
