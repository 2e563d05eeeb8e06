package cli

import (
	"fmt"
	"os/exec"
	"testing"
)

// BenchmarkExecOverhead is P5: `tresor exec -- /bin/true` with 50 injected
// secrets (masking on), in process from argument parsing to the child's
// exit, beside running /bin/true directly. The difference is tresor's
// overhead: open the vault, list and resolve, load the identity, decrypt
// 50 entries, check the environment, log 50 reads (one fsync), start the
// child through the masking pipes.
func BenchmarkExecOverhead(b *testing.B) {
	h := newHome(b)
	h.ok("", "init")
	for i := 0; i < 50; i++ {
		h.ok(fmt.Sprintf("sk-test-FAKE-%040d", i), "set", fmt.Sprintf("KEY_%02d", i))
	}
	h.ok("", "exec", "--", "/bin/true") // warm the metadata cache
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tresor-exec-50", func(b *testing.B) {
		for b.Loop() {
			if r := h.run("", "exec", "--", "/bin/true"); r.code != 0 {
				b.Fatal(r.stderr)
			}
		}
	})
	b.Run("tresor-exec-50-no-mask", func(b *testing.B) {
		for b.Loop() {
			if r := h.run("", "exec", "--no-mask", "--", "/bin/true"); r.code != 0 {
				b.Fatal(r.stderr)
			}
		}
	})
}
