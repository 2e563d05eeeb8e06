package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
)

// Version is set at build time with -ldflags "-X …cli.Version=…".
var Version = "dev"

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError carries a specific exit status with an optional message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// Main runs tresor with args (args[0] is the program name) and returns the
// exit status. Errors are printed as one line: `tresor: <what>: <why>`.
func Main(args []string, env *Env) int {
	app := New(env)
	args = reorderArgs(app, args)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	var ee *exitError
	code := 1
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	var ue *usageError
	if errors.As(err, &ue) {
		code = 2
	}
	if isFlagError(err) {
		code = 2
	}
	if name, ok := strings.CutPrefix(err.Error(), "No help topic for '"); ok {
		code = 2
		err = fmt.Errorf("unknown command %q (see `tresor --help`)", strings.TrimSuffix(name, "'"))
	}
	fmt.Fprintf(env.Stderr, "tresor: %s\n", oneLine(err.Error()))
	return code
}

// isFlagError recognises urfave/cli's parse errors, which are usage errors.
func isFlagError(err error) bool {
	s := err.Error()
	for _, p := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "Required flag", "invalid boolean value"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// oneLine keeps an error on one line, whatever a library put in it.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "; ")
}

// New builds the command tree.
func New(env *Env) *ucli.App {
	app := &ucli.App{
		Name:                 "tresor",
		Usage:                "a local, git-backed, age-encrypted credential vault for AI tools",
		Version:              Version,
		Reader:               env.Stdin,
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		// Slice flags are not split on commas by urfave: --field
		// 'description=prod, staging' keeps its comma. Flags that take
		// comma lists split them themselves (commaList, applyFields).
		DisableSliceFlagSeparator: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "vault", Usage: "vault directory (default $XDG_DATA_HOME/tresor/vault; env TRESOR_DIR)"},
			&ucli.StringFlag{Name: "identity", Usage: "age identity file (default $XDG_CONFIG_HOME/tresor/identity; env TRESOR_IDENTITY)"},
			&ucli.BoolFlag{Name: "json", Usage: "machine-readable output"},
			&ucli.BoolFlag{Name: "no-color", Usage: "no colour in output (also NO_COLOR)"},
		},
		// Errors are printed by Main, once, on one line.
		ExitErrHandler: func(*ucli.Context, error) {},
		OnUsageError: func(c *ucli.Context, err error, isSub bool) error {
			return usagef("%s (see `tresor %s --help`)", err.Error(), strings.TrimSpace(strings.TrimPrefix(c.Command.FullName(), "tresor")))
		},
	}
	r := &runner{env: env}
	app.Commands = withSubcommand(append(r.commands(), r.teamCommand()), "mcp", r.mcpInstallCommand(), r.mcpUninstallCommand())
	for _, c := range app.Commands {
		setUsageHandler(c, c.Name)
	}
	return app
}

// setUsageHandler makes flag errors usage errors that name the command as
// typed ("access log"), path included.
func setUsageHandler(c *ucli.Command, path string) {
	c.OnUsageError = func(ctx *ucli.Context, err error, isSub bool) error {
		return usagef("%s: %s (see `tresor %s --help`)", path, err.Error(), path)
	}
	// urfave gives every command a "help" subcommand with the alias "h",
	// so `tresor remote add h URL` or `tresor push h` printed help instead
	// of using a remote named h. Help is --help / -h only.
	c.HideHelpCommand = true
	for _, s := range c.Subcommands {
		setUsageHandler(s, path+" "+s.Name)
	}
}

// runner holds what every command shares.
type runner struct {
	env *Env
	// keyrings holds the identities unlocked so far, by path: a
	// passphrase is asked and derived once per process.
	keyrings map[string]*codec.Keyring
}

func (r *runner) out() io.Writer  { return r.env.Stdout }
func (r *runner) errw() io.Writer { return r.env.Stderr }

// reorderArgs moves flags that follow positional arguments in front of
// them, so `tresor get NAME --json` works: urfave/cli v2 stops parsing flags
// at the first positional argument (urfave/cli#1177). Everything after `--`
// is left alone.
func reorderArgs(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	i := 1
	// Global flags and the command path.
	globalValue := flagsWithValue(app.Flags)
	cmds := app.Commands
	var cmd *ucli.Command
	for i < len(args) {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			out = append(out, a)
			if name := flagName(a); globalValue[name] && !strings.Contains(a, "=") && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		var next *ucli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		out = append(out, a)
		cmd = next
		cmds = next.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
	}
	if cmd == nil || cmd.SkipFlagParsing || keepArgOrder[cmd.Name] {
		return append(out, args[i:]...)
	}
	withValue := flagsWithValue(cmd.Flags)
	for k := range globalValue {
		withValue[k] = true
	}
	own := map[string]bool{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			own[n] = true
		}
	}
	globalNames := map[string]bool{}
	for _, f := range app.Flags {
		for _, n := range f.Names() {
			globalNames[n] = true
		}
	}
	var globals, flags, positional []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			name := flagName(a)
			dst := &flags
			if globalNames[name] && !own[name] {
				// A global flag after the command goes before it.
				dst = &globals
			}
			*dst = append(*dst, a)
			if withValue[name] && !strings.Contains(a, "=") && i+1 < len(args) {
				*dst = append(*dst, args[i+1])
				i++
			}
			continue
		}
		positional = append(positional, a)
	}
	// out is [prog, global flags..., command path...]: put the moved global
	// flags right after the program name.
	res := append([]string{out[0]}, globals...)
	res = append(res, out[1:]...)
	res = append(res, flags...)
	return append(res, positional...)
}

func flagName(a string) string {
	a = strings.TrimLeft(a, "-")
	if i := strings.IndexByte(a, '='); i >= 0 {
		a = a[:i]
	}
	return a
}

func flagsWithValue(flags []ucli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		if _, ok := f.(*ucli.BoolFlag); ok {
			continue
		}
		for _, n := range f.Names() {
			m[n] = true
		}
	}
	// Global flags may also appear after the command.
	m["vault"], m["identity"] = true, true
	return m
}

// commaList splits every value of a repeatable flag on commas, so that
// --only A,B and --only A --only B mean the same. Empty items are dropped.
func commaList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, it := range strings.Split(v, ",") {
			if it = strings.TrimSpace(it); it != "" {
				out = append(out, it)
			}
		}
	}
	return out
}
