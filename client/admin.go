package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds everything beyond the read path: credentials, LOGIN and
// the upsmon commands, SET VAR, INSTCMD and status tracking.

// Authenticate sends USERNAME and then PASSWORD, the credentials upsd
// checks against upsd.users when a command needs a right. upsd 2.8 answers
// OK to any password: a wrong one shows later, as ErrAccessDenied on the
// command that needs it (a wrong password and an unknown user look the
// same, on purpose).
func (c *Client) Authenticate(ctx context.Context, username, password string) error {
	if err := c.Username(ctx, username); err != nil {
		return err
	}
	return c.Password(ctx, password)
}

// Primary tells upsd that this client is the primary upsmon of ups
// (PRIMARY), the one that sets FSD and shuts the UPS down last. It needs a
// user with "upsmon primary" and upsd 2.8 or later; see Master for older
// servers.
func (c *Client) Primary(ctx context.Context, ups string) error {
	return c.expectOK(ctx, newRequest("PRIMARY", ups), "PRIMARY-GRANTED")
}

// Master is Primary under its pre-2.8 name (MASTER), which upsd 2.8 still
// accepts and older servers need.
func (c *Client) Master(ctx context.Context, ups string) error {
	return c.expectOK(ctx, newRequest("MASTER", ups), "MASTER-GRANTED")
}

// FSD sets the forced-shutdown flag of ups (FSD): upsd then reports FSD in
// ups.status to every client, and every upsmon watching ups shuts its
// system down. It needs a user with "actions = FSD" or "upsmon primary".
func (c *Client) FSD(ctx context.Context, ups string) error {
	return c.expectOK(ctx, newRequest("FSD", ups), "FSD-SET")
}

// expectOK sends req, whose answer must be "OK <want>".
func (c *Client) expectOK(ctx context.Context, req request, want string) error {
	return c.exchange(ctx, req, func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		if len(words) != 2 || words[0] != "OK" || !strings.EqualFold(words[1], want) {
			return &ProtocolError{Line: line, Reason: "expected OK " + want}
		}
		return nil
	})
}

// SetVar asks upsd to set a writable variable (SET VAR ups name "value").
// upsd checks the request (rights, the variable is RW, the value fits its
// ENUM, RANGE or STRING:n) and answers before the driver has applied
// anything: nil means the driver was asked. Use SetVarTracked to learn
// whether the driver succeeded. It needs a user with "actions = SET".
func (c *Client) SetVar(ctx context.Context, ups, name, value string) error {
	_, err := c.command(ctx, setVarRequest(ups, name, value))
	return err
}

// InstCmd asks upsd to run an instant command on ups (INSTCMD ups cmd
// [param]), e.g. "test.battery.start", or "load.off.delay" with the delay
// in seconds as param. At most one param may be given; an empty one is the
// same as none, as in NUT's upscmd. upsd answers before the driver has run
// the command: nil means the driver was asked. Use InstCmdTracked to learn
// how it went. It needs a user whose instcmds allow cmd.
func (c *Client) InstCmd(ctx context.Context, ups, cmd string, param ...string) error {
	req, err := instCmdRequest(ups, cmd, param)
	if err != nil {
		return err
	}
	_, err = c.command(ctx, req)
	return err
}

// SetVarTracked is SetVar with status tracking: it turns tracking on for
// this connection (SET TRACKING ON) if it is not yet, and returns the id
// upsd gave the request ("OK TRACKING <id>"), for GetTracking and
// WaitTracking. id is "" when upsd accepted the request without an id (a
// server older than NUT 2.8); the driver was asked all the same.
func (c *Client) SetVarTracked(ctx context.Context, ups, name, value string) (id string, err error) {
	return c.tracked(ctx, setVarRequest(ups, name, value))
}

// InstCmdTracked is InstCmd with status tracking, as SetVarTracked.
func (c *Client) InstCmdTracked(ctx context.Context, ups, cmd string, param ...string) (id string, err error) {
	req, err := instCmdRequest(ups, cmd, param)
	if err != nil {
		return "", err
	}
	return c.tracked(ctx, req)
}

func setVarRequest(ups, name, value string) request {
	r := newRequest("SET", "VAR", ups, name, value)
	r.quoteLast = true // as NUT's upsrw sends it
	return r
}

func instCmdRequest(ups, cmd string, param []string) (request, error) {
	switch {
	case len(param) > 1:
		return request{}, fmt.Errorf("%w: INSTCMD %s %s: %d parameters, upsd takes at most one", ErrBadRequest, ups, cmd, len(param))
	case len(param) == 1 && param[0] != "":
		return newRequest("INSTCMD", ups, cmd, param[0]), nil
	}
	return newRequest("INSTCMD", ups, cmd), nil
}

func (c *Client) tracked(ctx context.Context, req request) (string, error) {
	c.mu.Lock()
	on := c.tracking
	c.mu.Unlock()
	if !on {
		if err := c.SetTracking(ctx, true); err != nil {
			return "", err
		}
	}
	words, err := c.command(ctx, req)
	if err != nil {
		return "", err
	}
	if len(words) >= 2 && strings.EqualFold(words[0], "TRACKING") {
		return words[1], nil
	}
	return "", nil
}

