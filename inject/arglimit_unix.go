//go:build unix

package inject

import "syscall"

// ArgLimit is how many bytes of arguments and environment (strings with
// their NULs, plus one pointer each) execve accepts. Linux allows a quarter
// of the stack size limit, at most 6 MiB and at least 128 KiB
// (fs/exec.c); other systems have an ARG_MAX of at least 256 KiB.
func ArgLimit() int {
	const floor, ceiling = 128 << 10, 6 << 20
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err != nil || rl.Cur == ^uint64(0) || rl.Cur/4 > ceiling {
		return ceiling
	}
	return max(int(rl.Cur/4), floor)
}
