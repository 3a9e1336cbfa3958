package nutcli

import (
	"errors"
	"net"

	"github.com/gonut/gonut/client"
)

// Fatal is a message a NUT client prints on stderr before it exits with
// status 1 (NUT's fatalx).
type Fatal string

func (f Fatal) Error() string { return string(f) }

// Stage words a failed exchange the way NUT's clients do, which call
// upscli_sendline and upscli_readline separately and say which one failed:
// sendMsg when the request could not be written, readMsg otherwise, each
// followed by ": " and NUT's text for the error (client.Strerror).
func Stage(err error, sendMsg, readMsg string) Fatal {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "write" {
		return Fatal(sendMsg + ": " + client.Strerror(err))
	}
	return Fatal(readMsg + ": " + client.Strerror(err))
}

// ReplyLine is the "ERR <code> [<detail>]" line upsd sent for e, as NUT's
// clients print it.
func ReplyLine(e *client.Error) string {
	s := "ERR " + e.Code
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}
