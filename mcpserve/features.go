package mcpserve

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/repo"
)

// clientServer is one client's *mcp.Server and what is registered on it.
type clientServer struct {
	svc    *Service
	name   string
	token  string
	server *mcp.Server

	// registered prompts (name -> item path and version) and resources
	// (uri -> version); guarded by svc.syncMu.
	prompts   map[string]registered
	resources map[string]registered
}

type registered struct {
	path    string
	version uint64
}

func (s *Service) newClientServer(name, token string) *clientServer {
	cs := &clientServer{svc: s, name: name, token: token, prompts: map[string]registered{}, resources: map[string]registered{}}
	cs.server = mcp.NewServer(&mcp.Implementation{Name: "tresor", Title: "tresor vault", Version: s.opt.Version}, &mcp.ServerOptions{
		Instructions: "tresor is the user's credential vault. Use http_request to call an API with a stored credential: " +
			"the vault injects the key and you never see it. list_credentials shows what exists. " +
			"Memories and snippets are resources; saved prompts are prompts.",
		Capabilities: &mcp.ServerCapabilities{
			Tools:     &mcp.ToolCapabilities{ListChanged: false},
			Prompts:   &mcp.PromptCapabilities{ListChanged: true},
			Resources: &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
		},
		SubscribeHandler:   cs.subscribe,
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	cs.server.AddReceivingMiddleware(s.countInflight)
	cs.addTools()
	return cs
}

// promptNameRe is what a prompt name may hold; anything else becomes "_".
var promptNameRe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// promptName is the MCP name of a prompt entry: its name within its scope,
// made safe. When two scopes hold the same name the most specific wins.
func promptName(r repo.Ref) string {
	return promptNameRe.ReplaceAllString(strings.ReplaceAll(r.Name, "/", "."), "_")
}

// rank orders scopes for name clashes: project, device, global.
func (cs *clientServer) rank(sc repo.Scope) int {
	switch {
	case sc.Kind == repo.Project && sc.Name == cs.svc.opt.Project:
		return 4
	case sc.Kind == repo.Project:
		return 3
	case sc.Kind == repo.Device:
		return 2
	case sc.Kind == repo.Global:
		return 1
	}
	return 0
}

// sync makes the server's prompts and resources match the snapshot as the
// client c may list it (nil: nothing). Changed resources that stay get
// resources/updated; the SDK sends list_changed for adds and removes.
func (cs *clientServer) sync(c *access.Client) {
	wantPrompts := map[string]*item{}
	wantRes := map[string]*item{}
	if c != nil {
		for _, it := range cs.svc.snap.all() {
			if it.entry == nil || it.ref.Scope.Kind == repo.MCP || !c.Allows(access.PermList, it.ref.Scope.String()) {
				continue
			}
			switch it.entry.Type {
			case typePrompt:
				n := promptName(it.ref)
				if old, ok := wantPrompts[n]; ok && cs.rank(old.ref.Scope) >= cs.rank(it.ref.Scope) {
					continue
				}
				wantPrompts[n] = it
			case typeMemory, typeSnippet:
				wantRes[it.ref.URL()] = it
			}
		}
	}
	var drop []string
	for n := range cs.prompts {
		if _, ok := wantPrompts[n]; !ok {
			drop = append(drop, n)
			delete(cs.prompts, n)
		}
	}
	if len(drop) > 0 {
		cs.server.RemovePrompts(drop...)
	}
	for _, n := range sortedKeys(wantPrompts) {
		it := wantPrompts[n]
		reg := registered{path: it.path, version: it.version}
		if cs.prompts[n] == reg {
			continue
		}
		cs.prompts[n] = reg
		cs.server.AddPrompt(cs.promptOf(n, it), cs.getPrompt(it.ref))
	}
	drop = drop[:0]
	for u := range cs.resources {
		if _, ok := wantRes[u]; !ok {
			drop = append(drop, u)
			delete(cs.resources, u)
		}
	}
	if len(drop) > 0 {
		cs.server.RemoveResources(drop...)
	}
	var updated []string
	for _, u := range sortedKeys(wantRes) {
		it := wantRes[u]
		reg := registered{path: it.path, version: it.version}
		old, had := cs.resources[u]
		if had && old == reg {
			continue
		}
		cs.resources[u] = reg
		cs.server.AddResource(cs.resourceOf(u, it), cs.readResource(it.ref))
		if had {
			updated = append(updated, u)
		}
	}
	for _, u := range updated {
		cs.server.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: u})
	}
}

