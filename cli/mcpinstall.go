package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/mcpconfig"
	"github.com/tresor-dev/tresor/repo"
)

// withSubcommand adds subs under the top-level command called parent,
// creating the parent when no command has that name yet, so `mcp install`
// and `mcp serve` can be registered from separate files.
func withSubcommand(cmds []*ucli.Command, parent string, subs ...*ucli.Command) []*ucli.Command {
	for _, c := range cmds {
		if c.Name == parent {
			c.Subcommands = append(c.Subcommands, subs...)
			return cmds
		}
	}
	return append(cmds, &ucli.Command{Name: parent, Usage: "the MCP server for AI apps", Subcommands: subs})
}

// mcpInstallCommand is `tresor mcp install APP`.
func (r *runner) mcpInstallCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "install",
		Usage:     "register a client and write its MCP config for claude-code, claude-desktop, cursor or vscode",
		ArgsUsage: "APP",
		Description: "Registers a client named after the app, adds tresor to the app's MCP servers (merged: other\n" +
			"servers and settings are kept), and offers to move plaintext keys found in the other servers'\n" +
			"env blocks into the vault (scope mcp:<server>), rewriting those servers as `tresor exec` wrappers.",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "scope", Usage: "grant list and use on `SCOPE` (global, project:NAME, device:NAME, mcp:SERVER); repeatable; default: the project of the working directory"},
			&ucli.BoolFlag{Name: "reveal", Usage: "also allow get_credential to return raw values"},
			&ucli.BoolFlag{Name: "write", Usage: "also allow remember and forget"},
			&ucli.StringFlag{Name: "location", Usage: "which config: `user` (default), project, or local (claude-code's per-project entry in ~/.claude.json)"},
			&ucli.StringFlag{Name: "config", Usage: "write this config `FILE` instead of the app's usual one"},
			&ucli.StringFlag{Name: "name", Usage: "client `NAME` (default: the app's name)"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "move plaintext keys found in the config without asking"},
			&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the config as it would be written (token left out) and change nothing"},
		},
		Action: r.cmdMCPInstall,
	}
}

// mcpUninstallCommand is `tresor mcp uninstall APP`.
func (r *runner) mcpUninstallCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "uninstall",
		Usage:     "revoke an app's client and remove tresor from its MCP config (wrapped servers stay wrapped)",
		ArgsUsage: "APP",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "location", Usage: "which config: `user` (default), project, or local"},
			&ucli.StringFlag{Name: "config", Usage: "edit this config `FILE` instead of the app's usual one"},
			&ucli.StringFlag{Name: "name", Usage: "client `NAME` (default: the app's name)"},
		},
		Action: r.cmdMCPUninstall,
	}
}