// SetTracking turns status tracking on or off for this connection (SET
// TRACKING ON|OFF). While it is on, upsd answers every SET VAR and INSTCMD
// with a tracking id ("OK TRACKING <id>") whose outcome GET TRACKING
// reports. The Tracked methods turn it on by themselves.
func (c *Client) SetTracking(ctx context.Context, on bool) error {
	mode := "OFF"
	if on {
		mode = "ON"
	}
	if _, err := c.command(ctx, newRequest("SET", "TRACKING", mode)); err != nil {
		return err
	}
	c.mu.Lock()
	c.tracking = on
	c.mu.Unlock()
	return nil
}

// TrackingEnabled asks upsd whether status tracking is on for this
// connection (GET TRACKING).
func (c *Client) TrackingEnabled(ctx context.Context) (bool, error) {
	var on bool
	err := c.exchange(ctx, newRequest("GET", "TRACKING"), func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			return e
		}
		switch {
		case len(words) == 1 && strings.EqualFold(words[0], "ON"):
			on = true
		case len(words) == 1 && strings.EqualFold(words[0], "OFF"):
		default:
			return &ProtocolError{Line: line, Reason: "expected ON or OFF"}
		}
		return nil
	})
	return on, err
}

// TrackingError is how a driver reported a tracked SET VAR or INSTCMD that
// it did not carry out: GET TRACKING answered "ERR UNKNOWN" (the driver
// does not handle it, or upsd has no such id, e.g. after TRACKINGDELAY),
// "ERR INVALID-ARGUMENT" or "ERR FAILED". It unwraps to the *Error, so
// errors.Is(err, ErrFailed) works.
type TrackingError struct {
	ID  string // the tracking id
	Err *Error // the result, e.g. ERR FAILED
}

func (e *TrackingError) Error() string {
	return "tracking id " + e.ID + ": the driver reported ERR " + e.Err.Code + trackingText(e.Err.Code)
}

func (e *TrackingError) Unwrap() error { return e.Err }

func trackingText(code string) string {
	switch code {
	case "UNKNOWN":
		return " (not handled, or no such tracking id)"
	case "INVALID-ARGUMENT":
		return " (invalid command or value)"
	case "FAILED":
		return " (the command or setting failed)"
	}
	return ""
}

// GetTracking asks upsd how a tracked request went (GET TRACKING id).
// done is false while the driver has not answered (PENDING). Once done,
// err is nil if the driver reported success, and a *TrackingError if it
// reported a failure. Any other error is about the question, not the
// answer: ErrFeatureNotConfigured when tracking is off on this connection,
// or a connection failure.
func (c *Client) GetTracking(ctx context.Context, id string) (done bool, err error) {
	var result *TrackingError
	err = c.exchange(ctx, newRequest("GET", "TRACKING", id), func() error {
		line, words, err := c.readLine()
		if err != nil {
			return err
		}
		if e := errReply(words); e != nil {
			if e.Code == ErrFeatureNotConfigured.Code {
				return e
			}
			result = &TrackingError{ID: id, Err: e}
			return nil
		}
		switch {
		case len(words) == 1 && strings.EqualFold(words[0], "PENDING"):
		case len(words) == 1 && strings.EqualFold(words[0], "SUCCESS"):
			done = true
		default:
			return &ProtocolError{Line: line, Reason: "expected PENDING, SUCCESS or ERR"}
		}
		return nil
	})
	switch {
	case err != nil:
		return false, err
	case result != nil:
		result.Err.Request, result.Err.Server = "GET TRACKING "+id, c.server
		return true, result
	}
	return done, nil
}

// DefaultTrackingPoll is how often WaitTracking asks, as NUT's upscmd and
// upsrw -w do.
const DefaultTrackingPoll = time.Second

// WaitTracking asks GET TRACKING id every poll (DefaultTrackingPoll when
// poll <= 0), the first time at once, until the driver has answered. It
// returns nil if the driver reported success, a *TrackingError if it
// reported a failure, and the context's error if ctx ends first (bound the
// wait with context.WithTimeout, as upscmd -t does).
func (c *Client) WaitTracking(ctx context.Context, id string, poll time.Duration) error {
	if poll <= 0 {
		poll = DefaultTrackingPoll
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("upsd %s: waiting for tracking id %s: %w", c.server, id, ctx.Err())
		case <-t.C:
		}
		done, err := c.GetTracking(ctx, id)
		var te *TrackingError
		if err != nil && !errors.As(err, &te) {
			// The connection's deadline, set from ctx's, can fire a moment
			// before ctx reports itself done: both mean ctx ended.
			cause := ctx.Err()
			switch {
			case cause != nil:
			case errors.Is(err, context.DeadlineExceeded):
				cause = context.DeadlineExceeded
			case errors.Is(err, context.Canceled):
				cause = context.Canceled
			default:
				return err
			}
			return fmt.Errorf("upsd %s: waiting for tracking id %s: %w", c.server, id, cause)
		}
		if done || err != nil {
			return err
		}
		t.Reset(poll)
	}
}

// Help returns upsd's HELP line, the list of commands it knows.
func (c *Client) Help(ctx context.Context) (string, error) {
	return c.rawLine(ctx, newRequest("HELP"))
}

// ProtVersion returns the protocol version upsd speaks (PROTVER, the newer
// name of NETVER), e.g. "1.3".
func (c *Client) ProtVersion(ctx context.Context) (string, error) {
	return c.rawLine(ctx, newRequest("PROTVER"))
}
