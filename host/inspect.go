package host

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/gonut/gonut/sdk/plugin"
)

// SumsFile is the optional list of SHA-256 sums beside the drivers, in
// sha256sum's format ("<hex>  <name>" or "<hex> *<name>"). A driver it
// lists is started only if its sum matches; a driver it does not list is
// started unchecked.
const SumsFile = "SHA256SUMS"

// exeInfo is what the host knows about a driver executable.
type exeInfo struct {
	kind Kind
}

// fileID identifies one version of a file: the inode changes when it is
// replaced, ctime whenever it is written or chmodded (and cannot be set
// back by its owner, unlike mtime).
type fileID struct {
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func statID(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano()}, nil
}

// exeCache remembers, per file version, whether an executable is a gonut
// plugin and its SHA-256, so that a restart does not reread the file.
type exeCache struct {
	mu sync.Mutex
	m  map[string]exeEntry
}

type exeEntry struct {
	id   fileID
	kind Kind
	sum  string // hex, "" until needed
}

// pluginMarker is in every gonut plugin binary: the go-plugin handshake
// cookie key is a string constant of sdk/plugin. A NUT driver (C) never
// contains it. Looking for it reads the file but runs nothing, so a
// NUT driver is never started just to be classified.
var pluginMarker = []byte(plugin.Handshake.MagicCookieKey)

// scan reads path once, returning whether it holds the plugin marker and
// its SHA-256.
func scan(path string) (isPlugin bool, sum string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	keep := len(pluginMarker) - 1
	var tail []byte
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if !isPlugin {
				// Look across the chunk boundary too.
				joined := append(tail, buf[:n]...)
				if bytes.Contains(joined, pluginMarker) {
					isPlugin = true
				}
				if len(joined) > keep {
					joined = joined[len(joined)-keep:]
				}
				tail = append(tail[:0], joined...)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, "", fmt.Errorf("reading %s: %w", path, rerr)
		}
	}
	return isPlugin, hex.EncodeToString(h.Sum(nil)), nil
}

// Inspect tells how the host would run the executable at path (a gonut
// plugin or a NUT driver), checking it against SHA256SUMS beside it.
func (h *Host) Inspect(path string) (Kind, error) {
	info, err := h.inspect(path)
	return info.kind, err
}

// inspect classifies the driver executable and checks it against
// SHA256SUMS beside it, if there is one.
func (h *Host) inspect(path string) (exeInfo, error) {
	id, err := statID(path)
	if err != nil {
		return exeInfo{}, err
	}
	h.exes.mu.Lock()
	e, ok := h.exes.m[path]
	h.exes.mu.Unlock()
	if !ok || e.id != id {
		isPlugin, sum, err := scan(path)
		if err != nil {
			return exeInfo{}, err
		}
		e = exeEntry{id: id, kind: KindNUT, sum: sum}
		if isPlugin {
			e.kind = KindPlugin
		}
		h.exes.mu.Lock()
		if h.exes.m == nil {
			h.exes.m = map[string]exeEntry{}
		}
		h.exes.m[path] = e
		h.exes.mu.Unlock()
	}
	if err := verifySum(path, e.sum); err != nil {
		return exeInfo{}, err
	}
	return exeInfo{kind: e.kind}, nil
}

// verifySum checks path's sum against SHA256SUMS in its directory. The
// error names both files, the line and both sums.
func verifySum(path, sum string) error {
	sumsPath := filepath.Join(filepath.Dir(path), SumsFile)
	f, err := os.Open(sumsPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("integrity list %s: %w", sumsPath, err)
	}
	defer f.Close()
	want, line, err := lookupSum(f, filepath.Base(path))
	if err != nil {
		return fmt.Errorf("%s:%d: %w", sumsPath, line, err)
	}
	if want == "" {
		return nil
	}
	if !strings.EqualFold(want, sum) {
		return fmt.Errorf("integrity check failed: %s has SHA-256 %s but %s:%d expects %s; not starting it",
			path, sum, sumsPath, line, want)
	}
	return nil
}

// lookupSum finds name in a sha256sum list; "" when it is not listed.
// Every line must be well formed: a list that is half garbage is not
// trusted for any driver.
func lookupSum(r io.Reader, name string) (sum string, at int, err error) {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		hexSum, file, ok := strings.Cut(l, " ")
		if !ok {
			return "", line, fmt.Errorf("malformed line %q (want \"<sha256>  <file>\")", l)
		}
		file = strings.TrimPrefix(strings.TrimLeft(file, " "), "*")
		if len(hexSum) != 64 {
			return "", line, fmt.Errorf("malformed sum %q for %s (want 64 hex digits)", hexSum, file)
		}
		if _, err := hex.DecodeString(hexSum); err != nil {
			return "", line, fmt.Errorf("malformed sum %q for %s: %v", hexSum, file, err)
		}
		if filepath.Base(file) == name && sum == "" {
			sum, at = hexSum, line
		}
	}
	if err := sc.Err(); err != nil {
		return "", line, err
	}
	return sum, at, nil
}
