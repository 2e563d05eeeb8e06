// Command tresor is a local, git-backed, age-encrypted credential vault for
// AI tools. See README.md.
package main

import (
	"os"

	"github.com/tresor-dev/tresor/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, cli.System()))
}
