// Package proto checks that the committed protobuf code matches its .proto
// sources: `task proto` regenerates it, and this test fails when someone
// edited a .proto file and forgot to.
package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestGeneratedCodeIsFresh(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("protoc is missing in CI (apt-get install protobuf-compiler)")
		}
		t.Skip("protoc not installed")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "../../scripts/proto.sh")
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/proto.sh: %v\n%s", err, b)
	}
	for _, f := range []string{
		"sdk/internal/pb/driver.pb.go", "sdk/internal/pb/driver_grpc.pb.go",
		"host/control/pb/control.pb.go", "host/control/pb/control_grpc.pb.go",
	} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `task proto` and commit the result", f)
		}
	}
}
