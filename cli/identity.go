package cli

import (
	"errors"
	"fmt"
	"strconv"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
)

// PassphraseFDEnv names a file descriptor to read the passphrase of a
// passphrase-protected identity from, for unattended use (like gpg's
// --passphrase-fd and age's AGE_PASSPHRASE_FD): the variable holds a number,
// never the passphrase, which would be visible in the environment of every
// child process and in /proc.
const PassphraseFDEnv = "TRESOR_PASSPHRASE_FD"

const noTerminalHint = "there is no terminal to ask for its passphrase: run tresor from a terminal, give the passphrase on a file descriptor named by " + PassphraseFDEnv + ", or use an unencrypted identity for unattended use"

// identity returns this process's keyring for the configured identity file,
// unlocking it once. A passphrase comes from the descriptor named by
// TRESOR_PASSPHRASE_FD, else, when prompt is set, from the terminal
// without echo (even when stdin is a pipe, as age does).
func (r *runner) identity(c *ucli.Context, prompt bool) (*codec.Keyring, error) {
	path := r.identityPath(c)
	if kr := r.keyrings[path]; kr != nil {
		return kr, nil
	}
	o := codec.IdentityOptions{AllowInsecure: r.env.Getenv("TRESOR_ALLOW_INSECURE_IDENTITY") == "1"}
	switch fd := r.env.Getenv(PassphraseFDEnv); {
	case fd != "":
		o.Passphrase = func(string) ([]byte, error) { return readPassphraseFD(fd) }
	case prompt:
		o.Passphrase = func(p string) ([]byte, error) {
			b, err := r.env.ReadSecret(p)
			if errors.Is(err, errNoTerminal) {
				return nil, errors.New(noTerminalHint)
			}
			return b, err
		}
	default:
		o.NoPassphraseHint = "this command never prompts: give the passphrase on a file descriptor named by " + PassphraseFDEnv + ", or use an unencrypted identity"
	}
	kr, err := codec.LoadIdentityWith(path, o)
	if err != nil {
		return nil, err
	}
	if r.keyrings == nil {
		r.keyrings = map[string]*codec.Keyring{}
	}
	r.keyrings[path] = kr
	return kr, nil
}

// maxPassphrase bounds what is read from the passphrase descriptor.
const maxPassphrase = 4096

// readPassphraseFD reads one line from the descriptor named by v, byte by
// byte so nothing after the newline is consumed.
func readPassphraseFD(v string) ([]byte, error) {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("%s=%q is not a file descriptor number", PassphraseFDEnv, v)
	}
	b, err := readLineFD(fd, maxPassphrase)
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("reading the passphrase from %s=%d: %v", PassphraseFDEnv, fd, err)
	}
	return b, nil
}
