package mcpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/access"
)

// HTTPPath is where the streamable HTTP endpoint is served.
const HTTPPath = "/mcp"

// CheckLoopback refuses a listen address that is not a loopback IP with a
// port: the HTTP server is for this machine only.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("--http %q: want 127.0.0.1:PORT", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--http %q: only loopback addresses (127.0.0.1, [::1]) are served; the vault is not for the network", addr)
	}
	return nil
}

// HTTPHandler returns the streamable HTTP handler for clients reaching the
// server at port (the listener's port): /mcp only, Host and Origin checked
// against loopback names on that port (DNS rebinding: 403), a bearer token
// of a registered client required on every request (401), and each client
// served by its own *mcp.Server. The token's client name is the session's
// user, so a session cannot be carried over to another client's token.
func (s *Service) HTTPHandler(port string) http.Handler {
	verify := func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		c, err := s.authenticate(token)
		if err != nil {
			s.record(access.Record{Client: "unknown", Op: "connect", Result: access.ResultDenied, Detail: "http: " + oneLine(err.Error())})
			if errors.Is(err, ErrUnauthorized) {
				return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
			}
			return nil, err
		}
		return &auth.TokenInfo{UserID: c.Name, Expiration: time.Now().Add(time.Hour), Extra: map[string]any{"token": token}}, nil
	}
	streamable := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		ti := auth.TokenInfoFromContext(r.Context())
		if ti == nil {
			return nil
		}
		token, _ := ti.Extra["token"].(string)
		c, err := s.authenticate(token)
		if err != nil {
			return nil
		}
		return s.serverFor(c, token).server
	}, &mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute})
	mux := http.NewServeMux()
	mux.Handle(HTTPPath, auth.RequireBearerToken(verify, nil)(streamable))
	return loopbackOnly(port, mux)
}

// loopbackOnly answers 403 to a request whose Host is not a loopback name
// with the server's port, or whose Origin (when present) is not such an
// origin over http. Browsers send Origin on cross-site requests; CLI
// clients send none.
func loopbackOnly(port string, next http.Handler) http.Handler {
	allowedHost := func(h string) bool {
		host, p, err := net.SplitHostPort(h)
		if err != nil || p != port {
			return false
		}
		if host == "localhost" {
			return true
		}
		ip, err := netip.ParseAddr(host)
		return err == nil && ip.IsLoopback()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(r.Host) {
			http.Error(w, "forbidden: Host is not this machine's loopback address", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Scheme != "http" || u.Path != "" || !allowedHost(u.Host) {
				http.Error(w, "forbidden: cross-origin request", http.StatusForbidden)
				return
			}
		}
		if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
			http.Error(w, "forbidden: cross-site request", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
