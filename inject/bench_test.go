package inject

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/repo/gitdb"
	"github.com/tresor-dev/tresor/schemas"
)

// benchVault makes a vault of n entries (~200 bytes each, spread over
// global and 50 projects, one in ten with hosts) in one commit.
func benchVault(b *testing.B, n int) (*repo.Vault, *codec.Keyring) {
	b.Helper()
	dir := b.TempDir()
	kr, err := codec.GenerateIdentity(filepath.Join(dir, "identity"))
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	sig := gitdb.Signature{Name: "bench", Email: "bench@example.test", When: now()}
	v, err := repo.Init(filepath.Join(dir, "vault"), repo.InitOptions{Options: repo.Options{Clock: now, Device: "benchbox"}, Recipient: kr.Recipient, Author: sig})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	var puts []repo.Put
	for i := 0; i < n; i++ {
		sc := repo.GlobalScope
		if i%2 == 1 {
			sc = repo.Scope{Kind: repo.Project, Name: fmt.Sprintf("p%02d", i%50)}
		}
		e := schemas.NewEntry("secret")
		e.Set("value", fmt.Sprintf("v-FAKE-%0190d", i))
		if i%10 == 0 {
			e.SetList("hosts", []string{fmt.Sprintf("h%d.example", i)})
		}
		puts = append(puts, repo.Put{Ref: repo.Ref{Scope: sc, Name: fmt.Sprintf("e%05d", i)}, Entry: e})
	}
	pw := schemas.NewEntry("password")
	pw.Set("password", "pw-FAKE")
	pw.Set("username", "alice")
	pw.Set("url", "https://forge.example")
	puts = append(puts, repo.Put{Ref: repo.Ref{Scope: repo.GlobalScope, Name: "forge"}, Entry: pw})
	prepared, err := v.Prepare(puts)
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Commit(context.Background(), prepared, repo.Message{Op: "import", Summary: "bench"}, sig); err != nil {
		b.Fatal(err)
	}
	return v, kr
}

// BenchmarkFindCredential is the work of one `git-credential get` over a
// vault with a warm metadata cache: list, match, decrypt the password
// entries and the one answer.
func BenchmarkFindCredential(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			v, kr := benchVault(b, n)
			req := &CredentialRequest{Protocol: "https", Host: "forge.example"}
			if ans, err := FindCredential(v, kr, req, nil, repo.Context{}); err != nil || ans == nil {
				b.Fatalf("%v %v", ans, err) // also warms the cache
			}
			b.Run("find", func(b *testing.B) {
				for b.Loop() {
					if _, err := FindCredential(v, kr, req, nil, repo.Context{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			// What any listing pays (repo.List + the metadata cache), for
			// comparison: FindCredential adds little on top.
			b.Run("list-only", func(b *testing.B) {
				for b.Loop() {
					items, _ := v.List()
					v.Metadata(items, kr)
				}
			})
		})
	}
}

// BenchmarkReadStorePassage reads, decrypts and converts a passage store
// of 1,000 entries with the age library.
func BenchmarkReadStorePassage(b *testing.B) {
	dir := b.TempDir()
	id, _ := age.GenerateX25519Identity()
	store := filepath.Join(dir, "store")
	for i := 0; i < 1000; i++ {
		writeAge(b, filepath.Join(store, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("entry %d.age", i)), id.Recipient(), fmt.Sprintf("pw-FAKE-%d\nlogin: user%d\nurl: https://site%d.example\n", i, i, i))
	}
	kr, err := codec.ParseIdentity("bench", []byte(id.String()+"\n"))
	if err != nil {
		b.Fatal(err)
	}
	o := StoreOptions{Kind: StorePassage, Dir: store, Age: &AgeKeys{Keyring: kr}, Catalog: schemas.Builtin()}
	for b.Loop() {
		res, err := ReadStore(context.Background(), o)
		if err != nil || len(res.Entries) != 1000 {
			b.Fatal(err)
		}
	}
}
