// Command gatehouse is a policy-enforcing gateway for the Model Context Protocol. It only calls into
// the CLI package; see internal/cli.
package main

import (
	"os"

	"github.com/gatehouse-mcp/gatehouse/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
