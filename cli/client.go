package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/repo"
)

// clientCommand is `tresor client add|ls|revoke`: the tools that may reach
// the vault over MCP, and their grants.
func (r *runner) clientCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "client",
		Usage: "register AI tools (MCP clients): tokens and grants",
		Subcommands: []*ucli.Command{
			{
				Name:      "add",
				Usage:     "register a client; its token is printed once, alone on stdout",
				ArgsUsage: "NAME",
				Flags: []ucli.Flag{
					&ucli.StringSliceFlag{Name: "scope", Usage: "grant list and use on `SCOPE` (global, project:NAME, device:NAME, mcp:SERVER, or * for all); repeatable; default: the project of the working directory"},
					&ucli.BoolFlag{Name: "reveal", Usage: "also allow get_credential to return raw values"},
					&ucli.BoolFlag{Name: "write", Usage: "also allow remember and forget"},
				},
				Action: r.cmdClientAdd,
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list clients and their grants (never tokens)",
				Action:  r.cmdClientLs,
			},
			{
				Name:      "revoke",
				Usage:     "revoke a client's token (a running server refuses it within a second)",
				ArgsUsage: "NAME",
				Action:    r.cmdClientRevoke,
			},
		},
	}
}

func (r *runner) cmdClientAdd(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME --scope S... [--reveal] [--write]"); err != nil {
		return err
	}
	name := c.Args().First()
	if err := access.CheckClientName(name); err != nil {
		return usagef("%v", err)
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	scopes := commaList(c.StringSlice("scope"))
	if len(scopes) == 0 {
		if s.project == nil {
			return usagef("client add %s: give at least one --scope (global, project:NAME, device:NAME, mcp:SERVER or *)", name)
		}
		scopes = []string{"project:" + s.project.Project}
	}
	for i, sc := range scopes {
		if sc == access.AllScopes {
			continue
		}
		parsed, err := repo.ParseScope(sc)
		if err != nil {
			return usagef("--scope: %v", err)
		}
		scopes[i] = parsed.String()
	}
	tok, err := access.OpenRegistry(s.vault.StateDir()).Add(name, scopes, c.Bool("reveal"), c.Bool("write"), r.env.Now())
	if err != nil {
		return err
	}
	perms := "list, use"
	if c.Bool("reveal") {
		perms += ", reveal"
	}
	if c.Bool("write") {
		perms += ", write"
	}
	fmt.Fprintf(r.errw(), "added client %s: %s on %s\n", name, perms, strings.Join(scopes, ", "))
	fmt.Fprintf(r.errw(), "its token is printed once and stored only as a hash; give it to the tool as TRESOR_TOKEN\n")
	_, err = fmt.Fprintln(r.out(), tok)
	return err
}

type clientRow struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Created string         `json:"created"`
	Revoked string         `json:"revoked,omitempty"`
	Grants  []access.Grant `json:"grants"`
}

func (r *runner) cmdClientLs(c *ucli.Context) error {
	if err := args(c, 0, 0, ""); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	list, err := access.OpenRegistry(s.vault.StateDir()).List()
	if err != nil {
		return err
	}
	rows := []clientRow{}
	for _, cl := range list {
		row := clientRow{Name: cl.Name, Status: "active", Created: cl.Created.UTC().Format("2006-01-02T15:04:05Z"), Grants: cl.Grants}
		if row.Grants == nil {
			row.Grants = []access.Grant{}
		}
		if cl.Revoked != nil {
			row.Status, row.Revoked = "revoked", cl.Revoked.UTC().Format("2006-01-02T15:04:05Z")
		}
		rows = append(rows, row)
	}
	if c.Bool("json") {
		return writeJSON(r.out(), rows)
	}
	tw, flush := r.table("NAME", "STATUS", "GRANTS", "CREATED")
	for _, row := range rows {
		var gs []string
		for _, g := range row.Grants {
			gs = append(gs, g.Scope+"("+grantLetters(g)+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Name, row.Status, dash(strings.Join(gs, " ")), row.Created[:10])
	}
	return flush()
}

// grantLetters spells a grant's permissions: list,use,reveal,write.
func grantLetters(g access.Grant) string {
	var p []string
	for _, x := range []struct {
		on   bool
		name string
	}{{g.List, "list"}, {g.Use, "use"}, {g.Reveal, "reveal"}, {g.Write, "write"}} {
		if x.on {
			p = append(p, x.name)
		}
	}
	return strings.Join(p, ",")
}

func (r *runner) cmdClientRevoke(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	name := c.Args().First()
	if err := access.OpenRegistry(s.vault.StateDir()).Revoke(name, r.env.Now()); err != nil {
		return err
	}
	fmt.Fprintf(r.errw(), "revoked client %s\n", name)
	return nil
}
