package cli

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

//go:embed demo/sample.env
var demoEnv []byte

// demoStep is one command of the tour.
type demoStep struct {
	say   string
	args  []string
	stdin string
	// fails marks a step that is meant to fail, to show an error.
	fails bool
}

// cmdDemo tours a throwaway vault on embedded sample data, printing each
// step, and removes it afterwards. Nothing outside a temp dir is touched:
// the identity, vault, remote and config all live there.
func (r *runner) cmdDemo(c *ucli.Context) error {
	if err := args(c, 0, 0, ""); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tresor-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	w := r.out()
	vars := map[string]string{
		"XDG_CONFIG_HOME":  filepath.Join(tmp, "config"),
		"XDG_DATA_HOME":    filepath.Join(tmp, "data"),
		"TRESOR_DIR":       filepath.Join(tmp, "vault"),
		"TRESOR_IDENTITY":  "",
		"TRESOR_DEVICE":    "demo-laptop",
		"GIT_AUTHOR_NAME":  "Demo User",
		"GIT_AUTHOR_EMAIL": "demo@example.test",
		"XDG_RUNTIME_DIR":  "",
		"HOME":             tmp,
	}
	env := *r.env
	env.Cwd = tmp
	env.StdinTTY, env.StdoutTTY = false, false
	env.Getenv = func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return r.env.Getenv(k)
	}
	if err := os.WriteFile(filepath.Join(tmp, "app.env"), demoEnv, 0o600); err != nil {
		return err
	}
	remote := filepath.Join(tmp, "remote.git")
	fmt.Fprintf(w, "tresor demo: a throwaway vault in %s (removed at the end)\n", tmp)

	run := func(st demoStep) error {
		fmt.Fprintf(w, "\n# %s\n$ ", st.say)
		defer fmt.Fprintln(w)
		if st.stdin != "" {
			fmt.Fprintf(w, "printf %%s %s | ", shellQuote(st.stdin))
		}
		fmt.Fprintf(w, "tresor %s\n", strings.Join(quoteAll(st.args), " "))
		e := env
		e.Stdin = strings.NewReader(st.stdin)
		e.Stdout, e.Stderr = w, w
		code := Main(append([]string{"tresor"}, st.args...), &e)
		if st.fails != (code != 0) {
			return fmt.Errorf("demo step %q exited %d", strings.Join(st.args, " "), code)
		}
		if st.fails {
			fmt.Fprintf(w, "(exit %d, as expected: nothing was written)\n", code)
		}
		return nil
	}
	steps := []demoStep{
		{say: "Create a vault: a git repo of age-encrypted files, plus an identity for this device", args: []string{"init"}},
		{say: "Import a .env file: values byte-exact (note the #, $ and PEM), types guessed, one commit", args: []string{"import", "app.env"}},
		{say: "Values are byte-exact: a # without a space before it and a $ in single quotes are part of the value", args: []string{"get", "DB_PASSWORD"}},
		{args: []string{"get", "PG_PASSWORD"}, say: "(a $ in single quotes is never expanded)"},
		{say: "Bad input is refused with one line naming the entry and the cause, and changes nothing", args: []string{"set", "db/primary", "--type", "database_url"}, stdin: "not a url", fails: true},
		{say: "Add a typed key; the value comes from stdin, never argv", args: []string{"set", "openai", "--type", "api_key", "--field", "description=demo key"}, stdin: "sk-test-FAKE-demo-0000000000000000"},
		{say: "Read it back (the read is logged)", args: []string{"get", "openai"}},
		{say: "Show the whole entry, secrets masked", args: []string{"show", "openai"}},
		{say: "List entries: names, types, last rotated; never values", args: []string{"ls"}},
		{say: "Rotate the key: recorded as a rotation in git history", args: []string{"rotate", "openai"}, stdin: "sk-test-FAKE-demo-rotated-11111111"},
		{say: "History of one entry, from plain git commits and trailers", args: []string{"log", "openai"}},
		{say: "Every read is in a hash-chained log", args: []string{"access", "log"}},
	}
	for _, st := range steps {
		if err := run(st); err != nil {
			return err
		}
	}
	vault := vars["TRESOR_DIR"]
	// The redacted diff through git's textconv, with the real git binary.
	fmt.Fprintf(w, "\n# git itself shows redacted diffs through `tresor textconv`\n$ git log -p -1 -- global/openai.age\n")
	if err := r.demoGitDiff(w, vault, vars); err != nil {
		fmt.Fprintf(w, "(skipped: %v)\n", err)
	}
	if err := initBare(remote); err != nil {
		return err
	}
	more := []demoStep{
		{say: "Sharing is always explicit: add a remote (a local bare repo here) and push", args: []string{"remote", "add", "origin", remote}},
		{args: []string{"push"}, say: "push: the only command that sends anything anywhere"},
		{say: "Check everything: identity, recipients, repository, every entry, the read log", args: []string{"doctor"}},
	}
	for _, st := range more {
		if err := run(st); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nDone. Start for real with `tresor init`, then `tresor import .env` or `tresor set NAME`.\n")
	return nil
}

func quoteAll(a []string) []string {
	out := make([]string, len(a))
	for i, s := range a {
		out[i] = shellQuote(s)
	}
	return out
}

// demoGitDiff runs the real git with textconv pointed at this binary.
func (r *runner) demoGitDiff(w io.Writer, vault string, vars map[string]string) error {
	exe := r.env.Executable
	if exe == "" {
		return fmt.Errorf("cannot find the tresor executable")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("git is not installed")
	}
	cmd := exec.Command(git, "-c", "diff.tresor.textconv="+shellQuote(exe)+" textconv", "-c", "core.pager=cat",
		"log", "-p", "-1", "--format=commit %h%n%n    %s%n", "--", "global/openai.age")
	cmd.Dir = vault
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+vars["XDG_CONFIG_HOME"], "TRESOR_DIR="+vault, "GIT_PAGER=cat")
	cmd.Stdout, cmd.Stderr = w, w
	return cmd.Run()
}

// initBare makes an empty bare repository with the git CLI.
func initBare(dir string) error {
	out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("git init --bare: %v: %s", err, oneLine(string(out)))
	}
	return nil
}
