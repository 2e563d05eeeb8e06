//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package inject

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

// ptyOut is a pseudo-terminal that stands in for a real one while output
// is masked: the child writes to its slave end and still sees a terminal
// (so it keeps line buffering, colours, its idea of the width); tresor
// reads the master end, masks, and writes to the real terminal.
type ptyOut struct {
	real          *os.File
	master, slave *os.File
	done          chan struct{}
}

// openPTY makes a pseudo-terminal the size of real whose output reaches w.
// Output post-processing is off on it, so bytes arrive as the child wrote
// them and the real terminal does its own newline translation.
func openPTY(real *os.File, w io.Writer) (*ptyOut, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, err
	}
	pty.InheritSize(real, m)
	if _, err := term.MakeRaw(int(s.Fd())); err != nil {
		m.Close()
		s.Close()
		return nil, err
	}
	p := &ptyOut{real: real, master: m, slave: s, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// Reading the master ends with EIO once every slave is closed.
		io.Copy(w, m)
	}()
	return p, nil
}

// started closes tresor's copy of the slave, so the copy ends when the
// child (and whatever it left running) closes theirs.
func (p *ptyOut) started() { p.slave.Close() }

// finish waits for the output to drain, at most wait, and releases the pty.
func (p *ptyOut) finish(wait time.Duration) {
	select {
	case <-p.done:
	case <-time.After(wait):
	}
	p.master.Close()
	<-p.done
}

// followSize keeps the ptys the size of their real terminals until stop
// is closed.
func followSize(ps []*ptyOut, stop <-chan struct{}) {
	if len(ps) == 0 {
		return
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	var once sync.Once
	go func() {
		defer once.Do(func() { signal.Stop(winch) })
		for {
			select {
			case <-winch:
				for _, p := range ps {
					pty.InheritSize(p.real, p.master)
				}
			case <-stop:
				return
			}
		}
	}()
}
