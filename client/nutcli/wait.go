package nutcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gonut/gonut/client"
)

// WaitResult is what NUT's upscmd and upsrw do with -w once upsd has given
// a tracking id: ask for the result every poll (NUT: one second) until the
// driver has answered or waitFor has passed, and print the answer on
// stderr as upsd gave it, "SUCCESS" or the driver's failure ("ERR FAILED").
// A failure reported by the driver is not an error of the tool, as in NUT;
// a timeout or a broken connection is, worded as NUT words it.
func WaitResult(ctx context.Context, c *client.Client, id string, waitFor, poll time.Duration, stderr io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	err := c.WaitTracking(wctx, id, poll)
	var terr *client.TrackingError
	var nerr *client.Error
	switch {
	case err == nil:
		fmt.Fprintln(stderr, "SUCCESS")
		return nil
	case errors.As(err, &terr):
		fmt.Fprintln(stderr, ReplyLine(terr.Err))
		return nil
	case errors.As(err, &nerr):
		// GET TRACKING refused (tracking off): NUT prints the line too.
		fmt.Fprintln(stderr, ReplyLine(nerr))
		return nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return Fatal("Can't receive status tracking information: timeout")
	}
	return Stage(err, "Can't send status tracking request", "Can't receive status tracking information")
}
