package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func (r *runner) commands() []*ucli.Command {
	scope := &ucli.StringFlag{Name: "scope", Usage: "`SCOPE`: global, project:NAME, device:NAME or mcp:SERVER"}
	return append([]*ucli.Command{
		{
			Name:      "init",
			Usage:     "create a vault (and this device's identity if there is none)",
			ArgsUsage: " ",
			Flags: []ucli.Flag{
				&ucli.BoolFlag{Name: "join", Usage: "only create an identity and print its recipient, for a teammate to add"},
				&ucli.StringFlag{Name: "member", Usage: "your name, for the recipients file"},
				&ucli.StringFlag{Name: "device", Usage: "this device's name (default: host name; env TRESOR_DEVICE)"},
			},
			Action: r.cmdInit,
		},
		{
			Name:      "set",
			Usage:     "create or update an entry; the value comes from stdin, a prompt or --from-file",
			ArgsUsage: "NAME",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "type", Aliases: []string{"t"}, Usage: "entry `TYPE` (see `tresor types`; default secret)"},
				scope,
				&ucli.StringSliceFlag{Name: "field", Aliases: []string{"f"}, Usage: "set a non-secret field: `k=v` (lists comma-separated; k= removes it)"},
				&ucli.StringFlag{Name: "from-file", Aliases: []string{"file"}, Usage: "read the value from `FILE`"},
			},
			Action: r.cmdSet,
		},
		{
			Name:      "get",
			Usage:     "print an entry's value (exact bytes; the read is logged)",
			ArgsUsage: "NAME",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "field", Aliases: []string{"f"}, Usage: "print this `FIELD` instead of the primary one"},
				&ucli.BoolFlag{Name: "raw", Usage: "print exactly the stored bytes: no newline, binary allowed"},
				&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the value to `FILE` (mode 0600) instead of stdout"},
				scope,
			},
			Action: r.cmdGet,
		},
		{
			Name:      "show",
			Usage:     "show a whole entry, secret fields masked unless --reveal",
			ArgsUsage: "NAME",
			Flags: []ucli.Flag{
				&ucli.BoolFlag{Name: "reveal", Usage: "show secret fields (the read is logged)"},
				scope,
			},
			Action: r.cmdShow,
		},
		{
			Name:      "ls",
			Aliases:   []string{"list"},
			Usage:     "list entries: reference, type, last rotated; never values",
			ArgsUsage: "[PREFIX]",
			Flags: []ucli.Flag{
				scope,
				&ucli.StringFlag{Name: "type", Aliases: []string{"t"}, Usage: "only entries of this `TYPE`"},
			},
			Action: r.cmdLs,
		},
		{
			Name:      "rm",
			Usage:     "remove an entry (one commit; history keeps it)",
			ArgsUsage: "NAME",
			Flags: []ucli.Flag{
				scope,
				&ucli.BoolFlag{Name: "force", Usage: "do not ask for confirmation"},
			},
			Action: r.cmdRm,
		},
		{
			Name:      "mv",
			Usage:     "rename an entry, or move it to another scope",
			ArgsUsage: "OLD NEW",
			Flags:     []ucli.Flag{scope},
			Action:    r.cmdMv,
		},
		{
			Name:      "edit",
			Usage:     "edit an entry in $EDITOR (plaintext only on tmpfs, removed afterwards)",
			ArgsUsage: "NAME",
			Flags:     []ucli.Flag{scope},
			Action:    r.cmdEdit,
		},
		{
			Name:      "rotate",
			Usage:     "set a new value for an entry (stdin or prompt), recorded as a rotation",
			ArgsUsage: "NAME",
			Flags: []ucli.Flag{
				scope,
				&ucli.StringFlag{Name: "from-file", Aliases: []string{"file"}, Usage: "read the new value from `FILE`"},
			},
			Action: r.cmdRotate,
		},
		{
			Name:      "log",
			Usage:     "history of the vault or of one entry",
			ArgsUsage: "[NAME]",
			Flags: []ucli.Flag{
				scope,
				&ucli.IntFlag{Name: "limit", Aliases: []string{"n"}, Usage: "at most `N` changes"},
			},
			Action: r.cmdLog,
		},
		{
			Name:      "types",
			Usage:     "the entry types and their fields",
			ArgsUsage: "[TYPE]",
			Action:    r.cmdTypes,
		},
		{
			Name:      "import",
			Usage:     "import a .env or shell file, or a pass, passage or gopass store (one commit; values byte-exact; nothing executed)",
			ArgsUsage: "FILE|pass|passage|gopass",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "format", Value: "dotenv", Usage: "`FORMAT`: dotenv or shell"},
				&ucli.BoolFlag{Name: "skip-invalid", Usage: "import the valid lines and report the others"},
				&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "show the plan (names and types, never values) and change nothing"},
				&ucli.BoolFlag{Name: "overwrite", Usage: "replace entries whose stored value differs"},
				&ucli.StringFlag{Name: "prefix", Usage: "put the entries under `PREFIX/`"},
				scope,
				&ucli.StringFlag{Name: "store", Usage: "pass/passage/gopass: the store `DIR` (default: the tool's own)"},
				&ucli.StringFlag{Name: "identities", Usage: "passage/gopass-age: age identities `FILE` (default ~/.passage/identities)"},
				&ucli.BoolFlag{Name: "whole-body", Usage: "pass/passage/gopass: keep each whole body as the value (no first-line split)"},
			},
			Action: r.cmdImport,
		},
		{
			Name:  "project",
			Usage: "bind a directory to a project",
			Subcommands: []*ucli.Command{{
				Name:      "init",
				Usage:     "write .tresor.yaml in the current directory",
				ArgsUsage: "NAME",
				Action:    r.cmdProjectInit,
			}},
		},
		{
			Name:  "access",
			Usage: "the read log",
			Subcommands: []*ucli.Command{
				{
					Name:  "log",
					Usage: "show read log records",
					Flags: []ucli.Flag{
						&ucli.StringFlag{Name: "client", Usage: "only this `CLIENT`"},
						&ucli.StringFlag{Name: "entry", Usage: "only this entry `REF` (or a prefix ending in /)"},
						&ucli.StringFlag{Name: "since", Usage: "only records after `WHEN` (2026-01-31, RFC 3339, or a duration like 24h, 7d)"},
					},
					Action: r.cmdAccessLog,
				},
				{
					Name:   "verify",
					Usage:  "check the read log's hash chain",
					Action: r.cmdAccessVerify,
				},
			},
		},
		r.clientCommand(),
		r.mcpCommand(),
		{
			Name:      "git-credential",
			Usage:     "git credential helper: git config credential.helper '!tresor git-credential'",
			ArgsUsage: "get|store|erase",
			Flags:     []ucli.Flag{scope},
			Action:    r.cmdGitCredential,
		},
		{
			Name:      "textconv",
			Usage:     "print the redacted plaintext of an entry file (for git log -p / git diff)",
			ArgsUsage: "FILE",
			Action:    r.cmdTextconv,
		},
		{
			Name:  "doctor",
			Usage: "check identity, recipients, permissions, every entry and the repository",
			Flags: []ucli.Flag{
				&ucli.BoolFlag{Name: "fix", Usage: "repair what can be repaired safely"},
			},
			Action: r.cmdDoctor,
		},
		{
			Name:  "remote",
			Usage: "git remotes to push to",
			Subcommands: []*ucli.Command{
				{
					Name:      "add",
					Usage:     "add a remote",
					ArgsUsage: "NAME URL",
					Action:    r.cmdRemoteAdd,
				},
				{
					Name:   "ls",
					Usage:  "list remotes",
					Action: r.cmdRemoteLs,
				},
			},
		},
		{
			Name:      "push",
			Usage:     "push the vault to a remote (the only way data leaves)",
			ArgsUsage: "[REMOTE]",
			Action:    r.cmdPush,
		},
		{
			Name:      "path",
			Usage:     "print the file that stores an entry",
			ArgsUsage: "NAME",
			Flags:     []ucli.Flag{scope},
			Action:    r.cmdPath,
		},
		{
			Name:  "keygen",
			Usage: "create a new age identity file (mode 0600)",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the identity to `FILE` (default: the identity path)"},
			},
			Action: r.cmdKeygen,
		},
		{
			Name:   "demo",
			Usage:  "a guided tour in a throwaway vault, on sample data",
			Action: r.cmdDemo,
		},
		{
			Name:      "completion",
			Usage:     "print a shell completion script",
			ArgsUsage: "bash|zsh|fish",
			Action:    r.cmdCompletion,
		},
	}, r.execCommands()...)
}
