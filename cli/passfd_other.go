//go:build !unix

package cli

import "errors"

func readLineFD(fd, max int) ([]byte, error) {
	return nil, errors.New("reading a passphrase from a file descriptor is not supported on this system")
}
