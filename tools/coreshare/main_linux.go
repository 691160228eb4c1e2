// Command coreshare measures whether two CPUs share a cache: how fast one
// reads a buffer that neither has touched since a sweep through a large
// one (from memory), then again (from its own caches), and how fast the
// other CPU reads it next (from a shared cache, or from the first CPU's).
//
//	go run ./tools/coreshare [-cpus 0,1] [-mb 2,4,8,16] [-rounds 5] [-flush 1024]
//
// On this project's VM (two vCPUs of an AMD EPYC) a buffer the other CPU
// has just read comes no faster than from memory: the two share no cache,
// so work that hands data from one core to the other pays for it.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

var sink float32

// touch reads one float of each 64-byte line of a and returns how long
// that took.
func touch(a []float32) time.Duration {
	t := time.Now()
	var s float32
	for i := 0; i < len(a); i += 16 {
		s += a[i]
	}
	sink += s
	return time.Since(t)
}

// filled returns mb megabytes of floats set to v: touched, so mapped.
func filled(mb int, v float32) []float32 {
	a := make([]float32, mb<<18)
	for i := range a {
		a[i] = v
	}
	return a
}

func pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return nil
}

func ints(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("-%s: %q is not a list of non-negative integers", flagName, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// maxMB bounds the buffers the flags ask for.
const maxMB = 4096

func run() error {
	cpusFlag := flag.String("cpus", "0,1", "the two CPUs: the first reads, then the second")
	mbFlag := flag.String("mb", "2,4,8,16", "buffer sizes in MB")
	rounds := flag.Int("rounds", 5, "rounds per size (each figure is over all of them)")
	flushMB := flag.Int("flush", 1024, "MB swept between rounds to empty the caches")
	flag.Parse()
	cpus, err := ints("cpus", *cpusFlag)
	if err != nil {
		return err
	}
	if len(cpus) != 2 {
		return fmt.Errorf("-cpus: want two CPUs, got %q", *cpusFlag)
	}
	sizes, err := ints("mb", *mbFlag)
	if err != nil {
		return err
	}
	for _, mb := range sizes {
		if mb < 1 || mb > maxMB {
			return fmt.Errorf("-mb: %d MB is outside 1-%d", mb, maxMB)
		}
	}
	if *flushMB < 1 || *flushMB > 2*maxMB {
		return fmt.Errorf("-flush: %d MB is outside 1-%d", *flushMB, 2*maxMB)
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds: %d is not positive", *rounds)
	}
	runtime.LockOSThread()
	flush := filled(*flushMB, 1)
	fmt.Printf("CPU %d reads a buffer cold (after a %d MB sweep) and again; then CPU %d reads it (GB/s)\n", cpus[0], *flushMB, cpus[1])
	for _, mb := range sizes {
		a := filled(mb, 2)
		var cold, again, other time.Duration
		for range *rounds {
			// Both CPUs sweep the large buffer: neither holds a.
			for _, c := range []int{cpus[1], cpus[0]} {
				if err := pin(c); err != nil {
					return err
				}
				touch(flush)
			}
			cold += touch(a)
			again += touch(a)
			if err := pin(cpus[1]); err != nil {
				return err
			}
			other += touch(a)
		}
		rate := func(d time.Duration) float64 { return float64(mb<<20) * float64(*rounds) / d.Seconds() / 1e9 }
		fmt.Printf("%4d MB: cold %5.1f   again %5.1f   CPU %d after it %5.1f\n", mb, rate(cold), rate(again), cpus[1], rate(other))
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "coreshare:", err)
		os.Exit(1)
	}
}
