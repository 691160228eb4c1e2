//go:build race

// Package race says whether the race detector is on: tests of allocation
// counts skip under it, since it makes sync.Pool drop values at random.
package race

import "testing"

// Enabled is true in a build with -race.
const Enabled = true

// SkipAllocs skips a test that counts allocations when the race detector
// is on.
func SkipAllocs(t testing.TB) {
	if Enabled {
		t.Skip("the race detector makes sync.Pool drop values")
	}
}
