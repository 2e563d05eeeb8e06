package access

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkAppend measures one Append: lock, read back the last line,
// write, fsync. The cost must not grow with the length of the log.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("log=%d", size), func(b *testing.B) {
			l := openTest(b)
			if size > 0 {
				if err := os.WriteFile(l.Path(), chain(size), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			fp := l.Fingerprint("projects/mercury/openai", "", []byte(fakeValue))
			r := Record{Client: "claude-code", Op: "http_request", Ref: "projects/mercury/openai", FP: fp, Result: ResultOK, Detail: "api.openai.com"}
			for b.Loop() {
				if _, err := l.Append(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures checking a 10,000-record log.
func BenchmarkVerify(b *testing.B) {
	l := openTest(b)
	data := chain(10_000)
	if err := os.WriteFile(l.Path(), data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if n, err := l.Verify(); err != nil || n != 10_000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkFingerprint measures fingerprinting a 200-byte value.
func BenchmarkFingerprint(b *testing.B) {
	l := openTest(b)
	value := make([]byte, 200)
	for b.Loop() {
		l.Fingerprint("projects/mercury/openai", "", value)
	}
}
