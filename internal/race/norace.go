//go:build !race

// Package race says whether the race detector is on: tests of allocation
// counts skip under it, since it makes sync.Pool drop values at random.
package race

// Enabled is true in a build with -race.
const Enabled = false
