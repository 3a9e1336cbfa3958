package client

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// Error is an "ERR <code>" reply from upsd. Compare it with the sentinel
// values below through errors.Is, which matches on Code alone:
//
//	if errors.Is(err, client.ErrDataStale) { ... }
type Error struct {
	Code    string // the word after ERR, e.g. "UNKNOWN-UPS"
	Detail  string // anything upsd sent after the code (NUT 2.8 sends nothing)
	Request string // the request that was refused, passwords masked; empty in sentinels
	Server  string // the address of the upsd that answered; empty in sentinels
}

func (e *Error) Error() string {
	s := ""
	if e.Server != "" {
		s = "upsd " + e.Server + ": "
	}
	if e.Request != "" {
		s += e.Request + ": "
	}
	s += "ERR " + e.Code
	if e.Detail != "" {
		s += " " + e.Detail
	}
	if m, ok := errText[e.Code]; ok {
		s += " (" + m + ")"
	}
	return s
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrUnknownUPS) works on any UNKNOWN-UPS reply.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The error codes of NUT's network protocol (NUT's server/neterr.h). upsd
// 2.8 sends those in the first four groups; the last group is only known
// from older servers, and NUT's upsclient still recognises it.
var (
	ErrAccessDenied         = &Error{Code: "ACCESS-DENIED"}
	ErrUnknownUPS           = &Error{Code: "UNKNOWN-UPS"}
	ErrVarNotSupported      = &Error{Code: "VAR-NOT-SUPPORTED"}
	ErrCmdNotSupported      = &Error{Code: "CMD-NOT-SUPPORTED"}
	ErrInvalidArgument      = &Error{Code: "INVALID-ARGUMENT"}
	ErrInstCmdFailed        = &Error{Code: "INSTCMD-FAILED"}
	ErrSetFailed            = &Error{Code: "SET-FAILED"}
	ErrReadOnly             = &Error{Code: "READONLY"}
	ErrTooLong              = &Error{Code: "TOO-LONG"}
	ErrFeatureNotSupported  = &Error{Code: "FEATURE-NOT-SUPPORTED"}
	ErrFeatureNotConfigured = &Error{Code: "FEATURE-NOT-CONFIGURED"}
	ErrAlreadySSLMode       = &Error{Code: "ALREADY-SSL-MODE"}

	ErrDriverNotConnected = &Error{Code: "DRIVER-NOT-CONNECTED"}
	ErrDataStale          = &Error{Code: "DATA-STALE"}
	ErrAlreadyLoggedIn    = &Error{Code: "ALREADY-LOGGED-IN"}
	ErrInvalidPassword    = &Error{Code: "INVALID-PASSWORD"}
	ErrAlreadySetPassword = &Error{Code: "ALREADY-SET-PASSWORD"}
	ErrInvalidUsername    = &Error{Code: "INVALID-USERNAME"}
	ErrAlreadySetUsername = &Error{Code: "ALREADY-SET-USERNAME"}
	ErrUsernameRequired   = &Error{Code: "USERNAME-REQUIRED"}
	ErrPasswordRequired   = &Error{Code: "PASSWORD-REQUIRED"}
	ErrUnknownCommand     = &Error{Code: "UNKNOWN-COMMAND"}
	ErrInvalidValue       = &Error{Code: "INVALID-VALUE"}

	// GET TRACKING reports a driver's failure with two codes of its own
	// (see TrackingError); ErrInvalidArgument is the third.
	ErrUnknown = &Error{Code: "UNKNOWN"}
	ErrFailed  = &Error{Code: "FAILED"}

	ErrVarUnknown        = &Error{Code: "VAR-UNKNOWN"}
	ErrUnknownType       = &Error{Code: "UNKNOWN-TYPE"}
	ErrUnknownInstCmd    = &Error{Code: "UNKNOWN-INSTCMD"}
	ErrMissingArgument   = &Error{Code: "MISSING-ARGUMENT"}
	ErrPasswordIncorrect = &Error{Code: "PASSWORD-INCORRECT"}
)

// Errors of the connection rather than of one request.
var (
	// ErrProtocol matches every *ProtocolError.
	ErrProtocol = errors.New("protocol error")
	// ErrServerDisconnected: upsd closed the connection before a complete reply.
	ErrServerDisconnected = errors.New("server disconnected")
	// ErrClosed: the Client was closed, by Close or Logout, or because an
	// earlier exchange failed and left the connection out of step; the
	// error also wraps that earlier failure.
	ErrClosed = errors.New("client closed")
	// ErrBadRequest: an argument cannot be sent as one protocol word (it
	// holds a newline or another control byte).
	ErrBadRequest = errors.New("argument cannot be sent to upsd")
)

