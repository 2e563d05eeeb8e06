package mcpserve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/broker"
	"github.com/tresor-dev/tresor/repo"
)

// HTTPIn is http_request's arguments.
type HTTPIn struct {
	Credential string            `json:"credential" jsonschema:"the entry whose key the vault injects (reference or name)"`
	Method     string            `json:"method" jsonschema:"GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"`
	URL        string            `json:"url" jsonschema:"full URL; its host must be one of the entry's hosts"`
	Headers    map[string]string `json:"headers,omitempty" jsonschema:"extra request headers (never the credential's own header)"`
	Body       string            `json:"body,omitempty" jsonschema:"request body"`
}

// HTTPOut is http_request's result: the response, scrubbed of the secret.
type HTTPOut struct {
	Status    int               `json:"status"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Redacted  int               `json:"redacted"`
	Encoding  string            `json:"encoding,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
}

func (cs *clientServer) addHTTPTool() {
	mcp.AddTool(cs.server, &mcp.Tool{
		Name: ToolHTTP,
		Description: "Make an HTTPS request with a vault credential injected by the vault (you never see it). " +
			"Only to the credential's own hosts; redirects are returned, not followed; the response is scrubbed of the secret.",
		Annotations: &mcp.ToolAnnotations{OpenWorldHint: boolp(true), DestructiveHint: boolp(true)},
	}, cs.httpRequest)
}

func (cs *clientServer) httpRequest(ctx context.Context, req *mcp.CallToolRequest, in HTTPIn) (*mcp.CallToolResult, HTTPOut, error) {
	c, err := cs.begin(ToolHTTP)
	if err != nil {
		return nil, HTTPOut{}, err
	}
	it, err := cs.resolve(c, ToolHTTP, in.Credential, access.PermUse)
	if err != nil {
		return nil, HTTPOut{}, err
	}
	if err := cs.usable(ToolHTTP, it); err != nil {
		return nil, HTTPOut{}, err
	}
	ref := it.ref.String()
	cat, err := cs.svc.opt.Vault.Catalog()
	if err != nil {
		return nil, HTTPOut{}, cs.fail(ToolHTTP, ref, err)
	}
	last := lastSegment(it.ref.Name)
	hosts := cat.Hosts(it.entry, last)
	host, err := broker.CheckURL(hosts, in.URL)
	if err != nil {
		// A request to anywhere else is what an injected prompt would try.
		return nil, HTTPOut{}, cs.deny(ToolHTTP, ref, oneLine(err.Error()))
	}
	auth, err := cat.Auth(it.entry, last)
	if err != nil {
		return nil, HTTPOut{}, cs.fail(ToolHTTP, ref, fmt.Errorf("%s: %v", ref, err))
	}
	field := it.typ.Primary
	if it.entry.Type == "oauth" {
		if it, err = cs.svc.freshOAuth(ctx, it, c.Name); err != nil {
			return nil, HTTPOut{}, cs.fail(ToolHTTP, ref, err)
		}
		field = "access_token"
	}
	secret := []byte(it.entry.Fields[field])
	if len(secret) == 0 {
		return nil, HTTPOut{}, cs.fail(ToolHTTP, ref, fmt.Errorf("%s: has no %s to send", ref, field))
	}
	result := access.ResultOK
	if it.canary() {
		result = access.ResultAlert
	}
	rec := access.Record{Client: c.Name, Op: ToolHTTP, Ref: ref, Field: field, FP: cs.svc.opt.Log.Fingerprint(ref, field, secret), Result: result, Detail: host}
	// Logged before the secret leaves: if the record cannot be written, the
	// call is refused.
	if err := cs.svc.record(rec); err != nil {
		return nil, HTTPOut{}, err
	}
	if it.canary() {
		cs.svc.logf("alert: client %s used canary entry %s (to %s)", c.Name, ref, host)
	}
	resp, err := cs.svc.broker.Do(ctx, broker.Credential{Ref: ref, Secret: secret, Hosts: hosts, Auth: auth}, broker.Request{Method: in.Method, URL: in.URL, Headers: in.Headers, Body: in.Body})
	if err != nil {
		cs.svc.record(access.Record{Client: c.Name, Op: ToolHTTP, Ref: ref, Result: access.ResultError, Detail: clip(host+": "+oneLine(err.Error()), 300)})
		return nil, HTTPOut{}, errors.New(oneLine(err.Error()))
	}
	out := HTTPOut{Status: resp.Status, Headers: resp.Headers, Body: resp.Body, Redacted: resp.Redacted, Encoding: resp.Encoding, Truncated: resp.Truncated}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	return nil, out, nil
}

// freshOAuth returns the entry with a usable access token: when it has
// none or it has expired, the tokens are refreshed at the entry's
// token_url and committed (a new refresh token is a rotation), then the
// snapshot item is re-read.
func (s *Service) freshOAuth(ctx context.Context, it *item, client string) (*item, error) {
	e := it.entry
	if e.Fields["access_token"] != "" {
		exp, err := time.Parse(time.RFC3339, e.Fields["expires_at"])
		if e.Fields["expires_at"] == "" || (err == nil && s.opt.Clock().Add(30*time.Second).Before(exp)) {
			return it, nil
		}
	}
	if e.Fields["token_url"] == "" || e.Fields["refresh_token"] == "" {
		return nil, fmt.Errorf("%s: access token expired and the entry has no token_url and refresh_token to renew it", it.ref)
	}
	tok, err := broker.Refresh(ctx, s.broker, e.Fields["token_url"], e.Fields["client_id"], []byte(e.Fields["client_secret"]), []byte(e.Fields["refresh_token"]))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", it.ref, oneLine(err.Error()))
	}
	ne := e.Clone()
	ne.Set("access_token", string(tok.AccessToken))
	rotated := string(tok.RefreshToken) != e.Fields["refresh_token"]
	if rotated {
		ne.Set("refresh_token", string(tok.RefreshToken))
	}
	if tok.ExpiresAt.IsZero() {
		ne.Delete("expires_at")
	} else {
		ne.Set("expires_at", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	op := "meta"
	if rotated {
		op = "rotate"
	}
	msg := repo.Message{Op: op, Summary: "refresh " + it.ref.String() + " (oauth)", Entries: []string{it.ref.String()}, Type: "oauth", ValueChanged: rotated, Client: client}
	if err := s.write(it.ref, ne, msg); err != nil {
		return nil, fmt.Errorf("%s: saving refreshed tokens: %v", it.ref, oneLine(err.Error()))
	}
	if fresh, ok := s.snap.get(it.ref); ok && fresh.entry != nil {
		return fresh, nil
	}
	return &item{ref: it.ref, path: it.path, entry: ne, typ: it.typ}, nil
}
