// Package mcpserve is tresor's MCP server: a fixed set of tools
// (list_credentials, http_request, get_credential, remember, recall,
// forget), the vault's prompt entries as MCP prompts and its memories and
// snippets as resources, all over a snapshot of the working tree that is
// decrypted once and kept current by watching the tree.
//
// Each client (a token in the access registry) gets its own *mcp.Server
// holding only what its grants let it list. Grants are checked again on
// every call, against the registry as it is on disk at that moment, and
// every call is written to the read log. Nothing here writes to stdout.
package mcpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/broker"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/watch"
)

// Options are what a Service needs from its caller.
type Options struct {
	Vault *repo.Vault
	// Keyring decrypts entries. When nil, KeyErr says why (for example an
	// identity that needs a passphrase and no terminal to ask on): the
	// server still runs, and every call that needs a value says so.
	Keyring *codec.Keyring
	KeyErr  error
	// Registry holds the clients and their grants.
	Registry *access.Registry
	// Log is the read log every call is recorded in.
	Log *access.Log
	// Project is the project of the directory the server runs in (from
	// .tresor.yaml), or "": bare names resolve there first, and remember
	// writes there.
	Project string
	// Author signs commits made through the server.
	Author func() gitdb.Signature
	// Clock is the time source.
	Clock func() time.Time
	// Stderr receives diagnostics: skipped entries, reloads. Never stdout.
	Stderr io.Writer
	// Version is reported to clients.
	Version string
	// Debounce is the watcher's quiet period (default 100ms).
	Debounce time.Duration
	// Broker makes http_request's calls and OAuth refreshes; nil means
	// broker.New with its defaults.
	Broker *broker.Broker
}

// Service serves one vault to any number of clients.
type Service struct {
	opt    Options
	snap   *snapshot
	broker *broker.Broker

	writeMu sync.Mutex // serialises commits made through the server
	oauthMu sync.Mutex // serialises OAuth refreshes

	mu      sync.Mutex
	clients map[string]*clientServer // by client name
	rotated map[string]repo.Rotation // by path; nil until first needed
	closed  bool

	inflight atomic.Int64 // requests being handled, for drainReader

	syncMu  sync.Mutex // serialises feature syncs
	watcher *watch.Watcher
	// reloaded receives a value after every reload (tests, benchmarks).
	reloaded func()
}

// New loads the snapshot of the working tree (decrypting every entry once,
// in parallel) and returns a Service. Entries that fail are reported on
// Stderr and skipped.
func New(o Options) (*Service, error) {
	if o.Vault == nil || o.Registry == nil || o.Log == nil {
		return nil, errors.New("mcpserve: Options need Vault, Registry and Log")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Author == nil {
		o.Author = func() gitdb.Signature {
			return gitdb.Signature{Name: "tresor", Email: o.Vault.Device + "@tresor.local", When: o.Clock()}
		}
	}
	if o.Keyring == nil && o.KeyErr == nil {
		o.KeyErr = errors.New("no identity loaded")
	}
	s := &Service{opt: o, broker: o.Broker, clients: map[string]*clientServer{}}
	if s.broker == nil {
		s.broker = broker.New(broker.Options{})
	}
	s.snap = newSnapshot(o.Vault, o.Keyring, o.KeyErr, s.logf)
	s.snap.load()
	return s, nil
}

// logf writes one diagnostic line to Stderr.
func (s *Service) logf(format string, args ...any) {
	fmt.Fprintf(s.opt.Stderr, "tresor mcp: "+format+"\n", args...)
}

// Watch starts watching the working tree and the registry: changed entries
// are re-read and every client's prompts and resources re-registered. It
// returns once the watch is in place.
func (s *Service) Watch() error {
	w, err := watch.New(s.opt.Vault.Dir, watch.Options{
		Debounce: s.opt.Debounce,
		Logf:     s.logf,
		Ignore: func(rel string, isDir bool) bool {
			// Only the scope directories hold entries.
			top, _, _ := cutSlash(rel)
			switch top {
			case "global", "projects", "devices", "mcp":
				return false
			}
			return true
		},
	})
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.opt.Vault.Dir, err)
	}
	s.mu.Lock()
	s.watcher = w
	s.mu.Unlock()
	go s.watchLoop(w)
	return nil
}

