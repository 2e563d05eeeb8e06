package inject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// MaxCredentialInput caps what a credential helper reads from git: real
// requests are a few hundred bytes.
const MaxCredentialInput = 64 << 10

// CredentialRequest is a request of git's credential helper protocol
// (gitcredentials(7)): key=value lines up to a blank line or the end.
type CredentialRequest struct {
	Protocol string // https, http, ...
	Host     string // host name, with :port when not the default
	Path     string // only sent when credential.useHttpPath is set
	Username string
	Password string // only in store and erase requests
}

// ParseCredential reads one request. Lines end in LF (a CR before it is
// dropped, as git does); reading stops at the first empty line. A line
// without "=", an empty key, a NUL byte or more than MaxCredentialInput
// bytes is an error that names the line, never its value. Unknown keys
// (capability[], wwwauth[], password_expiry_utc ...) are ignored, as the
// protocol asks; url= is split into its parts, which later keys may
// override.
func ParseCredential(r io.Reader) (*CredentialRequest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCredentialInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading the request: %w", err)
	}
	if len(data) > MaxCredentialInput {
		return nil, fmt.Errorf("request over %d bytes", MaxCredentialInput)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errors.New("request holds a NUL byte")
	}
	req := &CredentialRequest{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: not a key=value line", n+1)
		}
		switch k {
		case "protocol":
			req.Protocol = v
		case "host":
			req.Host = v
		case "path":
			req.Path = v
		case "username":
			req.Username = v
		case "password":
			req.Password = v
		case "url":
			u, err := url.Parse(v)
			if err != nil || u.Scheme == "" {
				return nil, fmt.Errorf("line %d: url is not a URL with a scheme", n+1)
			}
			req.Protocol, req.Host, req.Path = u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/")
			if u.User != nil {
				req.Username = u.User.Username()
				if p, ok := u.User.Password(); ok {
					req.Password = p
				}
			}
		}
	}
	return req, nil
}

// WriteCredential writes a get answer: username and password lines. A
// value with a line break or NUL cannot travel in the protocol: error.
func WriteCredential(w io.Writer, username, password string) error {
	for _, v := range []string{username, password} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return errors.New("holds a line break or NUL byte, which git's credential protocol cannot carry")
		}
	}
	_, err := io.WriteString(w, "username="+username+"\npassword="+password+"\n")
	return err
}

// CredentialAnswer is the entry chosen for a request.
type CredentialAnswer struct {
	Ref      repo.Ref
	Field    string // the field the password came from
	Username string
	Password string
	Canary   bool
}

// AmbiguousError is a request that several entries answer equally well.
type AmbiguousError struct {
	Host string
	Refs []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d entries match %s equally well: %s; answering none (narrow their hosts, put a username in the remote URL, give --scope, or set credential.useHttpPath and a repository url on each)",
		len(e.Refs), e.Host, strings.Join(e.Refs, ", "))
}

// gitHosts are where a catalogue service's tokens work for git over
// HTTPS, beyond its API hosts; gitUsers the user name its git server wants
// with a token.
var (
	gitHosts = map[string][]string{"github": {"github.com", "gist.github.com"}}
	gitUsers = map[string]string{"github": "x-access-token", "gitlab": "oauth2"}
)

// DefaultGitUser is the user name sent with a token when neither the
// request nor the entry names one (GitHub's convention; most servers that
// take a token as password accept any name).
const DefaultGitUser = "x-access-token"

// match quality: an entry's own hosts or url beat its service's defaults.
const (
	byService = 1
	byHosts   = 2
	byPath    = 3 // a password's url names the requested repository path
)