func (r *runner) cmdMCPUninstall(c *ucli.Context) error {
	if err := args(c, 1, 1, "APP [--location user|project|local] [--config FILE]"); err != nil {
		return err
	}
	app, loc, err := r.mcpLocation(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	rm, err := mcpconfig.Uninstall(mcpconfig.Request{App: app, Location: loc, Client: c.String("name"),
		Now: r.env.Now(), Registry: access.OpenRegistry(s.vault.StateDir())})
	if err != nil {
		return fmt.Errorf("mcp uninstall %s: %w", app.Name, err)
	}
	client := c.String("name")
	if client == "" {
		client = app.Name
	}
	if rm.Revoked {
		fmt.Fprintf(r.errw(), "revoked client %s\n", client)
	} else {
		fmt.Fprintf(r.errw(), "no active client %s\n", client)
	}
	if rm.Server || rm.Input {
		fmt.Fprintf(r.errw(), "removed tresor from %s\n", rm.Path)
	} else {
		fmt.Fprintf(r.errw(), "%s has no tresor server\n", rm.Path)
	}
	return nil
}

// mcpLocation reads APP, --location and --config.
func (r *runner) mcpLocation(c *ucli.Context) (mcpconfig.App, mcpconfig.Location, error) {
	app, err := mcpconfig.Lookup(c.Args().First())
	if err != nil {
		return app, mcpconfig.Location{}, usagef("mcp %s: %v", c.Command.Name, err)
	}
	config := c.String("config")
	if config != "" {
		config = r.env.abs(config)
	}
	loc, err := app.Locate(c.String("location"), mcpconfig.PathEnv{
		GOOS: runtime.GOOS, Home: r.env.home(), XDGConfigHome: r.env.Getenv("XDG_CONFIG_HOME"),
		AppData: r.env.Getenv("APPDATA"), ProjectDir: r.env.Cwd,
	}, config)
	if err != nil {
		return app, loc, usagef("mcp %s: %v", c.Command.Name, err)
	}
	return app, loc, nil
}

func (r *runner) cmdMCPInstall(c *ucli.Context) error {
	if err := args(c, 1, 1, "APP [--scope S]... [--location user|project|local] [--yes]"); err != nil {
		return err
	}
	app, loc, err := r.mcpLocation(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()

	scopes := commaList(c.StringSlice("scope"))
	if len(scopes) == 0 {
		if s.project == nil {
			return usagef("mcp install %s: give at least one --scope (global, project:NAME, device:NAME, mcp:SERVER)", app.Name)
		}
		scopes = []string{"project:" + s.project.Project}
	}
	for i, sc := range scopes {
		parsed, err := repo.ParseScope(sc)
		if err != nil {
			return usagef("--scope: %v", err)
		}
		scopes[i] = parsed.String()
	}
	global := []string{"--vault", s.vault.Dir}
	if c.String("identity") != "" || r.env.Getenv("TRESOR_IDENTITY") != "" {
		global = append(global, "--identity", r.identityPath(c))
	}
	plan, err := mcpconfig.NewPlan(mcpconfig.Request{
		App: app, Location: loc, Client: c.String("name"), Scopes: scopes,
		Reveal: c.Bool("reveal"), Write: c.Bool("write"),
		Exe: r.env.Executable, GlobalArgs: global, Now: r.env.Now(),
		Vault: s.vault, Author: s.author(), Registry: access.OpenRegistry(s.vault.StateDir()),
	})
	if err != nil {
		return fmt.Errorf("mcp install %s: %w", app.Name, err)
	}

	move := false
	if len(plan.Findings) > 0 {
		fmt.Fprintf(r.errw(), "found %d plaintext key(s) in other servers of %s:\n", len(plan.Findings), plan.Path())
		for _, fd := range plan.Findings {
			what := fd.Type
			if fd.Service != "" {
				what += " " + fd.Service
			}
			line := fmt.Sprintf("  %s: %s (%s)", fd.Server, fd.Var, what)
			if !fd.Movable {
				line += ": left in place, " + fd.Reason
			}
			fmt.Fprintln(r.errw(), line)
		}
		if n := plan.Movable(); n > 0 && !c.Bool("dry-run") {
			switch {
			case c.Bool("yes"):
				move = true
			case r.env.StdinTTY && r.env.Confirm != nil:
				move, err = r.env.Confirm(fmt.Sprintf("move %d key(s) into the vault (scope mcp:<server>) and run those servers through `tresor exec`?", n))
				if err != nil {
					return err
				}
			default:
				fmt.Fprintf(r.errw(), "not moved (no terminal to ask on): run again with --yes to move them into the vault\n")
			}
		}
	}

	if c.Bool("dry-run") {
		b, err := plan.Preview(c.Bool("yes"))
		if err != nil {
			return fmt.Errorf("mcp install %s: %w", app.Name, err)
		}
		if _, err := r.out().Write(b); err != nil {
			return err
		}
		fmt.Fprintf(r.errw(), "dry run: %s, the vault and the clients are unchanged\n", plan.Path())
		return nil
	}
	res, err := plan.Apply(context.Background(), move)
	if err != nil {
		return fmt.Errorf("mcp install %s: %w", app.Name, err)
	}
	if len(res.Moved) > 0 {
		fmt.Fprintf(r.errw(), "moved %d key(s) into the vault in one commit: %s\n", len(res.Moved), strings.Join(res.Moved, ", "))
		fmt.Fprintf(r.errw(), "wrapped with tresor exec: %s\n", strings.Join(res.Wrapped, ", "))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(r.errw(), "warning: %s\n", w)
	}
	client := c.String("name")
	if client == "" {
		client = app.Name
	}
	if res.Reissued {
		fmt.Fprintf(r.errw(), "client %s was registered: it has a new token now, the old one no longer works\n", client)
	}
	fmt.Fprintf(r.errw(), "registered client %s (list, use%s%s on %s)\n", client,
		map[bool]string{true: ", reveal"}[c.Bool("reveal")], map[bool]string{true: ", write"}[c.Bool("write")], strings.Join(scopes, ", "))
	if plan.Replaces {
		fmt.Fprintf(r.errw(), "replaced the server named tresor that was there\n")
	}
	fmt.Fprintf(r.errw(), "wrote %s\n", res.Path)
	switch res.TokenMode {
	case mcpconfig.TokenInline:
		fmt.Fprintf(r.errw(), "the client token is in that file (server env TRESOR_TOKEN); restart %s to load it\n", app.Name)
	case mcpconfig.TokenInput:
		fmt.Fprintf(r.errw(), "VS Code asks for the token when it first starts the server and keeps it in its secret storage: paste the line printed on stdout (shown once)\n")
	case mcpconfig.TokenEnvRef:
		fmt.Fprintf(r.errw(), "%s is shared with the project, so it holds no token: export TRESOR_TOKEN with the line printed on stdout (shown once) where %s starts\n", filepath.Base(res.Path), app.Name)
	}
	if res.Token != "" {
		fmt.Fprintln(r.out(), res.Token)
	}
	return nil
}
