//go:build !linux

// Command coreshare measures whether two CPUs share a cache (Linux only:
// it pins itself to each CPU in turn).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "coreshare: pinning to a CPU needs Linux")
	os.Exit(1)
}
