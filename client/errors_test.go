package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/gonut/gonut/client"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestStrerror(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("upsd x: GET VAR u v: %w", err) }
	tests := []struct {
		err  error
		want string
	}{
		{&client.Error{Code: "UNKNOWN-UPS"}, "Unknown UPS"},
		{wrap(&client.Error{Code: "DATA-STALE"}), "Data stale"},
		{wrap(&client.Error{Code: "DRIVER-NOT-CONNECTED"}), "Driver not connected"},
		{wrap(&client.Error{Code: "VAR-NOT-SUPPORTED"}), "Variable not supported by UPS"},
		{wrap(&client.Error{Code: "READONLY"}), "Read-only variable"},
		// NUT 2.8.0's upsc prints "Error: Unknown error" for codes its
		// library has no text for (checked against a scripted server).
		{wrap(&client.Error{Code: "INVALID-ARGUMENT"}), "Unknown error"},
		{wrap(&client.Error{Code: "FEATURE-NOT-CONFIGURED"}), "Unknown error"},
		{wrap(&client.Error{Code: "NO-SUCH-CODE"}), "Unknown error"},
		{&client.ProtocolError{Reason: "x"}, "Protocol error"},
		{fmt.Errorf("%w after: %w", client.ErrClosed, &client.ProtocolError{}), "Protocol error"},
		{wrap(client.ErrServerDisconnected), "Server disconnected"},
		{wrap(os.ErrDeadlineExceeded), "Server disconnected"},
		{wrap(context.DeadlineExceeded), "Server disconnected"},
		{wrap(client.ErrClosed), "Server disconnected"},
		{wrap(client.ErrBadRequest), "Invalid argument"},
		{&client.NameError{}, "Invalid argument"},
		{wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}), "No such host"},
		{wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "server misbehaving", Name: "x"}}), "Unknown error"},
		{wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), "Connection failure: Connection refused"},
		{wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}), "Connection failure: No route to host"},
		{wrap(&net.OpError{Op: "dial", Err: timeoutErr{}}), "Connection failure: Connection timed out"},
		{wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), "Read error: Connection reset by peer"},
		{wrap(&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}), "Write error: Broken pipe"},
		{errors.New("something else"), "Unknown error"},
		{nil, "No error"},
	}
	for _, tc := range tests {
		if got := client.Strerror(tc.err); got != tc.want {
			t.Errorf("Strerror(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &client.Error{Code: "UNKNOWN-UPS", Request: "GET VAR u x", Server: "h:3493"}
	if got, want := e.Error(), "upsd h:3493: GET VAR u x: ERR UNKNOWN-UPS (Unknown UPS)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := client.ErrInvalidArgument.Error(), "ERR INVALID-ARGUMENT"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
