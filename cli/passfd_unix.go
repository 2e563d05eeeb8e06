//go:build unix

package cli

import (
	"errors"
	"syscall"
)

// readLineFD reads up to a newline or EOF from fd, without wrapping it in
// an os.File (whose finalizer would close a descriptor tresor does not own).
func readLineFD(fd, max int) ([]byte, error) {
	var out []byte
	var c [1]byte
	for {
		n, err := syscall.Read(fd, c[:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return out, err
		}
		if n == 0 || c[0] == '\n' {
			break
		}
		if len(out) >= max {
			return out, errors.New("longer than 4096 bytes")
		}
		out = append(out, c[0])
	}
	if len(out) > 0 && out[len(out)-1] == '\r' {
		out = out[:len(out)-1]
	}
	return out, nil
}
