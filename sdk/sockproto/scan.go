package sockproto

import "github.com/gonut/gonut/sdk/nutconf"

// newScanner returns a line splitter with the limits NUT's parseconf applies
// on state sockets.
func newScanner() *nutconf.Scanner {
	return &nutconf.Scanner{MaxWordLen: MaxWordLen, MaxWords: MaxWords}
}
