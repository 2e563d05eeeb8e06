//go:build unix

package codec

import "syscall"

func setUmask(m int) int { return syscall.Umask(m) }
