//go:build !unix

package inject

// ArgLimit is a conservative bound on the environment block a program may
// receive (Windows allows 32,767 characters).
func ArgLimit() int { return 32 << 10 }
