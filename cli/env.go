// Package cli is tresor's command line: urfave/cli v2 commands that parse,
// call the packages below, and render a table or --json. Every command gets
// its streams, environment and clock from an Env, so tests drive it in
// process.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
)

// Env is everything a command may take from the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// StdinTTY and StdoutTTY say whether the streams are terminals.
	StdinTTY, StdoutTTY, StderrTTY bool
	// Getenv reads the environment.
	Getenv func(string) string
	// Environ is the whole environment, for child processes (the editor).
	Environ func() []string
	// Now is the clock.
	Now func() time.Time
	// Cwd is the working directory.
	Cwd string
	// ReadSecret prompts on the terminal without echo.
	ReadSecret func(prompt string) ([]byte, error)
	// Confirm asks a yes/no question on the terminal.
	Confirm func(prompt string) (bool, error)
	// Executable is the path of the running tresor binary ("" if unknown).
	Executable string
}

// System returns the Env of the real process.
func System() *Env {
	cwd, _ := os.Getwd()
	exe, _ := os.Executable()
	e := &Env{
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		StdinTTY:   term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY:  term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY:  term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:     os.Getenv,
		Environ:    os.Environ,
		Now:        time.Now,
		Cwd:        cwd,
		Executable: exe,
	}
	e.ReadSecret = func(prompt string) ([]byte, error) { return readPassword(e, prompt) }
	e.Confirm = func(prompt string) (bool, error) { return confirm(e, prompt) }
	return e
}

// ttyFile opens the controlling terminal for prompts, so a prompt works even
// when stdout is redirected.
func ttyFile() (*os.File, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

// errNoTerminal: a prompt found no terminal to ask on.
var errNoTerminal = errors.New("no terminal to prompt on")

func readPassword(e *Env, prompt string) ([]byte, error) {
	tty, err := ttyFile()
	if err != nil {
		return nil, fmt.Errorf("%w; pipe the value on stdin or use --from-file", errNoTerminal)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(tty, prompt)
	// Restore echo if the prompt is interrupted (golang/go#31180).
	done := make(chan struct{})
	defer close(done)
	go restoreOnSignal(fd, state, done)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	return b, err
}

func confirm(e *Env, prompt string) (bool, error) {
	tty, err := ttyFile()
	if err != nil {
		return false, errors.New("no terminal to confirm on")
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", prompt)
	var buf [64]byte
	n, _ := tty.Read(buf[:])
	ans := strings.ToLower(strings.TrimSpace(string(buf[:n])))
	return ans == "y" || ans == "yes", nil
}

// home returns the user's home directory from the environment.
func (e *Env) home() string {
	if h := e.Getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// xdg returns an XDG base directory.
func (e *Env) xdg(name, fallback string) string {
	if d := e.Getenv(name); d != "" && filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(e.home(), fallback)
}

// DefaultVaultDir is $XDG_DATA_HOME/tresor/vault.
func (e *Env) DefaultVaultDir() string {
	return filepath.Join(e.xdg("XDG_DATA_HOME", ".local/share"), "tresor", "vault")
}

// DefaultIdentity is $XDG_CONFIG_HOME/tresor/identity.
func (e *Env) DefaultIdentity() string {
	return filepath.Join(e.xdg("XDG_CONFIG_HOME", ".config"), "tresor", "identity")
}

// abs resolves a path against the working directory.
func (e *Env) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(e.home(), p[2:])
	}
	return filepath.Join(e.Cwd, p)
}

// lookPath finds an executable on the PATH of this Env.
func (e *Env) lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(e.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on PATH", name)
}
