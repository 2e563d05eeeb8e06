package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/inject"
	"github.com/tresor-dev/tresor/repo"
)

// keepArgOrder lists commands whose arguments after the first positional
// one belong to another program: `tresor exec ls -la` runs `ls -la`, with
// no need for `--`.
var keepArgOrder = map[string]bool{"exec": true}

// execCommands are exec, env, export and inject: the vault put to work.
func (r *runner) execCommands() []*ucli.Command {
	scope := &ucli.StringFlag{Name: "scope", Usage: "`SCOPE`: project:NAME or global (layered over this device and global), or mcp:SERVER (that server's entries only)"}
	only := &ucli.StringSliceFlag{Name: "only", Usage: "only these variable `NAMES` (comma-separated)"}
	allow := &ucli.StringSliceFlag{Name: "allow-reserved", Usage: "inject this reserved variable `NAME` (PATH, LD_PRELOAD, …) anyway"}
	return []*ucli.Command{
		{
			Name:      "exec",
			Usage:     "run a command with the vault's variables in its environment, secrets masked in its output",
			ArgsUsage: "-- CMD [ARGS...]",
			Flags: []ucli.Flag{
				scope, only, allow,
				&ucli.BoolFlag{Name: "no-mask", Usage: "pass the output through untouched (the command keeps the terminal)"},
				&ucli.BoolFlag{Name: "prefer-parent-env", Usage: "keep a variable the environment already has instead of the vault's value"},
			},
			Action: r.cmdExec,
		},
		{
			Name:  "env",
			Usage: "print the variables exec would set (for eval and direnv; every value is logged as read)",
			Flags: []ucli.Flag{
				scope, only, allow,
				&ucli.StringFlag{Name: "format", Value: "shell", Usage: "`FORMAT`: shell, dotenv or json"},
			},
			Action: r.cmdEnv,
		},
		{
			Name:  "export",
			Usage: "write the variables in plaintext (dotenv unless --format json), deliberately",
			Flags: []ucli.Flag{
				scope, only, allow,
				&ucli.StringFlag{Name: "format", Value: "dotenv", Usage: "`FORMAT`: dotenv or json"},
				&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically, mode 0600) instead of stdout"},
			},
			Action: r.cmdExport,
		},
		{
			Name:  "inject",
			Usage: "fill {{ tresor://ref#field }} references in a template",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "in", Aliases: []string{"i"}, Usage: "the template `FILE` (- for stdin); required"},
				&ucli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write to `FILE` (atomically, mode 0600) instead of stdout"},
				&ucli.StringFlag{Name: "scope", Usage: "look bare names up in this `SCOPE`"},
			},
			Action: r.cmdInject,
		},
	}
}

// plan resolves the variables of exec, env and export.
func (s *session) plan() (*inject.Plan, error) {
	sc, err := scopeFlag(s.c)
	if err != nil {
		return nil, err
	}
	for _, n := range commaList(s.c.StringSlice("allow-reserved")) {
		if !inject.ValidVarName(n) {
			return nil, usagef("--allow-reserved %q: not a variable name", n)
		}
	}
	req := inject.Request{Scope: sc, Only: commaList(s.c.StringSlice("only")), AllowReserved: commaList(s.c.StringSlice("allow-reserved")), MappingFile: ProjectFileName}
	switch {
	case sc == nil:
		if s.project != nil {
			req.Project, req.Mappings = s.project.Project, s.project.Env
		}
	case sc.Kind == repo.Project:
		req.Project = sc.Name
		if s.project != nil && s.project.Project == sc.Name {
			req.Mappings = s.project.Env
		}
	}
	kr, err := s.unlock()
	if err != nil {
		return nil, err
	}
	p, err := inject.Resolve(s.vault, kr, req)
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(s.r.errw(), "warning: %s\n", w)
	}
	return p, nil
}

// logVars records one read per variable, all under one fsync, before any
// value is revealed. If the log cannot be written nothing is revealed.
func (s *session) logVars(op string, vars []inject.Var) error {
	if len(vars) == 0 {
		return nil
	}
	l, err := s.readLog()
	if err != nil {
		return fmt.Errorf("%s refused: cannot open the read log: %w", op, err)
	}
	recs := make([]access.Record, len(vars))
	for i, v := range vars {
		res := access.ResultOK
		if v.Canary {
			res = access.ResultAlert
		}
		recs[i] = access.Record{Client: access.ClientCLI, Op: op, Ref: v.Ref.String(), Field: v.Field, Result: res, Detail: v.Name,
			FP: l.Fingerprint(v.Ref.String(), v.Field, []byte(v.Value))}
	}
	if _, err := l.AppendAll(recs); err != nil {
		return fmt.Errorf("%s refused: cannot write the read log: %w", op, err)
	}
	for _, v := range vars {
		if v.Canary {
			fmt.Fprintf(s.r.errw(), "warning: %s is a canary entry; this read was recorded as an alert\n", v.Ref)
		}
	}
	return nil
}