// FindCredential picks the entry that answers a get request. Entries seen
// are those of scope when given, else the project of ctx, this device and
// global (mcp: scopes only by name); their types are password (username,
// password, url), api_key and secret. An entry matches when one of its
// hosts (or a password's url, or its service's git hosts) is the request's
// origin: a bare host means https on the default port; plain http only
// matches an origin the entry spells out (http://host:port). A username in
// the request must equal the entry's username field when it has one.
//
// The most specific scope wins (project, device, global), then a match by
// a password whose url names the requested path (sent when git's
// credential.useHttpPath is set) over the other matches, and the entry's
// own hosts over its service's defaults; a tie left after that is refused with *AmbiguousError, deterministically, never guessed. No
// match is (nil, nil). Only matching candidates and password entries are
// decrypted; the rest comes from the metadata cache. The answer's user name
// is the request's, else the entry's username field, else the service's
// convention (x-access-token for GitHub, oauth2 for GitLab), else
// DefaultGitUser.
func FindCredential(v *repo.Vault, kr *codec.Keyring, req *CredentialRequest, scope *repo.Scope, ctx repo.Context) (*CredentialAnswer, error) {
	proto := strings.ToLower(req.Protocol)
	if proto != "https" && proto != "http" || req.Host == "" {
		return nil, nil
	}
	want := origin(proto, req.Host)
	cat, err := v.Catalog()
	if err != nil {
		return nil, err
	}
	scopes := credentialScopes(v, scope, ctx)
	rank := map[repo.Scope]int{}
	for i, s := range scopes {
		rank[s] = i
	}
	items, _ := v.List()
	var inScope []repo.Item
	for _, it := range items {
		if _, ok := rank[it.Ref.Scope]; ok {
			inScope = append(inScope, it)
		}
	}
	metas := v.Metadata(inScope, kr)
	type cand struct {
		ref     repo.Ref
		rank    int
		quality int
		loaded  *repo.Loaded
	}
	var cands []cand
	for _, it := range inScope {
		m := metas[it.Path]
		if m.Err != "" {
			continue
		}
		last := lastSeg(it.Ref.Name)
		switch m.Type {
		case "password":
			l, err := v.Load(it.Ref, kr)
			if err != nil {
				continue
			}
			clear(l.Doc)
			q := 0
			if hostsMatch(l.Entry.Lists["hosts"], want) || urlMatches(l.Entry.Fields["url"], want) {
				q = byHosts
				if req.Path != "" && pathMatches(l.Entry.Fields["url"], req.Path) {
					q = byPath
				}
			}
			if q == 0 {
				continue
			}
			if u := l.Entry.Fields["username"]; req.Username != "" && u != "" && u != req.Username {
				continue
			}
			cands = append(cands, cand{it.Ref, rank[it.Ref.Scope], q, l})
		case "api_key", "secret":
			q := 0
			if hostsMatch(m.Hosts, want) {
				q = byHosts
			} else if len(m.Hosts) == 0 {
				e := schemas.NewEntry(m.Type)
				if m.Service != "" {
					e.Set("service", m.Service)
				}
				svc := m.Service
				if svc == "" && m.Type == "api_key" {
					cat.Normalize(e, last)
					svc = e.Get("service")
				}
				if hostsMatch(append(cat.Hosts(e, last), gitHosts[svc]...), want) {
					q = byService
				}
			}
			if q == 0 {
				continue
			}
			l, err := v.Load(it.Ref, kr)
			if err != nil {
				continue
			}
			clear(l.Doc)
			if u := l.Entry.Fields["username"]; req.Username != "" && u != "" && u != req.Username {
				continue
			}
			cands = append(cands, cand{it.Ref, rank[it.Ref.Scope], q, l})
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].rank != cands[j].rank {
			return cands[i].rank < cands[j].rank
		}
		return cands[i].quality > cands[j].quality
	})
	best := cands[0]
	var tied []string
	for _, c := range cands {
		if c.rank == best.rank && c.quality == best.quality {
			tied = append(tied, c.ref.String())
		}
	}
	if len(tied) > 1 {
		return nil, &AmbiguousError{Host: want, Refs: tied}
	}
	l := best.loaded
	if l == nil {
		if l, err = v.Load(best.ref, kr); err != nil {
			return nil, err
		}
		clear(l.Doc)
	}
	e := l.Entry
	ans := &CredentialAnswer{Ref: best.ref, Field: l.Type.Primary, Password: e.Fields[l.Type.Primary], Canary: e.Fields["canary"] == "true"}
	switch {
	case req.Username != "":
		ans.Username = req.Username
	case e.Fields["username"] != "":
		ans.Username = e.Fields["username"]
	default:
		ans.Username = DefaultGitUser
		if u, ok := gitUsers[e.Fields["service"]]; ok {
			ans.Username = u
		}
	}
	return ans, nil
}

// credentialScopes lists the scopes a request sees, most specific first.
func credentialScopes(v *repo.Vault, scope *repo.Scope, ctx repo.Context) []repo.Scope {
	if scope != nil {
		return []repo.Scope{*scope}
	}
	var out []repo.Scope
	if ctx.Project != "" {
		out = append(out, repo.Scope{Kind: repo.Project, Name: ctx.Project})
	}
	if v.Device != "" {
		out = append(out, repo.Scope{Kind: repo.Device, Name: v.Device})
	}
	return append(out, repo.GlobalScope)
}

func lastSeg(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// origin normalises scheme and host[:port] to scheme://host[:port], the
// default port dropped and the host in lower case.
func origin(scheme, hostport string) string {
	scheme = strings.ToLower(scheme)
	hostport = strings.ToLower(hostport)
	switch {
	case scheme == "https" && strings.HasSuffix(hostport, ":443"):
		hostport = strings.TrimSuffix(hostport, ":443")
	case scheme == "http" && strings.HasSuffix(hostport, ":80"):
		hostport = strings.TrimSuffix(hostport, ":80")
	}
	return scheme + "://" + hostport
}

// hostOrigin reads an entry's host: "host[:port]" means https, an origin
// "scheme://host[:port]" says its scheme.
func hostOrigin(h string) string {
	if scheme, rest, ok := strings.Cut(h, "://"); ok {
		return origin(scheme, strings.TrimSuffix(rest, "/"))
	}
	return origin("https", h)
}

func hostsMatch(hosts []string, want string) bool {
	for _, h := range hosts {
		if h != "" && hostOrigin(h) == want {
			return true
		}
	}
	return false
}

// urlMatches reads a password entry's url field: a URL gives its origin, a
// bare host means https.
func urlMatches(raw, want string) bool {
	if raw == "" {
		return false
	}
	if !strings.Contains(raw, "://") {
		host, _, _ := strings.Cut(raw, "/")
		return hostOrigin(host) == want
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return origin(u.Scheme, u.Host) == want
}

// pathMatches reports whether a URL's path names the requested repository
// path or a directory above it (segment-wise, ignoring a trailing / and .git).
func pathMatches(raw, reqPath string) bool {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	norm := func(p string) string { return strings.TrimSuffix(strings.Trim(p, "/"), ".git") }
	p, r := norm(u.Path), norm(reqPath)
	return p != "" && (p == r || strings.HasPrefix(r, p+"/"))
}