// ProtocolError is a reply that does not fit the request: a missing or
// mismatched BEGIN/END LIST frame, a line that does not echo the request,
// too few words, a line or list past the configured limits. The connection is
// closed after one, since request and reply are no longer known to be in step.
type ProtocolError struct {
	Server  string // upsd address
	Request string // the request, passwords masked
	Line    string // the offending reply line, cut to 200 bytes
	Reason  string // what was wrong with it
}

func (e *ProtocolError) Error() string {
	s := "upsd " + e.Server + ": " + e.Request + ": protocol error: " + e.Reason
	if e.Line != "" {
		s += " in reply " + quoteLine(e.Line)
	}
	return s
}

// Is makes every *ProtocolError match ErrProtocol.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

// errText holds NUT's upscli_strerror text for each code its upsclient
// library recognises (clients/upsclient.c, upsd_errlist).
var errText = map[string]string{
	"VAR-NOT-SUPPORTED":    "Variable not supported by UPS",
	"UNKNOWN-UPS":          "Unknown UPS",
	"ACCESS-DENIED":        "Access denied",
	"PASSWORD-REQUIRED":    "Password required",
	"PASSWORD-INCORRECT":   "Password incorrect",
	"MISSING-ARGUMENT":     "Missing argument",
	"DATA-STALE":           "Data stale",
	"VAR-UNKNOWN":          "Variable unknown",
	"ALREADY-LOGGED-IN":    "Already logged in",
	"ALREADY-SET-PASSWORD": "Already set password",
	"UNKNOWN-TYPE":         "Unknown variable type",
	"UNKNOWN-VAR":          "Unknown variable",
	"READONLY":             "Read-only variable",
	"TOO-LONG":             "New value is too long",
	"INVALID-VALUE":        "Invalid value for variable",
	"SET-FAILED":           "Set command failed",
	"UNKNOWN-INSTCMD":      "Unknown instant command",
	"INSTCMD-FAILED":       "Instant command failed",
	"CMD-NOT-SUPPORTED":    "Instant command not supported",
	"INVALID-USERNAME":     "Invalid username",
	"ALREADY-SET-USERNAME": "Already set username",
	"UNKNOWN-COMMAND":      "Unknown command",
	"INVALID-PASSWORD":     "Invalid password",
	"USERNAME-REQUIRED":    "Username required",
	"DRIVER-NOT-CONNECTED": "Driver not connected",
}

// Strerror returns the text NUT's upscli_strerror gives for err, so that
// gonut's upsc, upscmd, upsrw and upsmon print NUT's exact messages
// ("Error: Unknown UPS", "Error: Connection failure: Connection refused").
// Codes NUT's library does not know (INVALID-ARGUMENT, FEATURE-NOT-CONFIGURED,
// ...) give "Unknown error", as in NUT. Errors with no NUT counterpart give a
// short description of their own.
func Strerror(err error) string {
	if err == nil {
		return "No error"
	}
	var e *Error
	if errors.As(err, &e) {
		if m, ok := errText[e.Code]; ok {
			return m
		}
		return "Unknown error"
	}
	var ne *NameError
	if errors.As(err, &ne) {
		return "Invalid argument"
	}
	switch {
	case errors.Is(err, ErrProtocol):
		return "Protocol error"
	case errors.Is(err, ErrBadRequest):
		return "Invalid argument"
	case errors.Is(err, ErrServerDisconnected),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded):
		// NUT's client gives up on a silent server after 5 s and
		// reports it as a disconnection.
		return "Server disconnected"
	case errors.Is(err, context.Canceled):
		return "Operation canceled"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "No such host"
		}
		return "Unknown error"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		prefix := ""
		switch op.Op {
		case "dial":
			prefix = "Connection failure: "
		case "read":
			prefix = "Read error: "
		case "write":
			prefix = "Write error: "
		}
		if prefix != "" {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				return prefix + cStrerror(errno)
			}
			if op.Timeout() {
				return prefix + cStrerror(syscall.ETIMEDOUT)
			}
		}
	}
	if errors.Is(err, ErrClosed) {
		return "Server disconnected"
	}
	return "Unknown error"
}

// cStrerror is C's strerror(errno) text. Go's syscall table holds glibc's
// messages with the first letter lowered.
func cStrerror(errno syscall.Errno) string {
	s := errno.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
