package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonut/gonut/sdk"
)

// DefaultDriverPath is where drivers are looked up when ups.conf has no
// driverpath: the directory of the running host binary, so that
// `task build` output in ./bin works as it is.
func DefaultDriverPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

// FindDriver returns the executable for driver in the driverpath dirs.
// The error names every path it tried.
func FindDriver(driver string, dirs []string) (string, error) {
	if driver == "" {
		return "", errors.New("no driver named")
	}
	if strings.ContainsRune(driver, '/') {
		return "", fmt.Errorf("driver %q: a driver is a name, not a path (set driverpath in ups.conf)", driver)
	}
	var tried []string
	for _, d := range dirs {
		p := filepath.Join(d, driver)
		tried = append(tried, p)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			continue
		}
		if st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("driver %q: %s is not executable (mode %v)", driver, p, st.Mode().Perm())
		}
		return p, nil
	}
	return "", fmt.Errorf("driver %q not found; searched %s: %w", driver, strings.Join(tried, ", "), fs.ErrNotExist)
}

// Describe runs `<path> describe` and parses its metadata. An executable
// that is not a gonut plugin fails here.
func Describe(ctx context.Context, path string) (*sdk.Describe, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "describe").Output()
	if err != nil {
		return nil, fmt.Errorf("%s describe: %w (is it a gonut driver plugin?)", path, err)
	}
	var d sdk.Describe
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("%s describe: not gonut driver metadata: %w", path, err)
	}
	if d.Name == "" {
		return nil, fmt.Errorf("%s describe: metadata names no driver", path)
	}
	return &d, nil
}