func (cs *clientServer) promptOf(name string, it *item) *mcp.Prompt {
	p := &mcp.Prompt{Name: name, Title: it.ref.String(), Description: it.entry.Fields["description"]}
	for _, a := range it.entry.Lists["arguments"] {
		p.Arguments = append(p.Arguments, &mcp.PromptArgument{Name: a, Required: true})
	}
	return p
}

func (cs *clientServer) resourceOf(uri string, it *item) *mcp.Resource {
	mime := "text/plain"
	if it.entry.Type == typeMemory {
		mime = "text/markdown"
	}
	return &mcp.Resource{
		URI:         uri,
		Name:        it.ref.String(),
		Title:       it.entry.Type + " " + it.ref.Name,
		Description: it.entry.Fields["description"],
		MIMEType:    mime,
		Size:        int64(len(it.entry.Fields["text"])),
	}
}

// current looks an entry up again at call time and checks the client may
// still list it; the refusal is logged.
func (cs *clientServer) current(op string, ref repo.Ref) (*item, error) {
	c, err := cs.begin(op)
	if err != nil {
		return nil, err
	}
	if !c.Allows(access.PermList, ref.Scope.String()) {
		return nil, cs.deny(op, ref.String(), fmt.Sprintf("client %s has no list grant on scope %s", c.Name, ref.Scope))
	}
	it, ok := cs.svc.snap.get(ref)
	if !ok || it.entry == nil {
		return nil, cs.fail(op, ref.String(), fmt.Errorf("%s: %w", ref, errNoEntry))
	}
	return it, nil
}

func (cs *clientServer) getPrompt(ref repo.Ref) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		it, err := cs.current("prompt", ref)
		if err != nil {
			return nil, err
		}
		text := it.entry.Fields["text"]
		for _, a := range it.entry.Lists["arguments"] {
			v, ok := req.Params.Arguments[a]
			if !ok {
				return nil, fmt.Errorf("prompt %s: argument %q is required", promptName(ref), a)
			}
			text = placeholder(a).ReplaceAllLiteralString(text, v)
		}
		if err := cs.svc.record(access.Record{Client: cs.name, Op: "prompt", Ref: ref.String(), Result: access.ResultOK}); err != nil {
			return nil, err
		}
		return &mcp.GetPromptResult{
			Description: it.entry.Fields["description"],
			Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
		}, nil
	}
}

// placeholder matches {{name}} with optional spaces, as schemas validates.
func placeholder(name string) *regexp.Regexp {
	return regexp.MustCompile(`\{\{\s*` + regexp.QuoteMeta(name) + `\s*\}\}`)
}

func (cs *clientServer) readResource(ref repo.Ref) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		it, err := cs.current("resource", ref)
		if err != nil {
			return nil, err
		}
		if err := cs.svc.record(access.Record{Client: cs.name, Op: "resource", Ref: ref.String(), Result: access.ResultOK}); err != nil {
			return nil, err
		}
		mime := "text/plain"
		if it.entry.Type == typeMemory {
			mime = "text/markdown"
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: mime, Text: it.entry.Fields["text"]}}}, nil
	}
}

// subscribe lets a client follow a resource it may list.
func (cs *clientServer) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	ref, err := repo.ParseRef(req.Params.URI)
	if err != nil {
		return fmt.Errorf("not a tresor resource: %v", oneLine(err.Error()))
	}
	_, err = cs.current("subscribe", ref)
	return err
}