func (r *runner) cmdExec(c *ucli.Context) error {
	argv := c.Args().Slice()
	if len(argv) == 0 {
		return usagef("usage: tresor exec [--scope S] [--only NAMES] [--no-mask] [--prefer-parent-env] -- CMD [ARGS...]")
	}
	cmd, err := r.prepareExec(c, argv)
	if err != nil {
		return err
	}
	code, err := inject.Run(*cmd)
	if err != nil {
		if se, ok := err.(*inject.StartError); ok {
			return &exitError{code: se.Code, err: fmt.Errorf("exec: %w", se.Err)}
		}
		return fmt.Errorf("exec: %w", err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// prepareExec resolves, checks and logs everything before the child runs,
// and closes the vault: a long-running child holds nothing open.
func (r *runner) prepareExec(c *ucli.Context, argv []string) (*inject.Command, error) {
	s, err := r.open(c)
	if err != nil {
		return nil, err
	}
	defer s.close()
	p, err := s.plan()
	if err != nil {
		return nil, fmt.Errorf("exec: %w (nothing was run)", err)
	}
	parent := r.env.Environ()
	env := inject.BuildEnviron(parent, p.Vars, c.Bool("prefer-parent-env"))
	injected := inject.Injected(parent, p.Vars, c.Bool("prefer-parent-env"))
	path, err := lookPathIn(argv[0], env, r.env.Cwd)
	if err != nil {
		return nil, &exitError{code: 127, err: fmt.Errorf("exec: %w", err)}
	}
	if err := inject.CheckArgSpace(append([]string{path}, argv...), env, injected); err != nil {
		return nil, fmt.Errorf("exec: %w (nothing was run)", err)
	}
	cmd := &inject.Command{Path: path, Args: argv, Env: env, Dir: r.env.Cwd, Stdin: r.env.Stdin, Stdout: r.env.Stdout, Stderr: r.env.Stderr}
	if !c.Bool("no-mask") {
		if cmd.Mask, err = inject.NewMasker(p.Vars); err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		if f, ok := r.env.Stdout.(*os.File); ok && r.env.StdoutTTY {
			cmd.StdoutTerm = f
		}
		if f, ok := r.env.Stderr.(*os.File); ok && r.env.StderrTTY {
			cmd.StderrTerm = f
		}
		for _, n := range cmd.Mask.Skipped() {
			fmt.Fprintf(r.errw(), "warning: %s is not masked in the output: its value is shorter than %d bytes\n", n, inject.MinMaskLen)
		}
	}
	// Masking covers every value resolved; the log records what the child
	// really gets.
	if err := s.logVars("exec", injected); err != nil {
		return nil, err
	}
	return cmd, nil
}

// lookPathIn finds a program on the PATH the child will have.
func lookPathIn(name string, env []string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		return p, nil
	}
	pathVar := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found on PATH", name)
}

// pairs turns variables into the writers' pairs.
func pairs(vars []inject.Var) []inject.Pair {
	out := make([]inject.Pair, len(vars))
	for i, v := range vars {
		out[i] = inject.Pair{Key: v.Name, Value: v.Value}
	}
	return out
}

func writeFormat(format string, vars []inject.Var) ([]byte, error) {
	var b bytes.Buffer
	var err error
	switch format {
	case "shell":
		err = inject.WriteShell(&b, pairs(vars))
	case "dotenv":
		err = inject.WriteDotenv(&b, pairs(vars))
	case "json":
		err = inject.WriteJSON(&b, pairs(vars))
	}
	return b.Bytes(), err
}

func (r *runner) cmdEnv(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--format shell|dotenv|json] [--scope S] [--only NAMES]"); err != nil {
		return err
	}
	format := c.String("format")
	if c.Bool("json") && !c.IsSet("format") {
		format = "json"
	}
	if format != "shell" && format != "dotenv" && format != "json" {
		return usagef("env: --format must be shell, dotenv or json, not %q", format)
	}
	return r.writeVars(c, "env", format, "")
}