func cutSlash(p string) (string, string, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

func (s *Service) watchLoop(w *watch.Watcher) {
	for ch := range w.Changes() {
		s.apply(ch)
	}
}

// apply handles one batch of changes from the watcher.
func (s *Service) apply(ch watch.Change) {
	var entryPaths []string
	clients := false
	for _, p := range ch.Paths {
		if p == ".git/tresor/clients.yaml" {
			clients = true
			continue
		}
		entryPaths = append(entryPaths, p)
	}
	if ch.Refs {
		s.mu.Lock()
		s.rotated = nil
		s.mu.Unlock()
	}
	changed := false
	if ch.Rescan {
		changed = s.snap.apply(s.snap.scan(), false)
		clients = true
	} else if len(entryPaths) > 0 {
		jobs, rescan := s.snap.paths(entryPaths)
		if rescan {
			jobs = s.snap.scan()
		}
		changed = s.snap.apply(jobs, false)
	}
	if changed || clients {
		s.syncAll(clients)
	}
	if s.reloaded != nil {
		s.reloaded()
	}
}

// Close stops the watcher. Sessions end when their transports close.
func (s *Service) Close() error {
	s.mu.Lock()
	w := s.watcher
	s.closed = true
	s.mu.Unlock()
	if s.opt.Broker == nil {
		s.broker.Close()
	}
	if w != nil {
		return w.Close()
	}
	return nil
}

// lastRotated returns the last-rotated time of every entry, walking the
// history once per HEAD (the watcher drops it when refs move).
func (s *Service) lastRotated() map[string]repo.Rotation {
	s.mu.Lock()
	r := s.rotated
	s.mu.Unlock()
	if r != nil {
		return r
	}
	r, err := s.opt.Vault.LastRotated()
	if err != nil {
		s.logf("history: %v", err)
		return map[string]repo.Rotation{}
	}
	s.mu.Lock()
	s.rotated = r
	s.mu.Unlock()
	return r
}

// ErrUnauthorized is a missing, unknown or revoked token.
var ErrUnauthorized = errors.New("unauthorized")

// authenticate checks a token against the registry as it is now.
func (s *Service) authenticate(token string) (*access.Client, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no client token (set TRESOR_TOKEN to a token from `tresor client add`)", ErrUnauthorized)
	}
	c, err := s.opt.Registry.Authenticate(token)
	if err != nil {
		if errors.Is(err, access.ErrBadToken) || errors.Is(err, access.ErrRevoked) {
			return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
		}
		return nil, err
	}
	return c, nil
}

// ServerFor returns the *mcp.Server of the client a token belongs to,
// building it on first use. A bad or revoked token is ErrUnauthorized and
// is logged as a denied attempt.
func (s *Service) ServerFor(token string) (*mcp.Server, error) {
	c, err := s.authenticate(token)
	if err != nil {
		s.record(access.Record{Client: "unknown", Op: "connect", Result: access.ResultDenied, Detail: oneLine(err.Error())})
		return nil, err
	}
	return s.serverFor(c, token).server, nil
}

func (s *Service) serverFor(c *access.Client, token string) *clientServer {
	s.mu.Lock()
	cs, ok := s.clients[c.Name]
	if ok && cs.token != token {
		// The client was re-registered with a new token: start afresh.
		ok = false
	}
	if !ok {
		cs = s.newClientServer(c.Name, token)
		s.clients[c.Name] = cs
	}
	s.mu.Unlock()
	if !ok {
		s.syncMu.Lock()
		cs.sync(c)
		s.syncMu.Unlock()
	}
	return cs
}

// ServeStdio serves the client of token over r and w (normally the
// process's stdin and stdout) until r is closed or ctx is cancelled.
func (s *Service) ServeStdio(ctx context.Context, token string, r io.ReadCloser, w io.WriteCloser) error {
	srv, err := s.ServerFor(token)
	if err != nil {
		return err
	}
	return srv.Run(ctx, &lineTransport{r: r, w: w, drain: s.drain})
}

// drain holds back the end of stdin until the requests already read have
// been answered (for at most drainWait): a client that writes its last
// request and closes stdin at once still gets the answer.
func (s *Service) drain() {
	time.Sleep(drainGrace)
	for deadline := time.Now().Add(drainWait); s.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	drainGrace = 50 * time.Millisecond // lets the last request reach its handler
	drainWait  = 5 * time.Second
)

// countInflight keeps Service.inflight: requests being handled.
func (s *Service) countInflight(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		return next(ctx, method, req)
	}
}

// syncAll re-registers every client's prompts and resources from the
// snapshot; with grants set it re-reads each client's grants first.
func (s *Service) syncAll(grants bool) {
	s.mu.Lock()
	list := make([]*clientServer, 0, len(s.clients))
	for _, cs := range s.clients {
		list = append(list, cs)
	}
	s.mu.Unlock()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for _, cs := range list {
		c, err := s.opt.Registry.Authenticate(cs.token)
		if err != nil {
			// Revoked or gone: it sees nothing any more.
			cs.sync(nil)
			continue
		}
		cs.sync(c)
	}
}

// record appends to the read log.
func (s *Service) record(r access.Record) error {
	if _, err := s.opt.Log.Append(r); err != nil {
		s.logf("read log: %v", err)
		return fmt.Errorf("refused: cannot write the read log: %v", oneLine(err.Error()))
	}
	return nil
}
