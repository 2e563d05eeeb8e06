package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/mcpserve"
)

// mcpCommand is `tresor mcp ...`: the vault as an MCP server.
func (r *runner) mcpCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "mcp",
		Usage: "serve the vault to AI tools over MCP",
		Subcommands: []*ucli.Command{
			{
				Name:  "serve",
				Usage: "MCP server on stdio (token from TRESOR_TOKEN), or streamable HTTP on loopback with --http",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "http", Usage: "serve streamable HTTP at http://`ADDR`/mcp (loopback only, e.g. 127.0.0.1:8765); clients send Authorization: Bearer TOKEN"},
				},
				Action: r.cmdMCPServe,
			},
		},
	}
}

// nopWriteCloser lets the SDK close what it writes to without closing stdout.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func (r *runner) cmdMCPServe(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--http ADDR]"); err != nil {
		return err
	}
	addr := c.String("http")
	if addr != "" {
		if err := mcpserve.CheckLoopback(addr); err != nil {
			return usagef("%v", err)
		}
	}
	token := r.env.Getenv("TRESOR_TOKEN")
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	reg := access.OpenRegistry(s.vault.StateDir())
	if addr == "" {
		// Fail before anything is served: no valid token, no data.
		if token == "" {
			return errors.New("mcp serve: TRESOR_TOKEN is not set; register the tool with `tresor client add NAME --scope ...` and put its token in the tool's MCP config env")
		}
		if _, err := reg.Authenticate(token); err != nil {
			return fmt.Errorf("mcp serve: TRESOR_TOKEN refused: %w", err)
		}
	}
	log, err := s.readLog()
	if err != nil {
		return err
	}
	kr, keyErr := r.identity(c, false)
	if keyErr != nil {
		// Never prompt: the MCP client owns stdin. Calls that need a value
		// return this reason instead.
		keyErr = fmt.Errorf("identity cannot be unlocked (the MCP server never prompts; it has no terminal): %v", oneLine(keyErr.Error()))
		fmt.Fprintf(r.errw(), "tresor mcp: %v\n", keyErr)
	}
	project := ""
	if s.project != nil {
		project = s.project.Project
	}
	svc, err := mcpserve.New(mcpserve.Options{
		Vault:    s.vault,
		Keyring:  kr,
		KeyErr:   keyErr,
		Registry: reg,
		Log:      log,
		Project:  project,
		Author:   s.author,
		Clock:    r.env.Now,
		Stderr:   r.errw(),
		Version:  Version,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Watch(); err != nil {
		fmt.Fprintf(r.errw(), "tresor mcp: %v; changes need a restart\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if addr == "" {
		err := svc.ServeStdio(ctx, token, io.NopCloser(r.env.Stdin), nopWriteCloser{r.env.Stdout})
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
			return fmt.Errorf("mcp serve: %w", err)
		}
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mcp serve: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{Handler: svc.HTTPHandler(port), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(r.errw(), "tresor mcp: serving http://%s%s (bearer token of a registered client required)\n", ln.Addr(), mcpserve.HTTPPath)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mcp serve: %w", err)
	}
	return nil
}