func (r *runner) cmdExport(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--format dotenv|json] [-o FILE] [--scope S] [--only NAMES]"); err != nil {
		return err
	}
	format := c.String("format")
	if format != "dotenv" && format != "json" {
		return usagef("export: --format must be dotenv or json, not %q", format)
	}
	return r.writeVars(c, "export", format, c.String("out"))
}

// writeVars prints (or writes to out) the plan's variables in a format.
// Nothing is logged or written when any value cannot be written.
func (r *runner) writeVars(c *ucli.Context, op, format, out string) error {
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	p, err := s.plan()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	data, err := writeFormat(format, p.Vars)
	defer clear(data)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing written)", op, err)
	}
	if op == "export" {
		dest := "stdout"
		if out != "" {
			dest = r.env.abs(out)
		}
		fmt.Fprintf(r.errw(), "warning: exporting %d secret value(s) in plaintext to %s; anyone who can read it has them, delete it when done\n", len(p.Vars), dest)
	}
	if err := s.logVars(op, p.Vars); err != nil {
		return err
	}
	return s.emit(out, data)
}

// emit writes data to stdout, or atomically to a 0600 file. A plaintext
// file is never written inside the vault, where a careless `git add` or a
// sync tool would pick it up.
func (s *session) emit(out string, data []byte) error {
	r := s.r
	if out == "" {
		_, err := r.out().Write(data)
		return err
	}
	p := r.env.abs(out)
	if inside(s.vault.Dir, p) {
		return fmt.Errorf("-o %s: refusing to write plaintext inside the vault %s", p, s.vault.Dir)
	}
	if err := renameio.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("-o %s: %w", p, err)
	}
	// renameio keeps an existing file's mode; a plaintext file is 0600.
	if err := os.Chmod(p, 0o600); err != nil {
		return fmt.Errorf("-o %s: %w", p, err)
	}
	return nil
}

// inside reports whether p is dir or below it, symlinks resolved as far as
// they exist.
func inside(dir, p string) bool {
	real := func(x string) string {
		if r, err := filepath.EvalSymlinks(x); err == nil {
			return r
		}
		if r, err := filepath.EvalSymlinks(filepath.Dir(x)); err == nil {
			return filepath.Join(r, filepath.Base(x))
		}
		return filepath.Clean(x)
	}
	rel, err := filepath.Rel(real(dir), real(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func (r *runner) cmdInject(c *ucli.Context) error {
	const usage = "-i TEMPLATE [-o OUT] [--scope S]"
	if err := args(c, 0, 0, usage); err != nil {
		return err
	}
	in := c.String("in")
	if in == "" {
		return usagef("usage: tresor inject %s (-i names the template, - for stdin)", usage)
	}
	var data []byte
	var err error
	if in == "-" {
		data, err = readLimited(r.env.Stdin, "stdin", inject.MaxTemplate)
	} else {
		f, ferr := os.Open(r.env.abs(in))
		if ferr != nil {
			return fmt.Errorf("inject: %w", ferr)
		}
		data, err = readLimited(f, in, inject.MaxTemplate)
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("inject: %w", err)
	}
	tpl, err := inject.ParseTemplate(data)
	if err != nil {
		return fmt.Errorf("inject %s: %w (nothing written)", in, err)
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	refs := tpl.Refs()
	values := map[inject.TemplateRef]string{}
	var vars []inject.Var
	logged := map[string]bool{}
	if len(refs) > 0 {
		kr, err := s.unlock()
		if err != nil {
			return err
		}
		for _, ref := range refs {
			v, err := inject.LoadRef(s.vault, kr, s.ctx().Project, sc, ref.TemplateRef)
			if err != nil {
				return fmt.Errorf("inject %s: line %d: %s: %w (nothing written)", in, ref.Line, ref.TemplateRef, err)
			}
			values[ref.TemplateRef] = v.Value
			// One record per value revealed, however it is spelled.
			if key := v.Ref.String() + "#" + v.Field; !logged[key] {
				logged[key] = true
				vars = append(vars, v)
			}
		}
	}
	var b bytes.Buffer
	if err := tpl.Render(&b, values); err != nil {
		return fmt.Errorf("inject %s: %w", in, err)
	}
	defer clear(b.Bytes())
	if err := s.logVars("inject", vars); err != nil {
		return err
	}
	return s.emit(c.String("out"), b.Bytes())
}

// readLimited reads all of rd, refusing more than limit bytes.
func readLimited(rd io.Reader, what string, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is over the %d-byte limit", what, limit)
	}
	return b, nil
}
