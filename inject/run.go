package inject

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// Command is a program to run with an injected environment.
type Command struct {
	// Path is the resolved program; Args its arguments, Args[0] included.
	Path string
	Args []string
	// Env is the whole environment (see BuildEnviron); Dir the working
	// directory.
	Env []string
	Dir string
	// Streams. With a Masker, Stdout and Stderr go through it; without,
	// *os.File streams (a terminal) are handed to the child as they are.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Mask           *Masker
	// StdoutTerm and StderrTerm are set when Stdout and Stderr are these
	// terminals: with masking, the child then writes to a pseudo-terminal
	// instead of a pipe, so it still sees a terminal and keeps writing
	// line by line.
	StdoutTerm, StderrTerm *os.File
}

// forwarded are the signals passed on to the child.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// Run runs the command to the end and returns its exit status: the child's
// exit code, or 128+N when a signal N ended it (as shells report it).
// SIGINT, SIGTERM and SIGHUP that tresor receives meanwhile are passed to
// the child. An error means the program could not be started.
func Run(c Command) (int, error) {
	cmd := &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr}
	if c.Env == nil {
		cmd.Env = []string{}
	}
	var outs []*MaskWriter
	var ptys []*ptyOut
	if c.Mask != nil && c.Mask.ac != nil {
		o, e := c.Mask.Writer(c.Stdout), c.Mask.Writer(c.Stderr)
		cmd.Stdout, cmd.Stderr = o, e
		outs = append(outs, o, e)
		if c.StdoutTerm != nil {
			if p, err := openPTY(c.StdoutTerm, o); err == nil {
				cmd.Stdout = p.slave
				ptys = append(ptys, p)
			}
		}
		if c.StderrTerm != nil {
			if p, err := openPTY(c.StderrTerm, e); err == nil {
				cmd.Stderr = p.slave
				ptys = append(ptys, p)
			}
		}
	}
	defer func() {
		for _, p := range ptys {
			p.finish(0)
		}
	}()
	// A background process that keeps the output open must not keep us
	// waiting for ever after the child exits.
	cmd.WaitDelay = 2 * time.Second

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	err := cmd.Start()
	for _, p := range ptys {
		p.started()
	}
	if err != nil {
		return 0, startError(c.Args[0], err)
	}
	done := make(chan struct{})
	followSize(ptys, done)
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	for _, p := range ptys {
		p.finish(cmd.WaitDelay)
	}
	for _, o := range outs {
		o.Close()
	}
	st := cmd.ProcessState
	if st == nil {
		return 0, err
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return st.ExitCode(), nil
}

// startError explains why a program did not start, with the exit status a
// shell would use (126 found but not runnable, 127 not found).
func startError(name string, err error) error {
	var pe *os.PathError
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound):
		return &StartError{Code: 127, Err: fmt.Errorf("%s: command not found", name)}
	case errors.Is(err, syscall.E2BIG):
		return &StartError{Code: 126, Err: fmt.Errorf("%s: the environment and arguments are over the system limit (E2BIG)", name)}
	case errors.As(err, &pe):
		return &StartError{Code: 126, Err: fmt.Errorf("%s: cannot run: %v", name, pe.Err)}
	}
	return &StartError{Code: 126, Err: fmt.Errorf("%s: cannot run: %v", name, err)}
}

// StartError is a program that could not be started, with the exit status
// a shell would give.
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }
