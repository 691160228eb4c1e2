package weights

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/resnet-go/resnet/nn"
)

// bigModel has about 64 MB of weights, so that writing it takes long enough
// to be killed in the middle.
func bigModel(t testing.TB) *nn.Model {
	x := nn.Input(nn.Shape{4096})
	y := nn.Dense(x, 4096, nn.Name("a"))
	m, err := nn.NewModel("big", []*nn.Tensor{x}, []*nn.Tensor{y})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHelperWriteForever is run as a child by TestKilledWriteKeepsCheckpoint.
func TestHelperWriteForever(t *testing.T) {
	path := os.Getenv("RESNET_KILL_TEST")
	if path == "" {
		t.Skip("helper for TestKilledWriteKeepsCheckpoint")
	}
	m := bigModel(t)
	for {
		Save(path, m, nil)
	}
}

// A process killed while it writes a checkpoint leaves the previous one
// loadable.
func TestKilledWriteKeepsCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("writes several large files")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := Save(path, bigModel(t), nil); err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{150 * time.Millisecond, 400 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriteForever$")
		cmd.Env = append(os.Environ(), "RESNET_KILL_TEST="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if _, _, err := Load(path); err != nil {
			t.Fatalf("after a kill at %v the checkpoint does not load: %v", delay, err)
		}
	}
}
